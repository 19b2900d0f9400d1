package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/prexmon/prexmon/exporter/collector"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// defaultScrapeTimeout applies when the scraper does not say how long it
// waits; the header is clamped to [minScrapeTimeout, maxScrapeTimeout] so a
// client cannot set a shared collection's deadline to nothing or forever.
const (
	defaultScrapeTimeout = 10 * time.Second
	minScrapeTimeout     = time.Second
	maxScrapeTimeout     = 5 * time.Minute
)

type handlers struct {
	set     *collector.Set
	base    prometheus.Gatherer
	version string
	slack   time.Duration
	logger  *slog.Logger
	bufs    sync.Pool // *bytes.Buffer: the snapshot, plain and compressed
}

func newHandlers(set *collector.Set, base prometheus.Gatherer, version string, slack time.Duration, logger *slog.Logger) *handlers {
	return &handlers{set: set, base: base, version: version, slack: slack, logger: logger,
		bufs: sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

func (h *handlers) mux(telemetryPath string) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+telemetryPath, h.metrics)
	mux.HandleFunc("GET /snapshot", h.snapshot)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	if telemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "prexmon exporter",
			Description: "Host metrics for Prometheus and JSON snapshots for the prexmon archiver.",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: telemetryPath, Text: "Metrics"},
				{Address: "/snapshot", Text: "Snapshot (JSON)"},
				{Address: "/healthz", Text: "Health"},
			},
		})
		if err != nil {
			return nil, fmt.Errorf("landing page: %w", err)
		}
		mux.Handle("/", landing)
	}
	return mux, nil
}

// scrapeContext bounds a collection by the scraper's own timeout, minus a
// margin, so a slow collector is reported failed before the scrape is lost.
func (h *handlers) scrapeContext(r *http.Request) (context.Context, context.CancelFunc) {
	timeout := defaultScrapeTimeout
	if v := r.Header.Get("X-Prometheus-Scrape-Timeout-Seconds"); v != "" {
		if secs, err := strconv.ParseFloat(v, 64); err == nil && secs > 0 && !math.IsInf(secs, 0) {
			secs = min(max(secs, minScrapeTimeout.Seconds()), maxScrapeTimeout.Seconds())
			timeout = time.Duration(secs * float64(time.Second))
			if timeout > 2*h.slack {
				timeout -= h.slack
			}
		}
	}
	return context.WithTimeout(r.Context(), timeout)
}

func (h *handlers) collect(w http.ResponseWriter, r *http.Request) *collector.Collection {
	ctx, cancel := h.scrapeContext(r)
	defer cancel()
	coll, err := h.set.Collect(ctx)
	if err != nil {
		http.Error(w, "collection failed: "+err.Error(), http.StatusServiceUnavailable)
		return nil
	}
	return coll
}

func (h *handlers) metrics(w http.ResponseWriter, r *http.Request) {
	coll := h.collect(w, r)
	if coll == nil {
		return
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(coll); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	promhttp.HandlerFor(prometheus.Gatherers{h.base, reg}, promhttp.HandlerOpts{
		ErrorLog:      slog.NewLogLogger(h.logger.Handler(), slog.LevelError),
		ErrorHandling: promhttp.ContinueOnError,
	}).ServeHTTP(w, r)
}

func (h *handlers) snapshot(w http.ResponseWriter, r *http.Request) {
	coll := h.collect(w, r)
	if coll == nil {
		return
	}
	plain := h.bufs.Get().(*bytes.Buffer)
	defer h.putBuffer(plain)
	if err := json.NewEncoder(plain).Encode(coll.Snapshot(h.version)); err != nil {
		http.Error(w, "encode snapshot: "+err.Error(), http.StatusInternalServerError)
		return
	}
	body := plain.Bytes()
	coding := snapshot.NegotiateEncoding(strings.Join(r.Header.Values("Accept-Encoding"), ","))
	if coding != snapshot.Identity {
		packed := h.bufs.Get().(*bytes.Buffer)
		defer h.putBuffer(packed)
		b, err := snapshot.AppendEncoded(packed.AvailableBuffer(), coding, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		packed.Write(b)
		body = packed.Bytes()
		w.Header().Set("Content-Encoding", coding)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Vary", "Accept-Encoding")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	if _, err := w.Write(body); err != nil {
		h.logger.Debug("write snapshot", "err", err)
	}
}

// putBuffer keeps one huge snapshot (a host with 50,000 processes) from
// pinning its buffers for ever.
func (h *handlers) putBuffer(b *bytes.Buffer) {
	if b.Cap() > 8<<20 {
		return
	}
	b.Reset()
	h.bufs.Put(b)
}
