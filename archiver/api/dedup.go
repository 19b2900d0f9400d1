package api

import (
	"context"
	"errors"
	"hash/maphash"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/prexmon/prexmon/archiver/intake"
	"github.com/prexmon/prexmon/archiver/store"
)

// Pushes are delivered at least once: an agent retries whatever was not
// answered 200, and answers get lost. dedup recognises a snapshot pushed
// again by the same client address with the same collected_at, among the
// last dedupWindow snapshots stored for that address and those still being
// stored, so that it is stored once. The window of an address is filled
// from the last dedupWarmSpan of its current day file when it first pushes
// after a start (or after being forgotten), so a retry across a restart is
// recognised too. Past maxDedupClients addresses, arbitrary idle ones are
// forgotten.
const (
	dedupWindow     = 32
	maxDedupClients = 1 << 16
	dedupWarmSpan   = time.Hour
)

// dedupKey names one snapshot of one client; the zero key (no collected_at)
// is never deduplicated.
type dedupKey struct {
	client netip.Addr
	at     uint64 // seeded hash of the raw collected_at
	valid  bool
}

// pushJob is one snapshot being stored; finished is closed once err is
// its outcome.
type pushJob struct {
	finished  chan struct{}
	err       error
	scrapedAt time.Time
}

type clientPushes struct {
	recent   [dedupWindow]uint64 // ring of stored keys; 0 is empty
	next     int
	inflight map[uint64]*pushJob
	warmed   chan struct{} // closed once recent holds the day file's tail
}

type dedup struct {
	once    sync.Once
	seed    maphash.Seed
	mu      sync.Mutex
	clients map[netip.Addr]*clientPushes
}

func (d *dedup) init() {
	d.once.Do(func() {
		d.seed = maphash.MakeSeed()
		d.clients = map[netip.Addr]*clientPushes{}
	})
}

func (d *dedup) key(client netip.Addr, collectedAt []byte) dedupKey {
	return dedupKey{client: client, at: d.hash(collectedAt), valid: true}
}

func (d *dedup) hash(collectedAt []byte) uint64 {
	d.init()
	// |1: never the empty slot's 0. The seed keeps clients from choosing
	// collisions.
	return maphash.Bytes(d.seed, collectedAt) | 1
}

// client returns client's entry, creating it; the caller holds d.mu.
func (d *dedup) client(ip netip.Addr) *clientPushes {
	c := d.clients[ip]
	if c == nil {
		if len(d.clients) >= maxDedupClients {
			d.evict()
		}
		c = &clientPushes{inflight: map[uint64]*pushJob{}}
		d.clients[ip] = c
	}
	return c
}

// warm makes sure ip's window holds what load returns (the collected_at
// hashes of its latest stored snapshots, oldest first) before any push of
// ip is looked up: the first caller loads, the others wait for it.
func (d *dedup) warm(ip netip.Addr, load func() ([]uint64, error)) {
	d.init()
	d.mu.Lock()
	c := d.client(ip)
	if c.warmed != nil {
		ch := c.warmed
		d.mu.Unlock()
		<-ch
		return
	}
	ch := make(chan struct{})
	c.warmed = ch
	d.mu.Unlock()
	defer close(ch)

	keys, err := load()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.clients[ip] != c {
		return // evicted meanwhile
	}
	if err != nil {
		// The next push of this client tries again rather than living
		// with a window that missed the day file's tail.
		c.warmed = nil
	}
	for _, k := range keys[max(0, len(keys)-dedupWindow):] {
		if !slices.Contains(c.recent[:], k) {
			c.recent[c.next] = k
			c.next = (c.next + 1) % dedupWindow
		}
	}
}

// begin registers a new job for k, unless k was stored (stored) or is being
// stored (prior, whose outcome to wait for).
func (d *dedup) begin(k dedupKey) (job, prior *pushJob, stored bool) {
	job = &pushJob{finished: make(chan struct{})}
	if !k.valid {
		return job, nil, false
	}
	d.init()
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.client(k.client)
	for _, at := range c.recent {
		if at == k.at {
			return nil, nil, true
		}
	}
	if p := c.inflight[k.at]; p != nil {
		return nil, p, false
	}
	c.inflight[k.at] = job
	return job, nil, false
}

