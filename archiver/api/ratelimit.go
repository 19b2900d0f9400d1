package api

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// maxLimitedClients bounds the token buckets kept. A bucket left alone
// long enough to refill is the same as a new one and is dropped first;
// past the bound, arbitrary ones go, which at worst gives a client a fresh
// burst.
const maxLimitedClients = 1 << 16

// rateLimiters holds one token bucket per pushing client address.
type rateLimiters struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	clients map[netip.Addr]*clientLimiter
}

type clientLimiter struct {
	lim  *rate.Limiter
	last time.Time
}

// allow takes a token from ip's bucket, or reports how long until one is
// there. perSec <= 0 means no limit.
func (l *rateLimiters) allow(ip netip.Addr, now time.Time, perSec float64, burst int) (bool, time.Duration) {
	if perSec <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.clients == nil || l.limit != rate.Limit(perSec) || l.burst != burst {
		// A reload changed the limit: start every client afresh.
		l.limit, l.burst = rate.Limit(perSec), burst
		l.clients = map[netip.Addr]*clientLimiter{}
	}
	c := l.clients[ip]
	if c == nil {
		if len(l.clients) >= maxLimitedClients {
			l.sweep(now)
		}
		c = &clientLimiter{lim: rate.NewLimiter(l.limit, l.burst)}
		l.clients[ip] = c
	}
	c.last = now
	r := c.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep drops the buckets that have refilled, and if that is not enough an
// eighth of the rest, so sweeps stay rare under a spray of addresses.
func (l *rateLimiters) sweep(now time.Time) {
	refill := time.Duration(float64(l.burst) / float64(l.limit) * float64(time.Second))
	for ip, c := range l.clients {
		if now.Sub(c.last) >= refill {
			delete(l.clients, ip)
		}
	}
	for ip := range l.clients {
		if len(l.clients) < maxLimitedClients*7/8 {
			break
		}
		delete(l.clients, ip)
	}
}
