// Command fakeagent imitates thousands of prexmon exporters from one process
// for archiver load tests: one listener per loopback address, each serving a
// realistic ~100 KB snapshot (pre-encoded, gzip when asked).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/prexmon/prexmon/tools/fakeagent/agent"
)

func main() {
	app := kingpin.New("fakeagent", "Serve fake prexmon agents on many loopback addresses (load testing only).")
	addresses := app.Flag("addresses", `Agent addresses: comma-separated loopback addresses and inclusive ranges, e.g. "127.0.0.2-127.0.19.137". Overrides --count/--first.`).String()
	count := app.Flag("count", "Number of agents on consecutive addresses from --first.").Default("5000").Int()
	first := app.Flag("first", "First agent address.").Default("127.0.0.2").String()
	port := app.Flag("port", "Port every agent listens on.").Default("9110").Int()
	variants := app.Flag("variants", "Distinct machines imitated (agent i serves machine i mod variants).").Default("16").Int()
	refresh := app.Flag("refresh", "How often snapshots are regenerated (collected_at moves).").Default("5s").Duration()
	level := app.Flag("gzip-level", "gzip level of the cached bodies (1 = BestSpeed, about 4x; 6 = default, about 5x).").Default("1").Int()
	identity := app.Flag("identity", "Always send plain JSON, even when compression is asked for.").Bool()
	encodings := app.Flag("encodings", "Content codings offered, in order of preference: zstd,gzip like the real exporter, or gzip like older agents.").Default("zstd,gzip").String()
	duration := app.Flag("duration", "Stop after this long (0 = until SIGINT/SIGTERM).").Default("0").Duration()
	kingpin.MustParse(app.Parse(os.Args[1:]))
	offered, err := agent.ParseEncodings(*encodings)
	if err != nil {
		app.Fatalf("--encodings: %v", err)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	opts := agent.Options{Port: *port, Variants: *variants, Refresh: *refresh, GzipLevel: *level, Identity: *identity, Encodings: offered, Logger: logger}
	if err := run(logger, opts, *addresses, *first, *count, *duration); err != nil {
		logger.Error("fakeagent failed", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger, opts agent.Options, addresses, first string, count int, duration time.Duration) error {
	var addrs []netip.Addr
	var err error
	if addresses != "" {
		addrs, err = agent.ParseAddresses(addresses)
	} else {
		addrs, err = agent.Consecutive(first, count)
	}
	if err != nil {
		return err
	}
	opts.Addrs = addrs
	f, err := agent.Start(opts)
	if err != nil {
		return err
	}
	b := f.Bodies()[0]
	logger.Info("serving fake agents", "agents", len(addrs), "first", f.Targets()[0], "last", f.Targets()[len(addrs)-1],
		"snapshot_bytes", len(b.JSON), "gzip_bytes", len(b.Gzip), "gzip_ratio", fmt.Sprintf("%.2f", b.Ratio()),
		"zstd_bytes", len(b.Zstd), "zstd_ratio", fmt.Sprintf("%.2f", b.ZstdRatio()), "encodings", strings.Join(opts.Encodings, ","))

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if duration > 0 {
		ctx, cancel = context.WithTimeout(ctx, duration)
		defer cancel()
	}
	<-ctx.Done()
	s := f.Stats()
	logger.Info("stopping", "snapshots_served", s.Snapshots, "zstd", s.ZstdSnapshots, "gzip", s.GzipSnapshots, "body_bytes", s.BodyBytes, "connections", s.Connections)
	return f.Close()
}
