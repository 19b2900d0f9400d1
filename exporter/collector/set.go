package collector

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

var (
	scrapeDurationDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "scrape", "collector_duration_seconds"),
		"How long a collector took in the last collection.",
		[]string{"collector"}, nil)
	scrapeSuccessDesc = prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "scrape", "collector_success"),
		"Whether a collector succeeded in the last collection (1) or failed or timed out (0).",
		[]string{"collector"}, nil)
)

// errStillRunning is reported for a collector whose previous Update has not
// returned yet: starting another would pile goroutines onto a hung resource.
var errStillRunning = errors.New("previous collection still running (hung?)")

// Status is the outcome of one collector in one collection.
type Status struct {
	Name     string
	Duration time.Duration
	Err      error
}

// Collection is one complete read of the host, shared by every request that
// asked while it was in flight.
type Collection struct {
	Time     time.Time
	Results  []Result // in collector name order, successful collectors only
	Statuses []Status // every enabled collector, in name order
}

// Snapshot renders the collection as the JSON snapshot.
func (c *Collection) Snapshot(version string) *snapshot.Snapshot {
	s := &snapshot.Snapshot{
		SchemaVersion: snapshot.SchemaVersion,
		CollectedAt:   c.Time.UTC(),
		Agent:         snapshot.Agent{Version: version},
	}
	for _, r := range c.Results {
		r.Fill(s)
	}
	for _, st := range c.Statuses {
		if st.Err != nil {
			if s.Errors == nil {
				s.Errors = map[string]string{}
			}
			s.Errors[st.Name] = st.Err.Error()
		}
	}
	return s
}

// Describe sends nothing: the collection is an unchecked collector because
// its series depend on the host (CPUs, disks, process groups).
func (c *Collection) Describe(chan<- *prometheus.Desc) {}

// Collect sends the per-collector status first, so that a result whose
// metrics cannot be built still leaves the success series intact, then
// every collector's metrics.
func (c *Collection) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.Statuses {
		ok := 1.0
		if st.Err != nil {
			ok = 0
		}
		ch <- prometheus.MustNewConstMetric(scrapeDurationDesc, prometheus.GaugeValue, st.Duration.Seconds(), st.Name)
		ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, ok, st.Name)
	}
	for _, r := range c.Results {
		r.Emit(ch)
	}
}

// Set runs the enabled collectors concurrently, each bounded by the
// caller's deadline, and lets concurrent callers share one collection.
type Set struct {
	cfg        Config
	names      []string
	collectors map[string]Collector

	mu       sync.Mutex
	inflight *call
	running  map[string]bool // collectors whose Update has not returned
}

type call struct {
	done    chan struct{}
	res     *Collection
	joiners int // callers that joined after it started

	start time.Time
	mu    sync.Mutex
	got   map[string]outcome // collectors finished so far
}

// NewSet builds the named collectors.
func NewSet(cfg Config, names []string) (*Set, error) {
	cs, err := newCollectors(cfg, append([]string(nil), names...))
	if err != nil {
		return nil, err
	}
	return newSetOf(cfg, cs), nil
}

func newSetOf(cfg Config, cs map[string]Collector) *Set {
	s := &Set{cfg: cfg, collectors: cs, running: map[string]bool{}}
	for n := range cs {
		s.names = append(s.names, n)
	}
	sort.Strings(s.names)
	return s
}

