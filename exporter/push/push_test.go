package push

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prexmon/prexmon/exporter/collector"
)

var quiet = slog.New(slog.DiscardHandler)

// decodeBody undoes the content coding of a pushed body, as the archiver
// does.
func decodeBody(coding string, wire []byte) ([]byte, error) {
	switch coding {
	case "zstd":
		return decodeZstd(wire)
	case "gzip":
		zr, err := gzip.NewReader(strings.NewReader(string(wire)))
		if err != nil {
			return nil, err
		}
		return io.ReadAll(zr)
	}
	return nil, errors.New("unknown coding " + coding)
}

func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSendFallsBackToGzip posts to an intake that knows only the codings it
// is given, as an older archiver does, and checks what arrives.
func TestSendFallsBackToGzip(t *testing.T) {
	plain := []byte(`{"schema_version":1,"host":{"hostname":"h"}}`)
	tok := writeFile(t, "token", "s3cret\n")
	client, err := newClient(Options{BearerTokenFile: tok}, "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		accepts []string
		want    []string // Content-Encoding of each request of two pushes, in order
		fails   bool
	}{
		{"current archiver", []string{"zstd", "gzip"}, []string{"zstd", "zstd"}, false},
		// The refusal is remembered: the second push goes straight to gzip.
		{"archiver without zstd", []string{"gzip"}, []string{"zstd", "gzip", "gzip"}, false},
		{"archiver with neither", nil, []string{"zstd", "gzip", "gzip"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				coding := r.Header.Get("Content-Encoding")
				mu.Lock()
				got = append(got, coding)
				mu.Unlock()
				if r.Header.Get("Authorization") != "Bearer s3cret" {
					http.Error(w, "bad token", http.StatusUnauthorized)
					return
				}
				if !slices.Contains(tc.accepts, coding) {
					http.Error(w, "unsupported Content-Encoding", http.StatusUnsupportedMediaType)
					return
				}
				wire, _ := io.ReadAll(r.Body)
				body, err := decodeBody(coding, wire)
				if err != nil || string(body) != string(plain) {
					http.Error(w, "body changed", http.StatusBadRequest)
					return
				}
			}))
			defer srv.Close()
			mem := &codingMemory{}
			for range 2 {
				err := send(context.Background(), client, srv.URL+Path, plain, quiet, mem)
				if (err != nil) != tc.fails {
					t.Fatalf("send: %v, want failure %v", err, tc.fails)
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("requests sent %v, want %v", got, tc.want)
			}
		})
	}
}

// scripted is an intake that answers each push with the next of its
// answers (200 once they run out) and keeps the snapshots it accepted.
type scripted struct {
	mu      sync.Mutex
	answers []func(w http.ResponseWriter)
	got     []string
	times   []time.Time // of every request
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	wire, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
	if len(s.answers) > 0 {
		a := s.answers[0]
		s.answers = s.answers[1:]
		a(w)
		return
	}
	body, err := decodeBody(r.Header.Get("Content-Encoding"), wire)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.got = append(s.got, string(body))
}

func answer(code int, retryAfter string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		http.Error(w, http.StatusText(code), code)
	}
}

func testPusher(t *testing.T, url string, o Options) *Pusher {
	t.Helper()
	o.URL = url
	if o.Interval == 0 {
		o.Interval = time.Minute
	}
	p, err := New(o, "test", prometheus.NewRegistry(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDeliverClassifiesAnswers checks what one delivery round does with
// each kind of answer: the wait it asks for, the snapshot's fate, the
// counters.
func TestDeliverClassifiesAnswers(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name     string
		answer   func(http.ResponseWriter)
		wait     time.Duration // 0: the backoff decides
		slack    time.Duration
		result   string
		kept     bool
		down     bool // no server at all
		rejected bool
	}{
		{name: "503 with Retry-After seconds", answer: answer(503, "7"), wait: 7 * time.Second, result: resultError, kept: true},
		{name: "429 with Retry-After date", answer: answer(429, date), wait: 90 * time.Second, slack: 2 * time.Second, result: resultError, kept: true},
		{name: "500", answer: answer(500, ""), result: resultError, kept: true},
		{name: "408", answer: answer(408, ""), result: resultError, kept: true},
		{name: "connection refused", down: true, result: resultError, kept: true},
		{name: "401 waits an interval", answer: answer(401, ""), wait: time.Minute, result: resultRefused, kept: true},
		{name: "404 waits an interval", answer: answer(404, ""), wait: time.Minute, result: resultRefused, kept: true},
		{name: "400 drops", answer: answer(400, ""), result: resultRejected, rejected: true},
		{name: "413 drops", answer: answer(413, ""), result: resultRejected, rejected: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(&scripted{answers: []func(http.ResponseWriter){tc.answer}})
			if tc.down {
				srv.Close()
			} else {
				defer srv.Close()
			}
			dir := t.TempDir()
			p := testPusher(t, srv.URL, Options{SpoolDir: dir})
			p.q.add(doc(1))
			wait, err := p.deliver(context.Background())
			if tc.rejected {
				if err != nil || wait != 0 {
					t.Fatalf("deliver: %v, %v; want the round to go on past a rejected snapshot", wait, err)
				}
			} else if err == nil {
				t.Fatal("deliver succeeded")
			}
			if wait < tc.wait-tc.slack || wait > tc.wait+tc.slack {
				t.Fatalf("wait %v, want %v", wait, tc.wait)
			}
			if got := testutil.ToFloat64(p.m.pushes.WithLabelValues(tc.result)); got != 1 {
				t.Fatalf("push_total{result=%q} = %v, want 1", tc.result, got)
			}
			files := len(spoolFiles(t, dir))
			if tc.kept && files != 1 {
				t.Fatalf("%d files spooled, want the failed snapshot kept", files)
			}
			if tc.rejected {
				if files != 0 || testutil.ToFloat64(p.m.dropped.WithLabelValues(dropRejected)) != 1 {
					t.Fatalf("rejected snapshot: %d files, dropped{rejected} %v", files, testutil.ToFloat64(p.m.dropped.WithLabelValues(dropRejected)))
				}
			}
		})
	}
}

// fakeClock stands in for the pusher's clock: sleeping records the delay
// asked for and moves the clock on at once.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

// install makes p tell time by c, with no jitter: each backoff step is
// the lower end of its range.
func (c *fakeClock) install(p *Pusher) {
	c.t = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	p.now = c.now
	p.sleep = c.sleep
	p.jitter = func(time.Duration) time.Duration { return 0 }
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.slept = append(c.slept, d)
	c.t = c.t.Add(d)
	return ctx.Err() == nil
}

func (c *fakeClock) delays() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.slept)
}

