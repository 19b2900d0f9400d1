package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/archiver/intake"
	"github.com/prexmon/prexmon/exporter/collector"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

func newTestServer(t testing.TB) *httptest.Server {
	t.Helper()
	set, err := collector.NewSet(collector.DefaultConfig(), collector.Names())
	if err != nil {
		t.Fatal(err)
	}
	h := newHandlers(set, prometheus.NewRegistry(), "test", 500*time.Millisecond, collector.DefaultConfig().Logger)
	mux, err := h.mux("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// Run with -race: concurrent scrapes of both endpoints share collections
// and render the same immutable results at once.
func TestConcurrentScrapes(t *testing.T) {
	srv := newTestServer(t)
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := "/metrics"
			if i%2 == 0 {
				path = "/snapshot"
			}
			for range 5 {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					errs <- err.Error()
					return
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode != http.StatusOK:
					errs <- path + ": " + resp.Status
				case path == "/snapshot" && intake.CheckRaw(body) != nil:
					errs <- "invalid snapshot: " + intake.CheckRaw(body).Error()
				case path == "/metrics" && !bytes.Contains(body, []byte(`host_scrape_collector_success{collector="processes"} 1`)):
					errs <- "processes collector failed under concurrency"
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestSnapshotEncodingNegotiation(t *testing.T) {
	srv := newTestServer(t)
	tests := []struct {
		accept string // several field lines separated by "|"
		want   string // Content-Encoding
	}{
		{"", ""},
		{"br|zstd", "zstd"}, // RFC 9110: one field may span lines
		{"gzip", "gzip"},
		{"br, gzip;q=0.5", "gzip"},
		{"gzip;q=0", ""},
		{"identity", ""},
		{"zstd", "zstd"},
		{snapshot.AcceptEncoding, "zstd"},
		{"gzip, deflate, br, zstd", "zstd"},
		{"zstd;q=0.1, gzip", "gzip"},
	}
	// Without DisableCompression the transport would ask for gzip itself
	// when the request names no coding, and hide the answer.
	client := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	for _, tt := range tests {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/snapshot", nil)
		if tt.accept != "" {
			for line := range strings.SplitSeq(tt.accept, "|") {
				req.Header.Add("Accept-Encoding", line)
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		wire, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		got := resp.Header.Get("Content-Encoding")
		if got != tt.want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", tt.accept, got, tt.want)
		}
		if v := resp.Header.Get("Vary"); v != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q, caches would mix codings", tt.accept, v)
		}
		if cl := resp.Header.Get("Content-Length"); cl != strconv.Itoa(len(wire)) {
			t.Errorf("Accept-Encoding %q: Content-Length %q for %d bytes", tt.accept, cl, len(wire))
		}
		raw, err := intake.Decode(nil, got, wire, 16<<20)
		if err != nil {
			t.Errorf("Accept-Encoding %q: %v", tt.accept, err)
			continue
		}
		if err := intake.CheckRaw(raw); err != nil {
			t.Errorf("Accept-Encoding %q: %v", tt.accept, err)
		}
	}
}

func TestScrapeTimeoutHeader(t *testing.T) {
	h := &handlers{slack: 500 * time.Millisecond}
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", defaultScrapeTimeout},
		{"10", 9500 * time.Millisecond},
		{"0.002", time.Second}, // clamped: a client cannot starve a shared collection
		{"1", time.Second},     // too short to subtract the margin
		{"1e11", maxScrapeTimeout - 500*time.Millisecond},
		{"Inf", defaultScrapeTimeout},
		{"NaN", defaultScrapeTimeout},
		{"garbage", defaultScrapeTimeout},
		{"-3", defaultScrapeTimeout},
	}
	for _, tt := range tests {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if tt.header != "" {
			req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", tt.header)
		}
		ctx, cancel := h.scrapeContext(req)
		dl, _ := ctx.Deadline()
		cancel()
		if got := time.Until(dl); got > tt.want || got < tt.want-time.Second {
			t.Errorf("header %q: deadline in %v, want about %v", tt.header, got, tt.want)
		}
	}
}

func TestBoolFlagAssignments(t *testing.T) {
	tests := []struct {
		args                 []string
		wantCmdline, wantCPU bool
	}{
		{nil, true, true},
		{[]string{"--snapshot.cmdline=false"}, false, true},
		{[]string{"--no-snapshot.cmdline", "--collector.cpu=false"}, false, false},
		{[]string{"--collector.cpu=true", "--snapshot.cmdline=1"}, true, true},
	}
	for _, tt := range tests {
		o, err := parseFlags(tt.args)
		if err != nil {
			t.Fatalf("parseFlags(%q): %v", tt.args, err)
		}
		if o.cfg.ProcessCmdline != tt.wantCmdline || *o.enabled["cpu"] != tt.wantCPU {
			t.Errorf("parseFlags(%q): cmdline %v cpu %v, want %v %v", tt.args, o.cfg.ProcessCmdline, *o.enabled["cpu"], tt.wantCmdline, tt.wantCPU)
		}
	}
	if _, err := parseFlags([]string{"--snapshot.cmdline=maybe"}); err == nil {
		t.Error("--snapshot.cmdline=maybe accepted")
	}
}

func benchmarkEndpoint(b *testing.B, path string) {
	set, err := collector.NewSet(collector.DefaultConfig(), collector.Names())
	if err != nil {
		b.Fatal(err)
	}
	h := newHandlers(set, prometheus.NewRegistry(), "bench", 500*time.Millisecond, collector.DefaultConfig().Logger)
	mux, err := h.mux("/metrics")
	if err != nil {
		b.Fatal(err)
	}
	var size int
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
		size = rec.Body.Len()
	}
	b.ReportMetric(float64(size), "bytes/response")
}

// BenchmarkSnapshot is the whole /snapshot (every collector, JSON encoding)
// to compare with collector.BenchmarkPlainProcRead.
func BenchmarkSnapshot(b *testing.B) { benchmarkEndpoint(b, "/snapshot") }

// BenchmarkMetrics is the whole /metrics without the network.
func BenchmarkMetrics(b *testing.B) { benchmarkEndpoint(b, "/metrics") }
