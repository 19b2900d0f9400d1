package agent

import (
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// Options configures a Fleet.
type Options struct {
	Addrs []netip.Addr
	Port  int
	// Variants is how many distinct machines the fleet imitates; agent i
	// serves machine i%Variants. Each costs one encode and gzip per Refresh.
	Variants int
	// Refresh is how often bodies are regenerated, so collected_at and the
	// counters move like a live agent's (default 5s).
	Refresh time.Duration
	// GzipLevel is the compression level of the cached gzip bodies
	// (default gzip.BestSpeed, about 4x on these bodies).
	GzipLevel int
	// Encodings are the content codings the agents offer, in order of
	// preference, as snapshot.NegotiateEncoding takes them: nil means zstd
	// then gzip, like the real exporter; {"gzip"} imitates older agents.
	Encodings []string
	// Identity ignores Accept-Encoding and always sends plain JSON, to
	// measure what a scraper saves when it does not have to decode.
	Identity bool
	// Record keeps the arrival time of every /snapshot request per agent for
	// schedule analysis; leave it off for long-running fleets.
	Record bool
	Logger *slog.Logger
}

// Stats counts what the fleet served.
type Stats struct {
	Snapshots      int64 // /snapshot responses with a body
	GzipSnapshots  int64 // of which gzip-encoded
	ZstdSnapshots  int64 // of which zstd-encoded
	PlainSnapshots int64 // of which plain JSON (the three are read one by one, so they may differ from Snapshots by the requests in flight)
	BodyBytes      int64 // body bytes written for /snapshot
	Connections    int64 // accepted connections
}

// Fleet serves one fake agent per address from a single process: one
// listener per address, one shared HTTP server, pre-encoded bodies.
type Fleet struct {
	opts      Options
	srv       *http.Server
	listeners []net.Listener
	index     map[netip.Addr]int
	bodies    atomic.Pointer[[]Body]
	agents    []agentState
	stats     struct{ snapshots, gzip, zstd, plain, bytes, conns atomic.Int64 }
	stop      chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

type agentState struct {
	mu       sync.Mutex
	arrivals []int64 // unix nanoseconds
}

type agentKey struct{}

// Start listens on every address and serves until Close. It fails whole:
// if one address cannot be bound, nothing is left listening.
func Start(opts Options) (*Fleet, error) {
	if len(opts.Addrs) == 0 {
		return nil, errors.New("fleet has no addresses")
	}
	if opts.Port <= 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("port %d out of range", opts.Port)
	}
	if opts.Variants <= 0 {
		opts.Variants = 16
	}
	if opts.Refresh <= 0 {
		opts.Refresh = 5 * time.Second
	}
	if opts.GzipLevel == 0 {
		opts.GzipLevel = gzip.BestSpeed
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{
		opts:   opts,
		index:  make(map[netip.Addr]int, len(opts.Addrs)),
		agents: make([]agentState, len(opts.Addrs)),
		stop:   make(chan struct{}),
	}
	if err := f.refresh(time.Now()); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /snapshot", f.serveSnapshot)
	mux.HandleFunc("GET /metrics", f.serveMetrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("prexmon fake agent: /snapshot /metrics /healthz\n"))
	})
	f.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			f.stats.conns.Add(1)
			if ap, err := netip.ParseAddrPort(c.LocalAddr().String()); err == nil {
				if i, ok := f.index[ap.Addr().Unmap()]; ok {
					return context.WithValue(ctx, agentKey{}, i)
				}
			}
			return ctx
		},
	}
	for i, a := range opts.Addrs {
		f.index[a] = i
		l, err := net.Listen("tcp", netip.AddrPortFrom(a, uint16(opts.Port)).String())
		if err != nil {
			for _, l := range f.listeners {
				_ = l.Close()
			}
			return nil, fmt.Errorf("listen on agent %d of %d: %w", i+1, len(opts.Addrs), err)
		}
		f.listeners = append(f.listeners, l)
	}
	for _, l := range f.listeners {
		f.wg.Go(func() { _ = f.srv.Serve(l) })
	}
	f.wg.Go(f.refreshLoop)
	return f, nil
}

// Targets lists the agents as "host:port", in address order.
func (f *Fleet) Targets() []string {
	out := make([]string, len(f.opts.Addrs))
	for i, a := range f.opts.Addrs {
		out[i] = netip.AddrPortFrom(a, uint16(f.opts.Port)).String()
	}
	return out
}

