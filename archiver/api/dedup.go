package api

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// Pushes are delivered at least once: an agent retries whatever was not
// answered 200, and answers get lost. dedup recognises a snapshot pushed
// again by the same client address with the same collected_at, among the
// last dedupWindow snapshots stored for that address since the archiver
// started and those still being stored, so that it is stored once. An
// address out of the last maxDedupClients that pushed is forgotten first.
const (
	dedupWindow     = 32
	maxDedupClients = 1 << 16
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
	d.init()
	// |1: never the empty slot's 0. The seed keeps clients from choosing
	// collisions.
	return dedupKey{client: client, at: maphash.Bytes(d.seed, collectedAt) | 1, valid: true}
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
	c := d.clients[k.client]
	if c == nil {
		if len(d.clients) >= maxDedupClients {
			d.evict()
		}
		c = &clientPushes{inflight: map[uint64]*pushJob{}}
		d.clients[k.client] = c
	}
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

// evict forgets a client with nothing in flight; map order makes it an
// arbitrary one, which is all a bound on memory needs.
func (d *dedup) evict() {
	for ip, c := range d.clients {
		if len(c.inflight) == 0 {
			delete(d.clients, ip)
			return
		}
	}
}

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