// evict forgets a client with nothing in flight and not being warmed; map
// order makes it an arbitrary one, which is all a bound on memory needs.
func (d *dedup) evict() {
	for ip, c := range d.clients {
		if len(c.inflight) == 0 && isClosed(c.warmed) {
			delete(d.clients, ip)
			return
		}
	}
}

func isClosed(ch chan struct{}) bool {
	if ch == nil {
		return true
	}
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// storedKeys reads the collected_at hashes of the snapshots stored for ip
// in the last dedupWarmSpan of today's file, oldest first.
func (a *api) storedKeys(ctx context.Context, ip netip.Addr) ([]uint64, error) {
	// Not the pushing request's own deadline: a client that hangs up
	// must not leave its address with a half-read window.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dedupWarmTimeout)
	defer cancel()
	now := time.Now().UTC()
	var keys []uint64
	err := a.o.Store.ReadDay(ctx, ip, now, store.Query{From: now.Add(-dedupWarmSpan)}, func(line []byte) error {
		if snap, ok := intake.TopLevelValue(line, "snapshot"); ok {
			if at, ok := intake.CollectedAtRaw(snap); ok {
				keys = append(keys, a.dedup.hash(at))
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		a.log.Warn("cannot read recent pushes for deduplication", "client", ip, "err", err)
		return keys, err
	}
	return keys, nil
}

// storedNear looks for a pushed snapshot of ip whose collected_at hashes
// to key among the lines filed within dedupNearSpan of at, and no later
// than before, ip's newest line stored before this process started (see
// pushAgents.load), and returns its scraped_at. Only those: every line
// this process writes is filed after before, and one of them that matches
// is either in the dedup window or a line whose fsync failed, which must
// not count as stored. Today's file only: an earlier moment is never filed
// by its age.
func (a *api) storedNear(ctx context.Context, ip netip.Addr, at, before time.Time, key uint64) (time.Time, bool) {
	to := at.Add(dedupNearSpan)
	if before.Before(to) {
		to = before
	}
	from := at.Add(-dedupNearSpan)
	if at.Before(time.Now().UTC().Truncate(24*time.Hour)) || to.Before(from) {
		return time.Time{}, false
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dedupWarmTimeout)
	defer cancel()
	var found time.Time
	errFound := errors.New("found")
	err := a.o.Store.ReadDay(ctx, ip, at, store.Query{From: from, To: to}, func(line []byte) error {
		filed, pushed := pushedAt(line)
		snap, ok := intake.TopLevelValue(line, "snapshot")
		if !pushed || !ok || filed.After(before) {
			return nil
		}
		if raw, ok := intake.CollectedAtRaw(snap); ok && a.dedup.hash(raw) == key {
			found = filed
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) && !errors.Is(err, store.ErrNotFound) {
		a.log.Warn("cannot look for an earlier copy of a replayed push", "client", ip, "err", err)
	}
	return found, errors.Is(err, errFound)
}

// dedupNearSpan is how far from where a replayed snapshot would be filed
// an earlier copy may lie: the agent measures its age again at each send,
// so only network delays and clock drift between the two sends separate
// them.
const dedupNearSpan = 2 * time.Minute

// dedupWarmTimeout bounds reading the last hour of a client's day file.
const dedupWarmTimeout = 10 * time.Second

// finish records job's outcome: a stored key joins its client's window,
// a failed one is forgotten so that a retry stores it.
func (d *dedup) finish(k dedupKey, job *pushJob, err error) {
	job.err = err
	if k.valid {
		d.mu.Lock()
		if c := d.clients[k.client]; c != nil {
			delete(c.inflight, k.at)
			if err == nil {
				c.recent[c.next] = k.at
				c.next = (c.next + 1) % dedupWindow
			}
		}
		d.mu.Unlock()
	}
	close(job.finished)
}