// TestSenderBacksOffAndReplaysInOrder runs the sender against an intake
// that is overloaded twice (Retry-After: 1) and then fails once without
// saying when to come back: the sender waits as told, then backs off, and
// everything queued meanwhile arrives once, oldest first.
func TestSenderBacksOffAndReplaysInOrder(t *testing.T) {
	s := &scripted{answers: []func(http.ResponseWriter){answer(503, "1"), answer(429, "1"), answer(502, "")}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	p := testPusher(t, srv.URL, Options{SpoolDir: t.TempDir(), Interval: 2 * time.Second})
	var clock fakeClock
	clock.install(p)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.send(ctx)
	}()
	defer func() { cancel(); <-done }()
	for i := range 4 {
		p.q.add(doc(i))
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mu.Lock()
		n := len(s.got)
		s.mu.Unlock()
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of 4 snapshots arrived: %q", n, s.got)
		}
		time.Sleep(time.Millisecond)
	}
	// Retry-After honoured twice, then the first backoff step after the
	// 502 (0.5–1 s; 0.5 s without jitter), and no wait once it answers.
	if got, want := clock.delays(), []time.Duration{time.Second, time.Second, 500 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("waited %v, want %v", got, want)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Equal(s.got, want(0, 1, 2, 3)) {
		t.Fatalf("arrived %q, want each once, in order", s.got)
	}
}

func TestBackoff(t *testing.T) {
	b := newBackoff(10*time.Second, randomJitter)
	for i, hi := range []time.Duration{1, 2, 4, 8, 10, 10} {
		hi *= time.Second
		if d := b.next(); d < hi/2 || d > hi {
			t.Fatalf("step %d: %v, want within [%v, %v]", i, d, hi/2, hi)
		}
	}
	b.reset()
	if d := b.next(); d > time.Second {
		t.Fatalf("after reset: %v", d)
	}
	if b := newBackoff(time.Hour, randomJitter); b.max != maxBackoff {
		t.Fatalf("cap for a 1h interval %v, want %v", b.max, maxBackoff)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":         0,
		"3":        3 * time.Second,
		" 120 ":    2 * time.Minute,
		"-1":       0,
		"soon":     0,
		"99999999": maxRetryAfter,
		now.Add(time.Minute).Format(http.TimeFormat):  time.Minute,
		now.Add(-time.Minute).Format(http.TimeFormat): 0,
	} {
		h := http.Header{}
		h.Set("Retry-After", v)
		if got := retryAfter(h, now); got != want {
			t.Errorf("Retry-After %q: %v, want %v", v, got, want)
		}
	}
}

// TestPhase: hosts spread over the interval, each at a stable offset.
func TestPhase(t *testing.T) {
	const interval = time.Minute
	seen := map[time.Duration]bool{}
	for i := range 100 {
		id := "host-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
		p := phase(id, interval)
		if p < 0 || p >= interval || p != phase(id, interval) {
			t.Fatalf("phase(%s) = %v", id, p)
		}
		seen[p.Truncate(6*time.Second)] = true
	}
	if len(seen) < 8 {
		t.Fatalf("100 hosts fall in %d of 10 tenths of the interval", len(seen))
	}
	now := time.Unix(1000, 500_000_000)
	for _, offset := range []time.Duration{0, 20 * time.Second, 40*time.Second + 500*time.Millisecond, interval - 1} {
		got := nextTick(now, interval, offset)
		if d := got.Sub(now); d <= 0 || d > interval || got.UnixNano()%int64(interval) != int64(offset) {
			t.Fatalf("nextTick(%v, offset %v) = %v", now, offset, got)
		}
	}
}

