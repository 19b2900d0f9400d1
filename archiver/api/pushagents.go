package api

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/prexmon/prexmon/archiver/intake"
	"github.com/prexmon/prexmon/archiver/scrape"
	"github.com/prexmon/prexmon/archiver/store"
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

// pushAgents keeps what the push intake knows of each pushing client
// address: when its last snapshot was stored, so that a pushing agent that
// falls silent is named by an alert the way a scraped one is, through
// archiver_agent_last_archived_timestamp_seconds{source="push"}; and the
// newest scraped_at queued for it, the floor that keeps its day file in
// time order when snapshots are filed by their age.
type pushAgents struct {
	desc *prometheus.Desc
	now  func() time.Time
	// latest reads an address's newest stored line (Store.Latest; nil:
	// nothing stored before this process), and start is when this process
	// began: a line after it is this process's own.
	latest func(netip.Addr) ([]byte, error)
	start  time.Time

	mu   sync.Mutex
	last map[netip.Addr]pushed
	// turns serialises, per address, deciding a push's scraped_at and
	// queueing its line, so an address's lines reach its file in the
	// order of their times; an address has an entry while a push of it
	// is being filed.
	turns map[netip.Addr]*turn
}

// turn is one address's right to file: a one-place channel, so that
// waiting for it can give up with the push, and how many pushes hold or
// wait for it.
type turn struct {
	ch    chan struct{}
	users int
}

// pushed is what is known of a client's pushes.
type pushed struct {
	arrived time.Time // its last stored push arrived (zero: none yet)
	filed   time.Time // newest scraped_at queued for it: the floor
	// before is the scraped_at of its newest line stored before this
	// process started (zero: none), and loaded whether it was read.
	before time.Time
	loaded bool
}

// newest is the latest time known: what a client is forgotten by.
func (p pushed) newest() time.Time { return later(later(p.arrived, p.filed), p.before) }

func newPushAgents(latest func(netip.Addr) ([]byte, error)) *pushAgents {
	return &pushAgents{desc: scrape.LastArchivedDesc(scrape.SourcePush), now: time.Now, latest: latest, start: time.Now(),
		last: map[netip.Addr]pushed{}, turns: map[netip.Addr]*turn{}}
}

// takeTurn waits for ip's turn to file, or for ctx; release gives it back.
func (p *pushAgents) takeTurn(ctx context.Context, ip netip.Addr) (release func(), err error) {
	p.mu.Lock()
	t := p.turns[ip]
	if t == nil {
		t = &turn{ch: make(chan struct{}, 1)}
		p.turns[ip] = t
	}
	t.users++
	p.mu.Unlock()
	leave := func() {
		p.mu.Lock()
		if t.users--; t.users == 0 {
			delete(p.turns, ip)
		}
		p.mu.Unlock()
	}
	select {
	case t.ch <- struct{}{}:
		return func() { <-t.ch; leave() }, nil
	case <-ctx.Done():
		leave()
		return nil, ctx.Err()
	}
}

// stored records that a snapshot pushed by ip, arrived at arrived, is
// stored. An earlier time never moves it back.
func (p *pushAgents) stored(ip netip.Addr, arrived time.Time) {
	p.update(ip, func(v *pushed, _ bool) bool { v.arrived = later(v.arrived, arrived); return true })
}

// queued raises ip's floor to filed, the scraped_at of a line just queued.
func (p *pushAgents) queued(ip netip.Addr, filed time.Time) {
	p.update(ip, func(v *pushed, _ bool) bool { v.filed = later(v.filed, filed); return true })
}

// update applies change to ip's entry, making one if there is none
// (forgetting the longest-silent client if the map is full), unless
// change reports false for a new entry; it returns the entry.
func (p *pushAgents) update(ip netip.Addr, change func(v *pushed, isNew bool) (keep bool)) pushed {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.last[ip]
	if !change(&v, !ok) && !ok {
		return v
	}
	if !ok && len(p.last) >= maxPushAgents {
		p.forgetOldest()
	}
	p.last[ip] = v
	return v
}

