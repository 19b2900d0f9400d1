// Package scrape runs one loop per agent that fetches its snapshot on a
// schedule spread over the interval, checks it and hands the raw bytes to
// the store. A failing agent is a recorded fact, never a delay for others.
package scrape

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/version"

	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/archiver/targets"
)

// Appender receives every snapshot that passed the checks; *store.Store in
// the program, a fake in tests.
type Appender interface {
	Append(store.Record) error
}

// Config is the part of the archiver config that shapes scraping.
type Config struct {
	Interval      time.Duration
	Timeout       time.Duration
	BodySizeLimit int64
	Scheme        string // "http" or "https"
	Path          string // "/snapshot"
	// Compression asks agents for zstd or gzip (snapshot.AcceptEncoding);
	// a compressed answer is decoded either way.
	Compression bool
	HTTPClient  commoncfg.HTTPClientConfig
}

// Options are fixed for the Manager's life.
type Options struct {
	Appender Appender
	Logger   *slog.Logger
	// Registerer receives the scrape metrics (nil: not registered).
	Registerer prometheus.Registerer
	// MaxProcessing bounds how many scrapes decompress, check and store a
	// body at once (default 4×GOMAXPROCS, at least 16). Waiting on the network is not
	// bounded by it, so a hanging agent never holds a slot for long.
	MaxProcessing int
}

// AgentStatus is what /api/v1/agents shows for one registered agent.
type AgentStatus struct {
	Target     string            `json:"target"`
	IP         string            `json:"ip"`
	Labels     map[string]string `json:"labels"`
	Health     string            `json:"health"` // "up", "down", "unknown" (not scraped yet)
	LastScrape time.Time         `json:"last_scrape"`
	// LastSuccess is the start of the last scrape whose snapshot was
	// stored: how far back this agent's history is complete.
	LastSuccess  time.Time `json:"last_success"`
	LastError    string    `json:"last_error"`
	LastDuration float64   `json:"last_duration_seconds"`
	// registered is when the agent was registered (or the archiver
	// started): where its history's hole begins until a snapshot is stored.
	registered time.Time
}

// Health values of AgentStatus.
const (
	HealthUp      = "up"
	HealthDown    = "down"
	HealthUnknown = "unknown"
)

// settings is one applied Config with the client built from it; loops load
// it at every scrape, so a reload reaches them without a restart.
type settings struct {
	cfg    Config
	client *http.Client
	proxy  bool
}

// Manager owns the scrape loops.
type Manager struct {
	opts     Options
	log      *slog.Logger
	m        *metrics
	sem      chan struct{}
	settings atomic.Pointer[settings]

	ctx    context.Context // cancelled by Stop: aborts in-flight requests
	cancel context.CancelFunc

	mu      sync.Mutex
	loops   map[string]*loop
	stopped bool
	wg      sync.WaitGroup
}