// TestHTTPConfig pushes over TLS to a server whose certificate only the
// CA in the HTTP config file vouches for, with the authorization the file
// sets, and refuses a token file on top of it.
func TestHTTPConfig(t *testing.T) {
	var auth string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth = r.Header.Get("Authorization")
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake below
	srv.StartTLS()
	defer srv.Close()
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})))
	tok := writeFile(t, "token", "from-file\n")

	// Without the CA the certificate is refused, and not retried at once.
	p := testPusher(t, srv.URL, Options{})
	p.q.add(doc(1))
	if wait, err := p.deliver(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") || wait != time.Minute {
		t.Fatalf("push without the CA: %v, wait %v; want a certificate error and an interval", err, wait)
	}

	cfg := writeFile(t, "http.yml", "tls_config:\n  ca_file: "+ca+"\nauthorization:\n  credentials_file: "+tok+"\n")
	p = testPusher(t, srv.URL, Options{HTTPConfigFile: cfg})
	p.q.add(doc(1))
	if _, err := p.deliver(context.Background()); err != nil {
		t.Fatalf("push with the CA: %v", err)
	}
	if auth != "Bearer from-file" {
		t.Fatalf("Authorization %q", auth)
	}

	_, err := New(Options{URL: srv.URL, HTTPConfigFile: cfg, BearerTokenFile: tok}, "test", nil, quiet)
	if err == nil || !strings.Contains(err.Error(), "use one of them") {
		t.Fatalf("token file and authorization in the config: %v, want refusal", err)
	}
	// A config with TLS only takes the token from the flag.
	tlsOnly := writeFile(t, "tls.yml", "tls_config:\n  ca_file: "+ca+"\n")
	p = testPusher(t, srv.URL, Options{HTTPConfigFile: tlsOnly, BearerTokenFile: tok})
	p.q.add(doc(1))
	if _, err := p.deliver(context.Background()); err != nil || auth != "Bearer from-file" {
		t.Fatalf("push with TLS config and token flag: %v, Authorization %q", err, auth)
	}
	if _, err := New(Options{URL: srv.URL, HTTPConfigFile: writeFile(t, "bad.yml", "tls_config: {ca_fil: x}\n")}, "test", nil, quiet); err == nil {
		t.Fatal("misspelt key accepted")
	}
}

// TestOnceFlushesTheSpoolFirst runs --push.once twice against the same
// spool: while the archiver fails, its snapshot is kept and the run fails;
// once it answers, the kept one goes first, then the new one.
func TestOnceFlushesTheSpoolFirst(t *testing.T) {
	set, err := collector.NewSet(collector.DefaultConfig(), []string{"host"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	down := &scripted{answers: []func(http.ResponseWriter){answer(503, ""), answer(503, ""), answer(503, ""), answer(503, "")}}
	srv := httptest.NewServer(down)
	defer srv.Close()
	p := testPusher(t, srv.URL, Options{SpoolDir: dir, Timeout: 1500 * time.Millisecond})
	var clock fakeClock
	clock.install(p)
	if err := p.Once(context.Background(), set); err == nil {
		t.Fatal("Once succeeded against an archiver answering 503")
	}
	down.mu.Lock()
	n := len(down.times)
	down.mu.Unlock()
	// Backoff capped at the 1.5s timeout: 0.5s, then 0.75s; a third wait
	// (0.75s) would end past the timeout, 0.25s away, so Once gives up.
	if got, want := clock.delays(), []time.Duration{500 * time.Millisecond, 750 * time.Millisecond}; !slices.Equal(got, want) || n != 3 {
		t.Fatalf("%d requests, waits %v; want 3, after waits %v", n, got, want)
	}
	if f := spoolFiles(t, dir); len(f) != 1 {
		t.Fatalf("spool after a failed Once: %v, want its snapshot", f)
	}

	up := &scripted{}
	srv2 := httptest.NewServer(up)
	defer srv2.Close()
	p = testPusher(t, srv2.URL, Options{SpoolDir: dir})
	var clock2 fakeClock
	clock2.install(p)
	if err := p.Once(context.Background(), set); err != nil {
		t.Fatalf("Once: %v", err)
	}
	up.mu.Lock()
	defer up.mu.Unlock()
	if len(up.got) != 2 {
		t.Fatalf("%d snapshots sent, want the spooled one and the new one", len(up.got))
	}
	var first, second struct {
		CollectedAt time.Time `json:"collected_at"`
	}
	if json.Unmarshal([]byte(up.got[0]), &first) != nil || json.Unmarshal([]byte(up.got[1]), &second) != nil || !first.CollectedAt.Before(second.CollectedAt) {
		t.Fatalf("sent out of order: %.80s then %.80s", up.got[0], up.got[1])
	}
	if f := spoolFiles(t, dir); len(f) != 0 {
		t.Fatalf("spool after a good Once: %v", f)
	}
}
