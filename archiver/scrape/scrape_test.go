package scrape

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	commoncfg "github.com/prometheus/common/config"

	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/archiver/targets"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// fakeStore records appends; it fails them while failing is set.
type fakeStore struct {
	mu      sync.Mutex
	records []store.Record
	failing bool
}

func (f *fakeStore) Append(r store.Record) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failing {
		return errors.New("disk full")
	}
	r.Snapshot = bytes.Clone(r.Snapshot) // the caller reuses its buffer
	f.records = append(f.records, r)
	return nil
}

func (f *fakeStore) byTarget(target string) []store.Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.Record
	for _, r := range f.records {
		if r.Target == target {
			out = append(out, r)
		}
	}
	return out
}

func validSnapshot(host string) []byte {
	return []byte(fmt.Sprintf(`{"schema_version":1,"collected_at":"2026-01-02T03:04:05Z","agent":{"version":"t"},"host":{"hostname":%q},"users":[]}`, host))
}

// agent starts an HTTP server on ip (127.0.0.x) running h.
func agent(t testing.TB, ip string, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func addr(srv *httptest.Server) string { return strings.TrimPrefix(srv.URL, "http://") }

func newTestManager(t *testing.T, app Appender, interval, timeout time.Duration, limit int64) (*Manager, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := NewManager(Options{Appender: app, Registerer: reg})
	if err := m.ApplyConfig(Config{Interval: interval, Timeout: timeout, BodySizeLimit: limit, Compression: true, HTTPClient: commoncfg.DefaultHTTPClientConfig}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Stop)
	return m, reg
}

func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func agentStatus(m *Manager, target string) (AgentStatus, bool) {
	for _, a := range m.Agents() {
		if a.Target == target {
			return a, true
		}
	}
	return AgentStatus{}, false
}

func TestScrapeStoresRawBytes(t *testing.T) {
	body := validSnapshot("plain")
	var mu sync.Mutex
	var headers http.Header
	plain := agent(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		headers = r.Header.Clone()
		mu.Unlock()
		if r.URL.Path != "/snapshot" {
			http.NotFound(w, r)
			return
		}
		w.Write(body)
	})
	gzBody := []byte("{\n  \"schema_version\": 1, \"users\": []\n}\n")
	gz := agent(t, "127.0.0.3", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(gzBody)
		zw.Close()
	})
	zstdBody := validSnapshot("zstd")
	zst := agent(t, "127.0.0.4", func(w http.ResponseWriter, r *http.Request) {
		coding := snapshot.NegotiateEncoding(r.Header.Get("Accept-Encoding"))
		enc, err := snapshot.AppendEncoded(nil, coding, zstdBody)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Encoding", coding)
		w.Write(enc)
	})
	hostname := agent(t, "127.0.0.1", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	_, port, _ := net.SplitHostPort(addr(hostname))

	fs := &fakeStore{}
	m, reg := newTestManager(t, fs, 200*time.Millisecond, 150*time.Millisecond, 1<<20)
	m.Sync([]targets.Target{
		{Address: addr(plain), Labels: map[string]string{"env": "prod"}},
		{Address: addr(gz), Labels: map[string]string{}},
		{Address: addr(zst), Labels: map[string]string{}},
		{Address: "localhost:" + port, Labels: map[string]string{}},
	})

	for _, tc := range []struct {
		target, ip string
		body       []byte
	}{
		{addr(plain), "127.0.0.2", body},
		{addr(gz), "127.0.0.3", gzBody},
		{addr(zst), "127.0.0.4", zstdBody},
		{"localhost:" + port, "127.0.0.1", body},
	} {
		waitFor(t, tc.target+" stored twice", func() error {
			if n := len(fs.byTarget(tc.target)); n < 2 {
				return fmt.Errorf("%d records", n)
			}
			return nil
		})
		r := fs.byTarget(tc.target)[0]
		if r.IP.String() != tc.ip {
			t.Errorf("%s: stored under %s, want %s", tc.target, r.IP, tc.ip)
		}
		if !bytes.Equal(r.Snapshot, tc.body) {
			t.Errorf("%s: stored %q, want the agent's bytes %q", tc.target, r.Snapshot, tc.body)
		}
		if r.ScrapedAt.Location() != time.UTC || time.Since(r.ScrapedAt) > time.Minute {
			t.Errorf("%s: scraped_at %v", tc.target, r.ScrapedAt)
		}
		st, _ := agentStatus(m, tc.target)
		if st.Health != HealthUp || st.IP != tc.ip || st.LastError != "" || st.LastScrape.IsZero() {
			t.Errorf("%s: status %+v", tc.target, st)
		}
	}
	if r := fs.byTarget(addr(plain))[0]; r.Labels["env"] != "prod" {
		t.Errorf("labels %v, want env=prod", r.Labels)
	}
	mu.Lock()
	if got := headers.Get("X-Prometheus-Scrape-Timeout-Seconds"); got != "0.15" {
		t.Errorf("timeout header %q, want 0.15", got)
	}
	if got := headers.Get("Accept-Encoding"); got != snapshot.AcceptEncoding {
		t.Errorf("Accept-Encoding %q, want %q", got, snapshot.AcceptEncoding)
	}
	mu.Unlock()
	if n := testutil.ToFloat64(m.m.scrapes.WithLabelValues(resultSuccess)); n < 6 {
		t.Errorf("success count %v, want >= 6", n)
	}
	if n, err := testutil.GatherAndCount(reg, "archiver_scrape_schedule_lag_seconds", "archiver_scrape_duration_seconds", "archiver_agents", "archiver_targets"); err != nil || n != 6 {
		t.Errorf("gathered %d series (%v), want 6", n, err)
	}
}

