package push

import (
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry delays: from minBackoff, doubling, up to the push interval but
// never more than maxBackoff; a Retry-After is honoured up to
// maxRetryAfter.
const (
	minBackoff    = time.Second
	maxBackoff    = 5 * time.Minute
	maxRetryAfter = time.Hour
)

// backoff is the delay before the next retry of a failing push. Each delay
// is drawn from its upper half at random, so agents that failed together do
// not retry together.
type backoff struct {
	max    time.Duration
	n      int
	jitter func(time.Duration) time.Duration // randomJitter, but in tests
}

func newBackoff(interval time.Duration, jitter func(time.Duration) time.Duration) *backoff {
	return &backoff{max: min(max(interval, minBackoff), maxBackoff), jitter: jitter}
}

// randomJitter returns a duration from 0 to d, both included, at random.
func randomJitter(d time.Duration) time.Duration { return rand.N(d + 1) }

func (b *backoff) next() time.Duration {
	d := b.max
	if b.n < 30 {
		d = min(b.max, minBackoff<<b.n)
	}
	b.n++
	return d/2 + b.jitter(d/2)
}

func (b *backoff) reset() { b.n = 0 }

// retryAfter reads a Retry-After field, delay-seconds or an HTTP date, as
// a duration from now; 0 when absent or unreadable.
func retryAfter(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseUint(v, 10, 32); err == nil {
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// phase is where in each interval this agent pushes: a stable hash of what
// identifies it, as Prometheus spreads its targets, so a fleet restarted
// together does not push together, and one agent keeps its rhythm across
// restarts.
func phase(id string, interval time.Duration) time.Duration {
	h := fnv.New64a()
	h.Write([]byte(id))
	return time.Duration(h.Sum64() % uint64(interval))
}

// nextTick is the first moment after now that sits at offset in the
// interval grid.
func nextTick(now time.Time, interval, offset time.Duration) time.Time {
	into := time.Duration(now.UnixNano() % int64(interval))
	wait := (offset - into + interval) % interval
	if wait == 0 {
		wait = interval
	}
	return now.Add(wait)
}
