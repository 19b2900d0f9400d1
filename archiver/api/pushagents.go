package api

import (
	"bytes"
	"context"
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

	mu   sync.Mutex
	last map[netip.Addr]pushed
}

// pushed is a client's last stored push: when it arrived (the metric: the
// agent was alive then) and the scraped_at it was filed under (the floor
// for the next one, so the client's lines stay in time order).
type pushed struct{ arrived, filed time.Time }

func newPushAgents() *pushAgents {
	return &pushAgents{desc: scrape.LastArchivedDesc(scrape.SourcePush), now: time.Now, last: map[netip.Addr]pushed{}}
}

// stored records that a snapshot pushed by ip, arrived at arrived, is
// stored as of filed. Earlier times (the warm-up reading a line older than
// a push since) never move either back.
func (p *pushAgents) stored(ip netip.Addr, arrived, filed time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if prev, ok := p.last[ip]; ok {
		p.last[ip] = pushed{arrived: later(prev.arrived, arrived), filed: later(prev.filed, filed)}
		return
	}
	if len(p.last) >= maxPushAgents {
		p.forgetOldest()
	}
	p.last[ip] = pushed{arrived: arrived, filed: filed}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// fileAt is the scraped_at of a snapshot from ip that arrived at now and
// was collected age before it (snapshot.AgeHeader): now - age, on the
// archiver's clock, when that is today (UTC) and not before the client's
// last stored line, so that each day file stays in time order and no
// push reopens an earlier day; otherwise now, as without the header (a
// replay that crossed midnight lands at its arrival, as before).
func (p *pushAgents) fileAt(ip netip.Addr, now time.Time, age time.Duration) time.Time {
	at := now.Add(-age)
	if at.Before(now.Truncate(24 * time.Hour)) {
		return now
	}
	p.mu.Lock()
	prev, ok := p.last[ip]
	p.mu.Unlock()
	if ok && at.Before(prev.filed) {
		return now
	}
	return at
}

// forgetOldest drops the longest-silent client; it runs only when the map
// is full, so its scan costs nothing in normal operation.
func (p *pushAgents) forgetOldest() {
	var oldest netip.Addr
	var at time.Time
	for ip, t := range p.last {
		if !oldest.IsValid() || t.arrived.Before(at) {
			oldest, at = ip, t.arrived
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
		if t.arrived.Before(cutoff) {
			delete(p.last, ip)
			continue
		}
		ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, float64(t.arrived.UnixNano())/1e9, ip.String())
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
			p.stored(ip, t, t)
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
