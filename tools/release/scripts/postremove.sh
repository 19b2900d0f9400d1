#!/bin/sh
# prexmon package: forget the removed unit. /var/lib/prexmon (archived
# snapshots), /etc/prexmon (configs unless purged) and the user stay.
set -e
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
fi
