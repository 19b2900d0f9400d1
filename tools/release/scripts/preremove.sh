#!/bin/sh
# prexmon package: stop and disable the unit when the package is removed,
# not when it is upgraded (deb: remove, rpm: 0).
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now @UNIT@ || true
	fi
	;;
esac