// Stats returns the counters so far.
func (f *Fleet) Stats() Stats {
	return Stats{
		Snapshots: f.stats.snapshots.Load(), GzipSnapshots: f.stats.gzip.Load(), ZstdSnapshots: f.stats.zstd.Load(), PlainSnapshots: f.stats.plain.Load(),
		BodyBytes: f.stats.bytes.Load(), Connections: f.stats.conns.Load(),
	}
}

// Arrivals returns the recorded /snapshot request times of agent i
// (Options.Record), oldest first.
func (f *Fleet) Arrivals(i int) []time.Time {
	a := &f.agents[i]
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]time.Time, len(a.arrivals))
	for j, ns := range a.arrivals {
		out[j] = time.Unix(0, ns)
	}
	return out
}

// Bodies returns the bodies currently served, one per variant.
func (f *Fleet) Bodies() []Body { return *f.bodies.Load() }

// Close stops listening and closes every connection at once. Calling it
// again returns the first result.
func (f *Fleet) Close() error {
	f.closeOnce.Do(func() {
		close(f.stop)
		f.closeErr = f.srv.Close()
		f.wg.Wait()
	})
	return f.closeErr
}

func (f *Fleet) refreshLoop() {
	t := time.NewTicker(f.opts.Refresh)
	defer t.Stop()
	for {
		select {
		case <-f.stop:
			return
		case now := <-t.C:
			if err := f.refresh(now); err != nil {
				f.opts.Logger.Error("refresh snapshots", "err", err)
			}
		}
	}
}

func (f *Fleet) refresh(now time.Time) error {
	bodies := make([]Body, f.opts.Variants)
	for v := range bodies {
		b, err := Encode(uint64(v), now, f.opts.GzipLevel)
		if err != nil {
			return err
		}
		bodies[v] = b
	}
	f.bodies.Store(&bodies)
	return nil
}

// ParseEncodings reads a comma-separated list of offered codings (zstd,
// gzip), the form of the tools' --encodings flags.
func ParseEncodings(list string) ([]string, error) {
	var out []string
	for c := range strings.SplitSeq(list, ",") {
		switch c = strings.ToLower(strings.TrimSpace(c)); c {
		case snapshot.Zstd, snapshot.Gzip:
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		case "":
		default:
			return nil, fmt.Errorf("unknown coding %q (want zstd or gzip)", c)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no coding offered (use --identity for plain JSON)")
	}
	return out, nil
}

func (f *Fleet) serveSnapshot(w http.ResponseWriter, r *http.Request) {
	i, _ := r.Context().Value(agentKey{}).(int)
	if f.opts.Record {
		a := &f.agents[i]
		a.mu.Lock()
		a.arrivals = append(a.arrivals, time.Now().UnixNano())
		a.mu.Unlock()
	}
	bodies := *f.bodies.Load()
	b := bodies[i%len(bodies)]
	body := b.JSON
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	h["Vary"] = []string{"Accept-Encoding"}
	coding := snapshot.Identity
	if !f.opts.Identity {
		coding = snapshot.NegotiateEncoding(strings.Join(r.Header.Values("Accept-Encoding"), ","), f.opts.Encodings...)
	}
	if coding != snapshot.Identity {
		body = b.Encoded(coding)
		h["Content-Encoding"] = []string{coding}
	}
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	n, _ := w.Write(body)
	f.stats.bytes.Add(int64(n))
	f.stats.snapshots.Add(1)
	switch coding {
	case snapshot.Zstd:
		f.stats.zstd.Add(1)
	case snapshot.Gzip:
		f.stats.gzip.Add(1)
	default:
		f.stats.plain.Add(1)
	}
}

func (f *Fleet) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_, _ = fmt.Fprintf(w, "# HELP host_exporter_build_info A metric with a constant '1' value labeled by version of the fake agent.\n"+
		"# TYPE host_exporter_build_info gauge\nhost_exporter_build_info{version=\"fake\"} 1\n"+
		"# HELP host_fake_snapshots_served_total Snapshots served by the whole fake fleet.\n"+
		"# TYPE host_fake_snapshots_served_total counter\nhost_fake_snapshots_served_total %d\n", f.stats.snapshots.Load())
}
