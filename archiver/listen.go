package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/mdlayher/vsock"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/netutil"
)

// listen opens what --web.listen-address (or --web.systemd-socket) names,
// as exporter-toolkit's ListenAndServe would, and caps each listener at
// maxConns open connections, as Prometheus does: past the cap, new
// connections wait in the kernel's accept queue and cost the archiver no
// descriptor, so a flood of them cannot starve scrapes and day files.
func listen(flags *web.FlagConfig, maxConns int, logger *slog.Logger) ([]net.Listener, error) {
	var ls []net.Listener
	if flags.WebSystemdSocket != nil && *flags.WebSystemdSocket {
		logger.Info("Listening on systemd activated listeners instead of port listeners.")
		var err error
		if ls, err = activation.Listeners(); err != nil {
			return nil, fmt.Errorf("systemd socket activation: %w", err)
		}
		if len(ls) == 0 {
			return nil, errors.New("no socket activation file descriptors found")
		}
	} else {
		for _, addr := range *flags.WebListenAddresses {
			var l net.Listener
			var err error
			if strings.HasPrefix(addr, "vsock://") {
				l, err = listenVsock(addr)
			} else {
				l, err = net.Listen("tcp", addr)
			}
			if err != nil {
				closeAll(ls)
				return nil, fmt.Errorf("listen on %s: %w", addr, err)
			}
			ls = append(ls, l)
		}
	}
	for i, l := range ls {
		ls[i] = netutil.LimitListener(l, maxConns)
	}
	return ls, nil
}

func listenVsock(addr string) (net.Listener, error) {
	_, port, err := net.SplitHostPort(strings.TrimPrefix(addr, "vsock://"))
	if err != nil {
		return nil, err
	}
	var p uint32
	if _, err := fmt.Sscan(port, &p); err != nil {
		return nil, fmt.Errorf("bad vsock port %q", port)
	}
	return vsock.Listen(p, nil)
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// connectionLimit is the per-listener connection cap that leaves
// descriptors for the day files held open and for everything else (a
// kept-alive scrape connection per agent, queries, the process's own): at
// most what the open-file limit has left after the day files and a third
// of it, shared between the listeners. It returns the cap and whether
// maxConns had to be lowered to it. An unknown limit changes nothing.
func connectionLimit(fdLimit uint64, maxConns, maxOpenFiles, listeners int) (int, bool) {
	if fdLimit == 0 || listeners < 1 {
		return maxConns, false
	}
	spare := int64(fdLimit) - int64(maxOpenFiles) - int64(max(fdLimit/3, 64))
	share := int(max(spare/int64(listeners), 16))
	if maxConns > share {
		return share, true
	}
	return maxConns, false
}
