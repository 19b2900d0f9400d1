#!/bin/sh
# prexmon package: create the prexmon system user (no login, no home
# directory of its own) before the files are unpacked. Kept on removal, as
# Debian and Fedora keep system users, so that files it owns stay owned.
set -e
if ! getent group prexmon >/dev/null; then
	groupadd --system prexmon
fi
if ! getent passwd prexmon >/dev/null; then
	useradd --system --gid prexmon --home-dir /var/lib/prexmon --no-create-home \
		--shell /usr/sbin/nologin --comment "prexmon monitoring" prexmon
fi