func TestScrapeFailuresAreRecorded(t *testing.T) {
	const limit = 4096
	release := make(chan struct{})
	var releaseOnce sync.Once
	t.Cleanup(func() { releaseOnce.Do(func() { close(release) }) })
	bomb := func() []byte {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(append(append([]byte(`{"schema_version":1,"x":"`), bytes.Repeat([]byte("a"), 10*limit)...), `"}`...))
		zw.Close()
		return b.Bytes()
	}()
	zstdBomb, err := snapshot.AppendEncoded(nil, snapshot.Zstd, append(append([]byte(`{"schema_version":1,"x":"`), bytes.Repeat([]byte("a"), 10*limit)...), `"}`...))
	if err != nil {
		t.Fatal(err)
	}
	refused := func() string {
		l, err := net.Listen("tcp", "127.0.0.9:0")
		if err != nil {
			t.Fatal(err)
		}
		a := l.Addr().String()
		l.Close()
		return a
	}()

	cases := []struct {
		name, ip, result, errPart string
		handler                   http.HandlerFunc
	}{
		{"status", "127.0.0.10", resultHTTPStatus, "503", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}},
		{"garbage", "127.0.0.11", resultInvalid, "invalid snapshot", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html>hello</html>"))
		}},
		{"no schema", "127.0.0.12", resultInvalid, "schema_version", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"users":[]}`))
		}},
		{"oversized", "127.0.0.13", resultTooLarge, "too large", func(w http.ResponseWriter, r *http.Request) {
			w.Write(bytes.Repeat([]byte(" "), 2*limit))
		}},
		{"oversized chunked", "127.0.0.14", resultTooLarge, "too large", func(w http.ResponseWriter, r *http.Request) {
			for range 4 {
				w.Write(bytes.Repeat([]byte(" "), limit))
				w.(http.Flusher).Flush()
			}
		}},
		{"gzip bomb", "127.0.0.15", resultTooLarge, "after gzip decoding", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb)
		}},
		{"bad gzip", "127.0.0.16", resultInvalid, "gzip", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write([]byte("not gzip at all"))
		}},
		{"zstd bomb", "127.0.0.19", resultTooLarge, "more than 4096 bytes after zstd decoding", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "zstd")
			w.Write(zstdBomb)
		}},
		{"bad zstd", "127.0.0.20", resultInvalid, "corrupt compressed body: zstd", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "zstd")
			w.Write([]byte("not zstd at all"))
		}},
		{"unknown coding", "127.0.0.21", resultInvalid, `unsupported content coding "br"`, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "br")
			w.Write(validSnapshot("br"))
		}},
		{"hanging", "127.0.0.17", resultTimeout, "timed out", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}},
		{"slow body", "127.0.0.18", resultTimeout, "timed out", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"schema_version":1,`))
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}},
	}

	fs := &fakeStore{}
	m, _ := newTestManager(t, fs, 300*time.Millisecond, 200*time.Millisecond, limit)
	good := agent(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) { w.Write(validSnapshot("good")) })
	ts := []targets.Target{{Address: addr(good)}, {Address: refused}}
	addrs := map[string]string{}
	for _, tc := range cases {
		srv := agent(t, tc.ip, tc.handler)
		addrs[tc.name] = addr(srv)
		ts = append(ts, targets.Target{Address: addr(srv)})
	}
	cases = append(cases, struct {
		name, ip, result, errPart string
		handler                   http.HandlerFunc
	}{name: "refused", ip: "127.0.0.9", result: resultConnection, errPart: "refused"})
	addrs["refused"] = refused
	m.Sync(ts)

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			waitFor(t, "a failed scrape", func() error {
				st, ok := agentStatus(m, addrs[tc.name])
				if !ok || st.Health != HealthDown {
					return fmt.Errorf("status %+v", st)
				}
				if !strings.Contains(st.LastError, tc.errPart) {
					return fmt.Errorf("last error %q, want %q", st.LastError, tc.errPart)
				}
				if st.IP != tc.ip || st.LastDuration <= 0 {
					return fmt.Errorf("status %+v", st)
				}
				return nil
			})
			if n := testutil.ToFloat64(m.m.scrapes.WithLabelValues(tc.result)); n < 1 {
				t.Errorf("result %s counted %v times", tc.result, n)
			}
			if n := len(fs.byTarget(addrs[tc.name])); n != 0 {
				t.Errorf("%d records stored for a failing agent", n)
			}
		})
	}
	// The healthy agent kept its schedule among all of them.
	waitFor(t, "the good agent stored 3 times", func() error {
		if n := len(fs.byTarget(addr(good))); n < 3 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})

	fs.mu.Lock()
	fs.failing = true
	fs.mu.Unlock()
	waitFor(t, "a store error", func() error {
		st, _ := agentStatus(m, addr(good))
		if st.Health != HealthDown || !strings.Contains(st.LastError, "disk full") {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if n := testutil.ToFloat64(m.m.scrapes.WithLabelValues(resultStoreError)); n < 1 {
		t.Errorf("store errors counted %v", n)
	}
}

func TestSyncKeepsUnchangedLoops(t *testing.T) {
	fs := &fakeStore{}
	m, _ := newTestManager(t, fs, time.Hour, time.Second, 1<<20)
	a := targets.Target{Address: "127.0.0.2:1", Labels: map[string]string{"env": "a"}}
	b := targets.Target{Address: "127.0.0.3:1", Labels: map[string]string{}}
	m.Sync([]targets.Target{a, b})
	la, lb := m.loops[a.Address], m.loops[b.Address]

	a2 := targets.Target{Address: a.Address, Labels: map[string]string{"env": "a2"}}
	c := targets.Target{Address: "127.0.0.4:1", Labels: map[string]string{}}
	m.Sync([]targets.Target{a2, b, c})
	if m.loops[b.Address] != lb {
		t.Error("unchanged target was restarted")
	}
	if m.loops[a.Address] == la {
		t.Error("target with new labels kept its old loop")
	}
	select {
	case <-la.quit:
	default:
		t.Error("old loop of a relabelled target was not stopped")
	}
	if st, _ := agentStatus(m, a.Address); st.Labels["env"] != "a2" || st.Health != HealthUnknown {
		t.Errorf("status %+v", st)
	}
	m.Sync([]targets.Target{c})
	if got := m.Agents(); len(got) != 1 || got[0].Target != c.Address {
		t.Errorf("agents %+v, want only %s", got, c.Address)
	}
	select {
	case <-lb.quit:
	default:
		t.Error("removed target's loop was not stopped")
	}
}

func TestApplyConfigReusesClient(t *testing.T) {
	m, _ := newTestManager(t, &fakeStore{}, time.Minute, time.Second, 1<<20)
	c1 := m.settings.Load().client
	if err := m.ApplyConfig(Config{Interval: 2 * time.Minute, Timeout: time.Second, BodySizeLimit: 1, HTTPClient: commoncfg.DefaultHTTPClientConfig}); err != nil {
		t.Fatal(err)
	}
	if m.settings.Load().client != c1 {
		t.Error("client rebuilt although http_client did not change")
	}
	hc := commoncfg.DefaultHTTPClientConfig
	hc.BearerToken = "secret"
	if err := m.ApplyConfig(Config{Interval: time.Minute, Timeout: time.Second, BodySizeLimit: 1, HTTPClient: hc}); err != nil {
		t.Fatal(err)
	}
	if m.settings.Load().client == c1 {
		t.Error("client kept although http_client changed")
	}
	for _, bad := range []Config{
		{Interval: time.Second, Timeout: 2 * time.Second, BodySizeLimit: 1},
		{Interval: time.Second, Timeout: 0, BodySizeLimit: 1},
		{Interval: time.Second, Timeout: time.Second, BodySizeLimit: 0},
	} {
		if err := m.ApplyConfig(bad); err == nil {
			t.Errorf("ApplyConfig(%+v) accepted", bad)
		}
	}
}

func TestNextSlot(t *testing.T) {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		now      time.Duration
		interval time.Duration
		off      uint64
		want     time.Duration
	}{
		{0, 10 * time.Second, uint64(3 * time.Second), 3 * time.Second},
		{3 * time.Second, 10 * time.Second, uint64(3 * time.Second), 13 * time.Second},
		{4 * time.Second, 10 * time.Second, uint64(3 * time.Second), 13 * time.Second},
		{2 * time.Second, 10 * time.Second, uint64(23 * time.Second), 3 * time.Second},
		{0, 10 * time.Second, 0, 10 * time.Second},
	} {
		got := nextSlot(base.Add(tc.now), tc.interval, tc.off).Sub(base)
		if got != tc.want {
			t.Errorf("nextSlot(%v, %v, %v) = %v, want %v", tc.now, tc.interval, time.Duration(tc.off), got, tc.want)
		}
	}
}

// TestOffsetsSpread checks that the phases of many agents fill the
// interval evenly, so they never fire at once.
func TestOffsetsSpread(t *testing.T) {
	const n, buckets = 10000, 10
	interval := 5 * time.Second
	var counts [buckets]int
	for i := range n {
		a := fmt.Sprintf("127.0.%d.%d:9110", i/250, i%250+2)
		phase := time.Duration(offset(a) % uint64(interval))
		counts[int(phase*buckets/interval)]++
	}
	for i, c := range counts {
		if c < n/buckets*8/10 || c > n/buckets*12/10 {
			t.Errorf("bucket %d holds %d of %d agents: %v", i, c, n, counts)
		}
	}
}

// blockingStore holds every Append until released, like a store stalled on
// the disk.
type blockingStore struct{ release chan struct{} }

func (b blockingStore) Append(store.Record) error {
	<-b.release
	return nil
}

func TestStalledStoreIsReportedAsOverload(t *testing.T) {
	bs := blockingStore{release: make(chan struct{})}
	m := NewManager(Options{Appender: bs, MaxProcessing: 1})
	if err := m.ApplyConfig(Config{Interval: 300 * time.Millisecond, Timeout: 200 * time.Millisecond, BodySizeLimit: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { close(bs.release); m.Stop() })
	body := validSnapshot("a")
	a := agent(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	b := agent(t, "127.0.0.3", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	m.Sync([]targets.Target{{Address: addr(a)}, {Address: addr(b)}})
	waitFor(t, "an overloaded scrape", func() error {
		for _, st := range m.Agents() {
			if strings.Contains(st.LastError, "archiver overloaded") {
				return nil
			}
		}
		return fmt.Errorf("agents %+v", m.Agents())
	})
	if n := testutil.ToFloat64(m.m.scrapes.WithLabelValues(resultOverloaded)); n < 1 {
		t.Errorf("overloaded scrapes counted %v", n)
	}
}

func TestCompressionCanBeTurnedOff(t *testing.T) {
	encodings := make(chan string, 16)
	a := agent(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
		select {
		case encodings <- r.Header.Get("Accept-Encoding"):
		default:
		}
		w.Write(validSnapshot("a"))
	})
	fs := &fakeStore{}
	m := NewManager(Options{Appender: fs})
	t.Cleanup(m.Stop)
	if err := m.ApplyConfig(Config{Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond, BodySizeLimit: 1 << 20, Compression: false}); err != nil {
		t.Fatal(err)
	}
	m.Sync([]targets.Target{{Address: addr(a)}})
	select {
	case got := <-encodings:
		if got != "identity" {
			t.Errorf("Accept-Encoding %q with compression off, want identity", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("agent never scraped")
	}
}

// TestConnectionsAreReused checks that an agent sees one TCP connection
// for many scrapes: with thousands of agents, a handshake per scrape would
// cost more than the scrape.
func TestConnectionsAreReused(t *testing.T) {
	var mu sync.Mutex
	conns := 0
	body := validSnapshot("reuse")
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(body)
		zw.Close()
	}))
	srv.Listener.Close()
	srv.Listener = l
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			mu.Lock()
			conns++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	fs := &fakeStore{}
	m, _ := newTestManager(t, fs, 200*time.Millisecond, 200*time.Millisecond, 1<<20)
	m.Sync([]targets.Target{{Address: addr(srv)}})
	waitFor(t, "5 scrapes", func() error {
		if n := len(fs.byTarget(addr(srv))); n < 5 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
	mu.Lock()
	defer mu.Unlock()
	// A scrape that times out on a starved CI machine closes its
	// connection; only those may cost a new one.
	timeouts := int(testutil.ToFloat64(m.m.scrapes.WithLabelValues(resultTimeout)))
	if conns > 1+timeouts {
		t.Errorf("%d connections for %d scrapes (%d timed out), want 1", conns, len(fs.byTarget(addr(srv))), timeouts)
	}
}

// TestTimeoutEqualToIntervalKeepsEverySlot: a hanging agent whose scrape
// ends just as its next slot begins is scraped in that slot (late), not
// every other interval with a "missed" count.
func TestTimeoutEqualToIntervalKeepsEverySlot(t *testing.T) {
	a := agent(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	m, _ := newTestManager(t, &fakeStore{}, 500*time.Millisecond, 500*time.Millisecond, 1<<20)
	m.Sync([]targets.Target{{Address: addr(a)}})
	waitFor(t, "3 timed-out scrapes", func() error {
		if n := testutil.ToFloat64(m.m.scrapes.WithLabelValues(resultTimeout)); n < 3 {
			return fmt.Errorf("%v timeouts", n)
		}
		return nil
	})
	if n := testutil.ToFloat64(m.m.missed); n != 0 {
		t.Errorf("%v slots missed", n)
	}
}

// TestLastArchivedMetric checks the per-agent series an alert names the
// unarchived agent by: the time of the last stored snapshot, the
// registration time for an agent never stored, kept across a relabelling,
// and no series once the agent is deregistered.
func TestLastArchivedMetric(t *testing.T) {
	good := agent(t, "127.0.0.22", func(w http.ResponseWriter, r *http.Request) { w.Write(validSnapshot("good")) })
	var broken atomic.Bool
	flaky := agent(t, "127.0.0.23", func(w http.ResponseWriter, r *http.Request) {
		if broken.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		w.Write(validSnapshot("flaky"))
	})
	down := agent(t, "127.0.0.24", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	})
	fs := &fakeStore{}
	m, reg := newTestManager(t, fs, 200*time.Millisecond, 150*time.Millisecond, 1<<20)
	all := []targets.Target{{Address: addr(good)}, {Address: addr(flaky)}, {Address: addr(down)}}
	registered := float64(time.Now().UnixNano()) / 1e9
	m.Sync(all)
	registeredBy := float64(time.Now().UnixNano()) / 1e9

	lastArchived := func() (map[string]float64, error) {
		mfs, err := reg.Gather()
		if err != nil {
			return nil, err
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			if mf.GetName() != "archiver_agent_last_archived_timestamp_seconds" {
				continue
			}
			for _, s := range mf.GetMetric() {
				labels := map[string]string{}
				for _, l := range s.GetLabel() {
					labels[l.GetName()] = l.GetValue()
				}
				if labels["source"] != SourceScrape {
					return nil, fmt.Errorf("series %v, want source=%q", labels, SourceScrape)
				}
				out[labels["target"]] = s.GetGauge().GetValue()
			}
		}
		return out, nil
	}
	waitFor(t, "every agent scraped, flaky stored", func() error {
		for _, tg := range all {
			if st, _ := agentStatus(m, tg.Address); st.LastScrape.IsZero() {
				return fmt.Errorf("%s not scraped yet", tg.Address)
			}
		}
		if len(fs.byTarget(addr(flaky))) == 0 {
			return errors.New("flaky not stored yet")
		}
		return nil
	})
	broken.Store(true)
	var stuck float64
	waitFor(t, "flaky down", func() error {
		st, _ := agentStatus(m, addr(flaky))
		if st.Health != HealthDown {
			return fmt.Errorf("flaky is %s", st.Health)
		}
		stuck = float64(st.LastSuccess.UnixNano()) / 1e9
		return nil
	})
	waitFor(t, "good archived again after flaky broke", func() error {
		got, err := lastArchived()
		if err != nil {
			return err
		}
		if len(got) != 3 {
			return fmt.Errorf("series %v, want one per agent", got)
		}
		if v := got[addr(down)]; v < registered || v > registeredBy {
			return fmt.Errorf("never-archived agent at %v, want its registration, %v..%v", v, registered, registeredBy)
		}
		if got[addr(flaky)] != stuck || stuck == 0 {
			return fmt.Errorf("flaky at %v, want its last success %v", got[addr(flaky)], stuck)
		}
		if got[addr(good)] <= stuck {
			return fmt.Errorf("good at %v, not after flaky's last success %v", got[addr(good)], stuck)
		}
		return nil
	})

	// New labels for the broken agent restart its loop, not its history.
	relabelled := []targets.Target{all[0], {Address: addr(flaky), Labels: map[string]string{"env": "moved"}}, all[2]}
	m.Sync(relabelled)
	got, err := lastArchived()
	if err != nil {
		t.Fatal(err)
	}
	if got[addr(flaky)] != stuck {
		t.Fatalf("relabelled flaky at %v, want its last success %v carried over", got[addr(flaky)], stuck)
	}
	if st, _ := agentStatus(m, addr(flaky)); st.Labels["env"] != "moved" || st.Health != HealthDown {
		t.Fatalf("relabelled flaky: %+v, want the new labels and the old health", st)
	}

	m.Sync(all[:1])
	got, err = lastArchived()
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[addr(flaky)]; ok || len(got) != 1 {
		t.Fatalf("series after deregistering two agents: %v, want only %s", got, addr(good))
	}
}
