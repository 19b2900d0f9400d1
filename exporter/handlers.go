package main

import (
	"compress/gzip"
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
	gzipW   sync.Pool
}

func newHandlers(set *collector.Set, base prometheus.Gatherer, version string, slack time.Duration, logger *slog.Logger) *handlers {
	return &handlers{set: set, base: base, version: version, slack: slack, logger: logger}
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
	snap := coll.Snapshot(h.version)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Vary", "Accept-Encoding")
	var out interface {
		Write([]byte) (int, error)
	} = w
	if acceptsGzip(r) {
		w.Header().Set("Content-Encoding", "gzip")
		gz, _ := h.gzipW.Get().(*gzip.Writer)
		if gz == nil {
			// Best speed: the agent's CPU matters more than a few KB on the wire.
			gz, _ = gzip.NewWriterLevel(w, gzip.BestSpeed)
		} else {
			gz.Reset(w)
		}
		defer func() {
			if err := gz.Close(); err != nil {
				h.logger.Debug("gzip close", "err", err)
			}
			h.gzipW.Put(gz)
		}()
		out = gz
	}
	if err := json.NewEncoder(out).Encode(snap); err != nil {
		h.logger.Debug("write snapshot", "err", err)
	}
}

// acceptsGzip reports whether the client accepts gzip with a non-zero
// quality (RFC 9110: "gzip;q=0" means "not gzip").
func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.TrimSpace(params), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
		return err == nil && v > 0
	}
	return false
}