// load reads, once per address, its newest line stored before this
// process started: the floor for its first push (whichever of the first
// push and the start-up scan comes first reads it), the series of an agent
// that pushed before a restart, and the limit of the dedup lookup.
func (p *pushAgents) load(ip netip.Addr) pushed { return p.loadFor(ip, true) }

// loadFor is load; without keepEmpty an address whose newest line is not
// a push gets no entry (the start-up scan: scraped agents are most of the
// archive, and would only crowd the map).
func (p *pushAgents) loadFor(ip netip.Addr, keepEmpty bool) pushed {
	p.mu.Lock()
	v, ok := p.last[ip]
	p.mu.Unlock()
	if (ok && v.loaded) || p.latest == nil {
		return v
	}
	var before time.Time
	line, err := p.latest(ip)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return v // unreadable now: read again at the next push
	}
	if t, ok := pushedAt(line); err == nil && ok && !t.After(p.start) {
		before = t
	}
	// Without keepEmpty, nothing to name makes no entry: the first push
	// loads the address anyway.
	keep := keepEmpty || (!before.IsZero() && !before.Before(p.now().Add(-pushAgentForget)))
	return p.update(ip, func(v *pushed, isNew bool) bool {
		if isNew && !keep {
			return false
		}
		if !v.loaded {
			v.loaded, v.before = true, before
			v.arrived = later(v.arrived, before)
			v.filed = later(v.filed, before)
		}
		return true
	})
}

// file decides the scraped_at of a push from ip that arrived at now (see
// fileAt) and queues its line with submit, both in ip's turn, so that a
// concurrent push from the same address (agents behind one NAT, one
// replaying its spool) cannot be queued between them with an earlier
// time. The fsync is waited for outside it. ctx bounds the wait for the
// turn and for room in the store's queue; then nothing is queued.
func (p *pushAgents) file(ctx context.Context, ip netip.Addr, now time.Time, age time.Duration, hasAge bool,
	submit func(ctx context.Context, filed time.Time) (func(context.Context) error, error)) (time.Time, func(context.Context) error, error) {
	p.load(ip)
	release, err := p.takeTurn(ctx, ip)
	if err != nil {
		return time.Time{}, nil, err
	}
	defer release()
	filed := p.fileAt(ip, now, age, hasAge)
	wait, err := submit(ctx, filed)
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

// fileAt is the scraped_at of a snapshot from ip that arrived at now and,
// with hasAge, was collected age before it (snapshot.AgeHeader): now - age,
// on the archiver's clock, when that is today (UTC) and not before the
// newest line queued for the client, so that each day file stays in time
// order and no push reopens an earlier day; otherwise its arrival, as
// without the header (a replay that crossed midnight lands there, as
// before). Never before that newest line.
func (p *pushAgents) fileAt(ip netip.Addr, now time.Time, age time.Duration, hasAge bool) time.Time {
	p.mu.Lock()
	floor := p.last[ip].filed
	p.mu.Unlock()
	at := now.Add(-age)
	if !hasAge || at.Before(now.Truncate(24*time.Hour)) || at.Before(floor) {
		return later(now, floor)
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
		// An address loaded with nothing pushed stays (it is read once);
		// the bound on the map retires those first.
		if n := t.newest(); !n.IsZero() && n.Before(cutoff) {
			delete(p.last, ip)
			continue
		}
		if !t.arrived.IsZero() {
			ch <- prometheus.MustNewConstMetric(p.desc, prometheus.GaugeValue, float64(t.arrived.UnixNano())/1e9, ip.String())
		}
	}
}

// warm loads every address in the archive (see load) at start, so that an
// agent that pushed within pushAgentForget and fell silent before a
// restart of the archiver is still named after it, instead of vanishing
// from the alert. It reads one line per address and stops with ctx.
func (p *pushAgents) warm(ctx context.Context, addrs func() ([]netip.Addr, error)) error {
	ips, err := addrs()
	if err != nil {
		return err
	}
	for _, ip := range ips {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		p.loadFor(ip, false)
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
