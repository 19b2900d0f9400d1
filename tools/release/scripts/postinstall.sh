#!/bin/sh
# prexmon package: the data directory, then systemd. A first install of the
# exporter enables and starts it; the archiver waits for its configuration
# (systemctl enable --now prexmon-archiver). An upgrade restarts the unit
# if it was running.
set -e
install -d -o prexmon -g prexmon -m 0700 /var/lib/prexmon
first=no
case "$1" in
configure) [ -n "${2:-}" ] || first=yes ;; # deb: configure <previous version>
1) first=yes ;;                              # rpm: 1 = install, 2 = upgrade
esac
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	if [ "$first" = yes ]; then
		if [ "@START@" = yes ]; then
			systemctl enable --now @UNIT@ || true
		fi
	else
		systemctl try-restart @UNIT@ || true
	fi
fi
