package collector

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

var fakeDesc = prometheus.NewDesc("fake_value", "Test value.", nil, nil)

type fakeResult struct{ v float64 }

func (r fakeResult) Fill(s *snapshot.Snapshot) {}
func (r fakeResult) Emit(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(fakeDesc, prometheus.GaugeValue, r.v)
}

// fakeCollector calls fn for each Update.
type fakeCollector struct {
	calls atomic.Int64
	fn    func(ctx context.Context) (Result, error)
}

func (f *fakeCollector) Update(ctx context.Context) (Result, error) {
	f.calls.Add(1)
	return f.fn(ctx)
}

func ok(v float64) *fakeCollector {
	return &fakeCollector{fn: func(context.Context) (Result, error) { return fakeResult{v}, nil }}
}

func statusOf(t *testing.T, c *Collection, name string) Status {
	t.Helper()
	for _, st := range c.Statuses {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no status for %s", name)
	return Status{}
}

func collectWithin(t *testing.T, s *Set, d time.Duration) *Collection {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := s.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestHungCollectorFailsAloneAndIsNotRestarted(t *testing.T) {
	release := make(chan struct{})
	hung := &fakeCollector{fn: func(context.Context) (Result, error) {
		<-release // ignores ctx, like a read from a hung NFS mount
		return fakeResult{1}, nil
	}}
	s := newSetOf(DefaultConfig(), map[string]Collector{"hung": hung, "good": ok(42)})

	// Long enough for the good collector even on a starved -race run.
	c := collectWithin(t, s, time.Second)
	if st := statusOf(t, c, "hung"); st.Err == nil || !strings.Contains(st.Err.Error(), "deadline") {
		t.Fatalf("hung collector status = %v, want a deadline error", st.Err)
	}
	if st := statusOf(t, c, "good"); st.Err != nil {
		t.Fatalf("good collector failed: %v", st.Err)
	}
	want := "# HELP fake_value Test value.\n# TYPE fake_value gauge\nfake_value 42\n"
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "fake_value"); err != nil {
		t.Fatal(err)
	}

	// While still hung, the next collection reports it at once and does not
	// start a second Update.
	c = collectWithin(t, s, 5*time.Second)
	if st := statusOf(t, c, "hung"); !errors.Is(st.Err, errStillRunning) {
		t.Fatalf("second collection status = %v, want errStillRunning", st.Err)
	}
	if n := hung.calls.Load(); n != 1 {
		t.Fatalf("hung collector started %d times, want 1", n)
	}

	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		c = collectWithin(t, s, 5*time.Second)
		if statusOf(t, c, "hung").Err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("collector never recovered after its read returned")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestPanickingCollectorIsAFailure(t *testing.T) {
	bad := &fakeCollector{fn: func(context.Context) (Result, error) { panic("boom") }}
	failing := &fakeCollector{fn: func(context.Context) (Result, error) { return nil, errors.New("no such file") }}
	var logged strings.Builder
	cfg := DefaultConfig()
	cfg.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &logged}, nil))
	s := newSetOf(cfg, map[string]Collector{"bad": bad, "failing": failing, "good": ok(1)})
	c := collectWithin(t, s, 5*time.Second)
	// The snapshot that is archived gets a short message; the stack goes
	// to the log only.
	if st := statusOf(t, c, "bad"); st.Err == nil || st.Err.Error() != "panic: boom" {
		t.Fatalf("panicking collector status = %q, want %q", st.Err, "panic: boom")
	}
	if log := logged.String(); !strings.Contains(log, "collector panicked") || !strings.Contains(log, "goroutine") {
		t.Fatalf("panic not logged with its stack: %s", log)
	}
	if st := statusOf(t, c, "failing"); st.Err == nil {
		t.Fatal("failing collector reported success")
	}
	snap := c.Snapshot("v")
	if snap.Errors["bad"] == "" || snap.Errors["failing"] == "" || snap.Errors["good"] != "" {
		t.Fatalf("snapshot errors = %v", snap.Errors)
	}
	want := `
# HELP host_scrape_collector_success Whether a collector succeeded in the last collection (1) or failed or timed out (0).
# TYPE host_scrape_collector_success gauge
host_scrape_collector_success{collector="bad"} 0
host_scrape_collector_success{collector="failing"} 0
host_scrape_collector_success{collector="good"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "host_scrape_collector_success"); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentCallersShareOneCollection(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	slow := &fakeCollector{fn: func(context.Context) (Result, error) {
		once.Do(func() { close(started) })
		<-release
		return fakeResult{7}, nil
	}}
	s := newSetOf(DefaultConfig(), map[string]Collector{"slow": slow})

	const callers = 20
	results := make(chan *Collection, callers)
	var wg sync.WaitGroup
	first := func() {
		defer wg.Done()
		results <- collectWithin(t, s, 10*time.Second)
	}
	wg.Add(1)
	go first()
	<-started // the first collection is in flight; everyone else joins it
	for range callers - 1 {
		wg.Add(1)
		go first()
	}
	// Joining callers block until release; give them a bounded chance to
	// arrive, then let the collection finish.
	waitUntil(t, 5*time.Second, func() bool { return joiners(s) == callers-1 })
	close(release)
	wg.Wait()
	close(results)
	var firstColl *Collection
	for c := range results {
		if firstColl == nil {
			firstColl = c
		}
		if c != firstColl {
			t.Fatal("callers got different collections")
		}
	}
	if n := slow.calls.Load(); n != 1 {
		t.Fatalf("Update ran %d times for %d concurrent callers, want 1", n, callers)
	}
}

// joiners counts the callers waiting on the in-flight collection.
func joiners(s *Set) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		return 0
	}
	return s.inflight.joiners
}

func waitUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A caller that joins a collection with a later deadline than its own (a
// 10 s push collection, then a 1 s scrape) must still get an answer in time,
// with the slow collector failed and the fast ones served.
func TestJoinerWithEarlierDeadlineGetsPartialCollection(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	slow := &fakeCollector{fn: func(context.Context) (Result, error) {
		<-release
		return fakeResult{1}, nil
	}}
	s := newSetOf(DefaultConfig(), map[string]Collector{"slow": slow, "good": ok(3)})

	long, cancelLong := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancelLong()
	go func() { _, _ = s.Collect(long) }()
	waitUntil(t, 5*time.Second, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.inflight != nil
	})

	c := collectWithin(t, s, time.Second)
	if st := statusOf(t, c, "slow"); st.Err == nil {
		t.Fatal("slow collector reported success in the partial collection")
	}
	if st := statusOf(t, c, "good"); st.Err != nil {
		t.Fatalf("fast collector missing from the partial collection: %v", st.Err)
	}
}

// syncWriter serialises writes from collector goroutines.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