// Collect returns a collection made within ctx's deadline. If one is
// already in flight, the caller joins it instead of reading the host again;
// a joiner whose own deadline comes first gets what has finished by then,
// with the rest reported as failed, never an error for the whole scrape.
func (s *Set) Collect(ctx context.Context) (*Collection, error) {
	s.mu.Lock()
	c := s.inflight
	joined := c != nil
	if joined {
		c.joiners++
	} else {
		c = &call{done: make(chan struct{}), start: time.Now(), got: map[string]outcome{}}
		s.inflight = c
		// The collection outlives a caller that gives up, so that the
		// callers who joined it still get it; it carries the deadline.
		collectCtx, cancel := withEarlyDeadline(context.WithoutCancel(ctx), ctx)
		go func() {
			defer cancel()
			c.res = s.collect(collectCtx, c)
			s.mu.Lock()
			s.inflight = nil
			s.mu.Unlock()
			close(c.done)
		}()
	}
	s.mu.Unlock()
	// The owner's collection already ends early; a joiner's may end after
	// the joiner's own deadline, so a joiner stops waiting a little early.
	wait, cancel := ctx, context.CancelFunc(func() {})
	if joined {
		wait, cancel = withEarlyDeadline(ctx, ctx)
	}
	defer cancel()
	select {
	case <-c.done:
		return c.res, nil
	case <-wait.Done():
		if ctx.Err() != nil { // the caller went away: nobody to answer
			return nil, fmt.Errorf("collect: %w", ctx.Err())
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return s.assemble(c.start, c.got, false), nil
	}
}

// withEarlyDeadline derives from parent a deadline a little before
// deadlineOf's, so that a caller receives the collectors that made it
// instead of nothing.
func withEarlyDeadline(parent, deadlineOf context.Context) (context.Context, context.CancelFunc) {
	d, ok := deadlineOf.Deadline()
	if !ok {
		return context.WithCancel(parent)
	}
	early := min(time.Until(d)/10, 100*time.Millisecond)
	return context.WithDeadline(parent, d.Add(-early))
}

type outcome struct {
	name string
	res  Result
	err  error
	dur  time.Duration
}

func (s *Set) collect(ctx context.Context, c *call) *Collection {
	ctx = withCollectionCache(ctx)
	out := make(chan outcome, len(s.names))
	record := func(o outcome) {
		c.mu.Lock()
		c.got[o.name] = o
		c.mu.Unlock()
	}
	s.mu.Lock()
	for _, name := range s.names {
		if s.running[name] {
			out <- outcome{name: name, err: errStillRunning}
			continue
		}
		s.running[name] = true
		go s.run(ctx, name, out)
	}
	s.mu.Unlock()

	for waiting := len(s.names); waiting > 0; {
		select {
		case o := <-out:
			record(o)
			waiting--
		case <-ctx.Done():
			waiting = 0
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return s.assemble(c.start, c.got, true)
}

// assemble builds a collection from the collectors that finished; the rest
// are reported as past the deadline. Only the collection's own owner logs,
// so a partial answer to a joiner does not log every failure twice.
func (s *Set) assemble(start time.Time, got map[string]outcome, log bool) *Collection {
	coll := &Collection{Time: start}
	for _, name := range s.names {
		o, ok := got[name]
		if !ok {
			o = outcome{name: name, err: fmt.Errorf("deadline exceeded after %s", time.Since(start).Round(time.Millisecond)), dur: time.Since(start)}
		}
		if o.err != nil {
			if log {
				s.cfg.Logger.Warn("collector failed", "collector", name, "err", o.err)
			}
		} else {
			coll.Results = append(coll.Results, o.res)
		}
		coll.Statuses = append(coll.Statuses, Status{Name: name, Duration: o.dur, Err: o.err})
	}
	return coll
}

// run executes one collector, turning a panic into an error so one broken
// reader cannot take the exporter down. The stack goes to the log; the
// error, which archived snapshots carry, says only what panicked.
func (s *Set) run(ctx context.Context, name string, out chan<- outcome) {
	start := time.Now()
	var (
		res Result
		err error
	)
	defer func() {
		if p := recover(); p != nil {
			s.cfg.Logger.Error("collector panicked", "collector", name, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("panic: %v", p)
		}
		s.mu.Lock()
		delete(s.running, name)
		s.mu.Unlock()
		if err == nil && res == nil {
			err = errors.New("collector returned no result")
		}
		out <- outcome{name: name, res: res, err: err, dur: time.Since(start)}
	}()
	res, err = s.collectors[name].Update(s.cfg.hostContext(ctx))
}

func joinRoot(root, p string) string {
	return filepath.Join(root, p)
}