// NewManager returns a Manager with no targets; ApplyConfig must be called
// before Sync.
func NewManager(o Options) *Manager {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxProcessing <= 0 {
		o.MaxProcessing = max(16, 4*runtime.GOMAXPROCS(0))
	}
	m := &Manager{
		opts:  o,
		log:   o.Logger,
		sem:   make(chan struct{}, o.MaxProcessing),
		loops: map[string]*loop{},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.m = newMetrics(m)
	if o.Registerer != nil {
		m.m.register(o.Registerer)
	}
	return m
}

// ApplyConfig switches every loop to cfg at its next scrape. The HTTP
// client (and its pool of kept-alive connections) is rebuilt only when the
// http_client section changed.
func (m *Manager) ApplyConfig(cfg Config) error {
	if cfg.Interval <= 0 || cfg.Timeout <= 0 || cfg.Timeout > cfg.Interval {
		return fmt.Errorf("scrape timeout %s must be positive and at most the interval %s", cfg.Timeout, cfg.Interval)
	}
	if cfg.BodySizeLimit <= 0 {
		return fmt.Errorf("body size limit %d must be positive", cfg.BodySizeLimit)
	}
	if cfg.Scheme == "" {
		cfg.Scheme = "http"
	}
	if cfg.Path == "" {
		cfg.Path = "/snapshot"
	}
	old := m.settings.Load()
	if old != nil && reflect.DeepEqual(old.cfg.HTTPClient, cfg.HTTPClient) {
		m.settings.Store(&settings{cfg: cfg, client: old.client, proxy: old.proxy})
		return nil
	}
	// Idle connections must outlive the interval, or every scrape pays a
	// new TCP (and TLS) handshake.
	client, err := commoncfg.NewClientFromConfig(cfg.HTTPClient, "archiver",
		commoncfg.WithUserAgent("prexmon-archiver/"+version.Version),
		commoncfg.WithIdleConnTimeout(max(5*time.Minute, 3*cfg.Interval)),
	)
	if err != nil {
		return fmt.Errorf("http_client: %w", err)
	}
	proxy := cfg.HTTPClient.ProxyURL.URL != nil || cfg.HTTPClient.ProxyFromEnvironment
	m.settings.Store(&settings{cfg: cfg, client: client, proxy: proxy})
	if old != nil {
		// Requests in flight keep their connections; only idle ones go.
		old.client.CloseIdleConnections()
	}
	return nil
}

// Sync makes the running loops match ts: new targets get a loop, removed
// ones are stopped after their current scrape, and a target whose labels
// changed is restarted; every other loop is left alone.
func (m *Manager) Sync(ts []targets.Target) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stopped {
		return
	}
	if m.settings.Load() == nil {
		m.log.Error("targets ignored: no scrape configuration applied yet", "targets", len(ts))
		return
	}
	want := make(map[string]targets.Target, len(ts))
	for _, t := range ts {
		want[t.Address] = t
	}
	relabelled := map[string]*loop{}
	for addr, l := range m.loops {
		t, ok := want[addr]
		if !ok || !t.Equal(l.target) {
			l.stop()
			delete(m.loops, addr)
		}
		if ok && !t.Equal(l.target) {
			relabelled[addr] = l
		}
	}
	started := 0
	for addr, t := range want {
		if _, ok := m.loops[addr]; ok {
			continue
		}
		l := newLoop(m, t)
		if old, ok := relabelled[addr]; ok {
			// The same agent under new labels: its history, and so its
			// last success and health, carry over.
			st := old.status()
			st.Labels = t.Labels
			l.st = st
		}
		m.loops[addr] = l
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			l.run()
		}()
		started++
	}
	if started > 0 {
		m.log.Info("targets synced", "targets", len(m.loops), "started", started)
	}
}

// Stop ends every loop, aborting requests in flight, and waits for them.
// A snapshot already being written is finished first, so nothing that was
// fully received is lost at shutdown.
func (m *Manager) Stop() {
	m.mu.Lock()
	m.stopped = true
	for addr, l := range m.loops {
		l.stop()
		delete(m.loops, addr)
	}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	if s := m.settings.Load(); s != nil {
		s.client.CloseIdleConnections()
	}
}

// Agents lists the registered agents with their last scrape, sorted by
// target.
func (m *Manager) Agents() []AgentStatus {
	out := m.statuses()
	slices.SortFunc(out, func(a, b AgentStatus) int { return strings.Compare(a.Target, b.Target) })
	return out
}

// statuses copies every loop's status, in no particular order.
func (m *Manager) statuses() []AgentStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]AgentStatus, 0, len(m.loops))
	for _, l := range m.loops {
		out = append(out, l.status())
	}
	return out
}

// offset is the target's stable place in the interval: the same target
// always scrapes at the same phase, and many targets spread evenly.
func offset(addr string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(addr))
	return h.Sum64()
}

// nextSlot is the first time after now whose phase in interval is
// off mod interval.
func nextSlot(now time.Time, interval time.Duration, off uint64) time.Time {
	phase := time.Duration(off % uint64(interval))
	slot := now.Truncate(interval).Add(phase)
	if !slot.After(now) {
		slot = slot.Add(interval)
	}
	return slot
}
