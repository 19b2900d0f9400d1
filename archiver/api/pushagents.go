package api

import (
	"bytes"
	"context"
	"hash/maphash"
	"net/netip"
	"sync"
	"time"

	"github.com/prexmon/prexmon/archiver/intake"
	"github.com/prexmon/prexmon/archiver/scrape"
	"github.com/prometheus/client_golang/prometheus"
)

const (
	// pushAgentForget is how long a pushing agent keeps its
	// archiver_agent_last_archived_timestamp_seconds series after its last
	// stored push. Pushing agents are registered nowhere, so only silence
	// can retire one: long enough that an agent down over a long weekend
	// still alerts, short enough that a decommissioned one stops alerting
	// by itself (silence it meanwhile).
	pushAgentForget = 7 * 24 * time.Hour
	// maxPushAgents bounds the series (and memory) pushing clients can
	// make; past it the longest-silent one is forgotten first.
	maxPushAgents = 65536
)

// pushAgents remembers when each pushing client's last snapshot was
// stored, so that a pushing agent that falls silent is named by an alert
// the way a scraped one is, through
// archiver_agent_last_archived_timestamp_seconds{source="push"}.
type pushAgents struct {
	desc *prometheus.Desc
	now  func() time.Time

	// order serialises, per address (striped), deciding a push's
	// scraped_at and queueing its line, so an address's lines reach its
	// file in the order of their times.
	order [64]sync.Mutex
	seed  maphash.Seed

	mu   sync.Mutex
	last map[netip.Addr]pushed
}

// pushed is what is known of a client's pushes: when its last stored one
// arrived (the metric: the agent was alive then; zero while none is
// stored), and the newest scraped_at queued for it (the floor for the
// next, so its lines stay in time order).
type pushed struct{ arrived, filed time.Time }

// newest is the later of the two: what a client is forgotten by.
func (p pushed) newest() time.Time { return later(p.arrived, p.filed) }

func newPushAgents() *pushAgents {
	return &pushAgents{desc: scrape.LastArchivedDesc(scrape.SourcePush), now: time.Now, seed: maphash.MakeSeed(), last: map[netip.Addr]pushed{}}
}

// stored records that a snapshot pushed by ip, arrived at arrived, is
// stored. An earlier time never moves it back.
func (p *pushAgents) stored(ip netip.Addr, arrived time.Time) {
	p.update(ip, func(v *pushed) { v.arrived = later(v.arrived, arrived) })
}

// queued raises ip's floor to filed, the scraped_at of a line just queued.
func (p *pushAgents) queued(ip netip.Addr, filed time.Time) {
	p.update(ip, func(v *pushed) { v.filed = later(v.filed, filed) })
}

func (p *pushAgents) update(ip netip.Addr, change func(*pushed)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.last[ip]
	if !ok && len(p.last) >= maxPushAgents {
		p.forgetOldest()
	}
	change(&v)
	p.last[ip] = v
}

// file decides the scraped_at of a push from ip that arrived at now (see
// fileAt; now without an age) and queues its line with submit, both under
// ip's lock, so that a concurrent push from the same address (agents
// behind one NAT, one replaying its spool) cannot be queued between them
// with an earlier time. The fsync is waited for outside it.
func (p *pushAgents) file(ip netip.Addr, now time.Time, age time.Duration, hasAge bool,
	submit func(filed time.Time) (func(context.Context) error, error)) (time.Time, func(context.Context) error, error) {
	l := &p.order[maphash.Comparable(p.seed, ip)%uint64(len(p.order))]
	l.Lock()
	defer l.Unlock()
	filed := now
	if hasAge {
		filed = p.fileAt(ip, now, age)
	}
	wait, err := submit(filed)
	if err == nil {
		p.queued(ip, filed)
	}
	return filed, wait, err
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// fileAt is the scraped_at of a snapshot from ip that arrived at now and
// was collected age before it (snapshot.AgeHeader): now - age, on the
// archiver's clock, when that is today (UTC) and not before the newest
// line queued for the client, so that each day file stays in time order
// and no push reopens an earlier day; otherwise its arrival, as without
// the header (a replay that crossed midnight lands there, as before), or
// that newest line's time if later.
func (p *pushAgents) fileAt(ip netip.Addr, now time.Time, age time.Duration) time.Time {
	at := now.Add(-age)
	if at.Before(now.Truncate(24 * time.Hour)) {
		return now
	}
	p.mu.Lock()
	prev, ok := p.last[ip]
	p.mu.Unlock()
	if ok && at.Before(prev.filed) {
		return later(now, prev.filed)
	}
	return at
}

// forgetOldest drops the longest-silent client; it runs only when the map
// is full, so its scan costs nothing in normal operation.
func (p *pushAgents) forgetOldest() {
	var oldest netip.Addr
	var at time.Time
	for ip, t := range p.last {
		if !oldest.IsValid() || t.newest().Before(at) {
			oldest, at = ip, t.newest()
		}
	}
	delete(p.last, oldest)
}

func (p *pushAgents) Describe(ch chan<- *prometheus.Desc) { ch <- p.desc }

func (p *pushAgents) Collect(ch chan<- prometheus.Metric) {
	cutoff := p.now().Add(-pushAgentForget)
	p.mu.Lock()
	defer p.mu.Unlock()
	for ip, t := range p.last {
		if t.newest().Before(cutoff) {
			delete(p.last, ip)
			continue
		}
		if !t.arrived.IsZero() {
			ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, float64(t.arrived.UnixNano())/1e9, ip.String())
		}
	}
}

// warm finds the clients whose newest stored line was pushed within
// pushAgentForget, so that an agent that fell silent before a restart
// of the archiver is still named after it, instead of vanishing from the
// alert. It reads one line per address and stops with ctx.
func (p *pushAgents) warm(ctx context.Context, addrs func() ([]netip.Addr, error), latest func(netip.Addr) ([]byte, error)) error {
	ips, err := addrs()
	if err != nil {
		return err
	}
	cutoff := p.now().Add(-pushAgentForget)
	for _, ip := range ips {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line, err := latest(ip)
		if err != nil {
			continue // no complete line, or unreadable: nothing to name
		}
		if t, ok := pushedAt(line); ok && t.After(cutoff) {
			p.stored(ip, t)
			p.queued(ip, t)
		}
	}
	return nil
}

// pushedAt returns the scraped_at of a stored line that a push made (its
// target is empty; a scrape always names its target).
func pushedAt(line []byte) (time.Time, bool) {
	target, ok := intake.TopLevelValue(line, "target")
	if !ok || !bytes.Equal(target, []byte(`""`)) {
		return time.Time{}, false
	}
	raw, ok := intake.TopLevelValue(line, "scraped_at")
	if !ok || len(raw) < 2 || raw[0] != '"' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(raw[1:len(raw)-1]))
	return t, err == nil
}
