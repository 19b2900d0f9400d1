package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prexmon/prexmon/archiver/config"
	"github.com/prexmon/prexmon/archiver/intake"
	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// pushTimeout bounds how long a push waits for its fsync before the client
// is told to retry.
const pushTimeout = 30 * time.Second

// DefaultPushMemory bounds the buffers of the pushes in progress: room for
// a few pushes at the largest body_size_limit at once, thousands of real
// ones (100 KB each), and a process that stays small whatever is sent.
const DefaultPushMemory = 192 << 20

var pushResults = []string{"stored", "duplicate", "unauthorized", "forbidden", "rate_limited", "overloaded", "bad_request", "too_large", "unconfirmed", "error"}

// push takes a snapshot from an agent that the archiver cannot reach. The
// 200 is sent only after the line is fsynced, so an acknowledged push
// survives a crash; the agent retries anything else, and a retry of a
// snapshot already stored (same client, same collected_at) is answered 200
// without storing it again.
//
// Everything that can refuse a push without its body (client address,
// token, rate limit, concurrency) runs before a byte of it is read, and
// those answers close the connection so that net/http does not read the
// body either.
func (a *api) push(w http.ResponseWriter, r *http.Request) {
	result := "error"
	defer func() { a.pushes.WithLabelValues(result).Inc() }()
	fail := func(code int, res, typ, msg string) {
		result = res
		writeError(w, code, typ, msg)
	}
	refuse := func(code int, res, typ, msg string) {
		w.Header().Set("Connection", "close")
		fail(code, res, typ, msg)
	}

	if a.o.Store == nil {
		refuse(http.StatusServiceUnavailable, "error", errUnavailable, "storage is not available")
		return
	}
	client, err := a.clientIP(r)
	if err != nil {
		refuse(http.StatusBadRequest, "bad_request", errBadData, err.Error())
		return
	}
	if a.o.PushAllowed != nil && !a.o.PushAllowed(client) {
		refuse(http.StatusForbidden, "forbidden", errForbidden, "pushes from "+client.String()+" are not allowed (api.push_allowed_cidrs)")
		return
	}
	var tokens []string
	if a.o.WriteTokens != nil {
		tokens = a.o.WriteTokens()
	}
	if len(tokens) == 0 {
		refuse(http.StatusForbidden, "forbidden", errForbidden, "push is disabled: no write tokens configured (api.write_tokens_file)")
		return
	}
	if !bearerOK(r, tokens) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="prexmon"`)
		refuse(http.StatusUnauthorized, "unauthorized", errUnauthorized, "a valid write token is required (Authorization: Bearer <token>)")
		return
	}
	if a.o.PushRateLimit != nil {
		perSec, burst := a.o.PushRateLimit()
		if ok, wait := a.limiters.allow(client, time.Now(), perSec, burst); !ok {
			setRetryAfter(w, wait)
			refuse(http.StatusTooManyRequests, "rate_limited", errRateLimited, "too many pushes from "+client.String()+" (api.push_rate_limit); retry later")
			return
		}
	}
	age, hasAge, err := snapshot.ParseAge(r.Header)
	if err != nil {
		refuse(http.StatusBadRequest, "bad_request", errBadData, err.Error())
		return
	}
	limit := a.maxBody()
	if r.ContentLength > limit {
		refuse(http.StatusRequestEntityTooLarge, "too_large", errTooLarge, fmt.Sprintf("snapshot larger than %d bytes", limit))
		return
	}
	if !a.enterPush() {
		setRetryAfter(w, time.Second)
		refuse(http.StatusServiceUnavailable, "overloaded", errUnavailable, "too many pushes at once (api.max_concurrent_pushes); retry later")
		return
	}
	// From here on the push holds a slot and memory, given back by done
	// once its line is stored or refused, which may be after the
	// handler has answered.
	p := &pending{a: a, wire: a.bodyPool.get(), plain: a.bodyPool.get()}
	handedOff := false
	defer func() {
		if !handedOff {
			p.done()
		}
	}()

	body, code, typ, err := a.readBody(w, r, p, limit)
	if err != nil {
		res := "bad_request"
		switch code {
		case http.StatusRequestEntityTooLarge:
			res = "too_large"
		case http.StatusServiceUnavailable:
			res = "overloaded"
			setRetryAfter(w, time.Second)
			w.Header().Set("Connection", "close")
		}
		fail(code, res, typ, err.Error())
		return
	}
	if err := intake.CheckRaw(body); err != nil {
		fail(http.StatusBadRequest, "bad_request", errBadData, err.Error())
		return
	}
	// The store copies body into its line: up to twice its size while the
	// line grows.
	if !p.reserve(p.held + 2*int64(len(body)) + 4<<10) {
		setRetryAfter(w, time.Second)
		fail(http.StatusServiceUnavailable, "overloaded", errUnavailable, "too many pushes at once (push memory); retry later")
		return
	}

	var key dedupKey
	if at, ok := intake.CollectedAtRaw(body); ok {
		key = a.dedup.key(client, at)
		a.dedup.warm(client, func() ([]uint64, error) { return a.storedKeys(r.Context(), client) })
	}
	job, prior, stored := a.dedup.begin(key)
	if job != nil && key.valid && hasAge && age > dedupWarmSpan/2 {
		// Filed by its age, a replayed snapshot stored by the process
		// before a restart can be older than the span the window was
		// warmed from: look for it where it would have been filed, among
		// that process's lines only (see storedNear; a long replay after
		// downtime is newer than them all and reads nothing).
		if before := a.pushAgents.load(client).before; !before.IsZero() {
			if at, found := a.storedNear(r.Context(), client, time.Now().UTC().Add(-age), before, key.at); found {
				job.scrapedAt = at
				a.dedup.finish(key, job, nil)
				job, prior, stored = nil, nil, true
			}
		}
	}
	if stored || prior != nil {
		// Our copy is not needed: the same snapshot is stored or being stored.
		p.done()
		handedOff = true
		if stored {
			result = "duplicate"
			writeData(w, map[string]any{"ip": client.String(), "bytes": len(body), "duplicate": true})
			return
		}
		job = prior
	} else {
		now := time.Now().UTC()
		// Waiting for the address's turn or for room in the store's
		// queue (a stalled disk) ends with the push's wait for its fsync.
		qctx, cancel := context.WithTimeout(r.Context(), a.pushWait)
		filed, wait, err := a.pushAgents.file(qctx, client, now, age, hasAge, func(ctx context.Context, filed time.Time) (func(context.Context) error, error) {
			return a.submit(ctx, store.Record{IP: client, ScrapedAt: filed, Snapshot: body})
		})
		cancel()
		if err != nil {
			filed = now
		}
		job.scrapedAt = filed
		handedOff = true
		go func() {
			// Not the request's context: the line is written whatever the
			// client does, and the outcome is kept for its retries.
			if err == nil {
				err = wait(context.Background())
			}
			if err == nil {
				a.pushAgents.stored(client, now)
			}
			a.dedup.finish(key, job, err)
			p.done()
		}()
	}

	t := time.NewTimer(a.pushWait)
	defer t.Stop()
	select {
	case <-job.finished:
	case <-t.C:
		a.log.Warn("push not yet durable", "client", client, "waited", a.pushWait)
		setRetryAfter(w, 5*time.Second)
		msg := "snapshot accepted and being written, but its fsync has not completed yet: durability is not confirmed. A retry is safe: it is deduplicated and answered 200 once the snapshot is stored"
		if !key.valid {
			msg = "snapshot accepted and being written, but its fsync has not completed yet: durability is not confirmed. It has no collected_at, so a retry may store it twice"
		}
		fail(http.StatusServiceUnavailable, "unconfirmed", errUnavailable, msg)
		return
	case <-r.Context().Done():
		result = "unconfirmed"
		return
	}
	switch err := job.err; {
	case errors.Is(err, store.ErrClosed):
		fail(http.StatusServiceUnavailable, "error", errUnavailable, "archiver is shutting down; retry")
		return
	case errors.Is(err, context.DeadlineExceeded):
		// Its turn or room in the store's queue did not come within the
		// wait: nothing was written.
		a.log.Warn("push not queued in time", "client", client, "waited", a.pushWait)
		setRetryAfter(w, time.Second)
		fail(http.StatusServiceUnavailable, "overloaded", errUnavailable, "storage too busy to take the snapshot; retry later")
		return
	case err != nil:
		a.log.Error("push not stored", "client", client, "err", err)
		fail(http.StatusServiceUnavailable, "error", errUnavailable, "snapshot not stored; retry")
		return
	}
	if job != prior {
		result = "stored"
		a.log.Debug("push stored", "client", client, "bytes", len(body))
		writeData(w, map[string]any{"ip": client.String(), "scraped_at": job.scrapedAt, "bytes": len(body)})
		return
	}
	result = "duplicate"
	writeData(w, map[string]any{"ip": client.String(), "scraped_at": job.scrapedAt, "bytes": len(body), "duplicate": true})
}

// setRetryAfter sets Retry-After to d in whole seconds, at least one.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	w.Header().Set("Retry-After", strconv.FormatInt(max(1, int64((d+time.Second-1)/time.Second)), 10))
}

// enterPush takes one of MaxConcurrentPushes slots, or reports false.
func (a *api) enterPush() bool {
	n := config.DefaultMaxConcurrentPushes
	if a.o.MaxConcurrentPushes != nil {
		if m := a.o.MaxConcurrentPushes(); m > 0 {
			n = m
		}
	}
	if a.pushing.Add(1) > int64(n) {
		a.pushing.Add(-1)
		return false
	}
	return true
}

// pending is what one push holds: a concurrency slot, its share of
// PushMemory, and two pooled buffers.
type pending struct {
	a           *api
	wire, plain *bytes.Buffer
	held        int64 // bytes of PushMemory reserved
}

// reserve makes the push's reservation n bytes, growing it only if PushMemory
// has room now; it never waits.
func (p *pending) reserve(n int64) bool {
	if n <= p.held {
		return true
	}
	if !p.a.pushMem.tryAcquire(n-p.held, p.a.pushMemory()) {
		return false
	}
	p.held = n
	return true
}

// shrink gives back what the push reserved beyond n.
func (p *pending) shrink(n int64) {
	if n < p.held {
		p.a.pushMem.release(p.held - n)
		p.held = n
	}
}

// done gives everything back once nothing uses the buffers any more.
func (p *pending) done() {
	p.a.bodyPool.put(p.wire)
	p.a.bodyPool.put(p.plain)
	p.wire, p.plain = nil, nil
	p.shrink(0)
	p.a.pushing.Add(-1)
}

// reserveReader reserves PushMemory for what it reads, in steps, for bodies
// without a Content-Length; factor covers the buffer's growth.
type reserveReader struct {
	r      io.Reader
	p      *pending
	base   int64 // reservation before the body
	n      int64
	factor int64
}

var errNoPushMemory = errors.New("too many pushes at once (push memory); retry later")

func (rr *reserveReader) Read(b []byte) (int, error) {
	if need := rr.base + rr.factor*(rr.n+int64(len(b))); need > rr.p.held {
		if !rr.p.reserve(max(need, rr.p.held+1<<20)) {
			return 0, errNoPushMemory
		}
	}
	n, err := rr.r.Read(b)
	rr.n += int64(n)
	return n, err
}

// readBody returns the pushed snapshot: the raw body, zstd- or
// gzip-encoded or not, or the first part of a multipart form as the
// original Python agents send it. p.wire holds the body as sent and p.plain
// (or a buffer of its own, when large) the decoded one. The limit applies
// both to what is sent and to what it decodes to, so a small bomb cannot
// expand past it, and every buffer is reserved from PushMemory before it is
// filled, so many bombs at once cannot either.
func (a *api) readBody(w http.ResponseWriter, r *http.Request, p *pending, limit int64) ([]byte, int, string, error) {
	tooLarge := func() ([]byte, int, string, error) {
		return nil, http.StatusRequestEntityTooLarge, errTooLarge, fmt.Errorf("snapshot larger than %d bytes", limit)
	}
	overloaded := func() ([]byte, int, string, error) {
		return nil, http.StatusServiceUnavailable, errUnavailable, errNoPushMemory
	}
	var body io.Reader = http.MaxBytesReader(w, r.Body, limit)
	if r.ContentLength >= 0 {
		// Sized exactly, the buffer never grows while it is read.
		if !p.reserve(r.ContentLength + 2*bytes.MinRead) {
			return overloaded()
		}
		p.wire.Grow(int(r.ContentLength) + bytes.MinRead + 1)
	} else {
		body = &reserveReader{r: body, p: p, factor: 3}
	}
	n, err := p.wire.ReadFrom(body)
	var mbe *http.MaxBytesError
	switch {
	case errors.Is(err, errNoPushMemory):
		return overloaded()
	case errors.As(err, &mbe) || n > limit:
		return tooLarge()
	case err != nil:
		return nil, http.StatusBadRequest, errBadData, fmt.Errorf("cannot read body: %w", err)
	}
	wire := p.wire.Bytes()
	p.shrink(int64(p.wire.Cap()))
	body2 := wire
	if enc := r.Header.Get("Content-Encoding"); enc != "" {
		out, code, typ, err := a.decode(p, enc, wire, limit)
		if err != nil {
			return nil, code, typ, err
		}
		body2 = out
	}
	if mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err == nil && mt == "multipart/form-data" {
		part, err := multipart.NewReader(bytes.NewReader(body2), params["boundary"]).NextPart()
		if err != nil {
			return nil, http.StatusBadRequest, errBadData, fmt.Errorf("invalid multipart body: %w", err)
		}
		defer part.Close()
		// The form is the legacy path; a copy of its part costs nothing
		// that matters, once there is room for it.
		if !p.reserve(p.held + 2*int64(len(body2))) {
			return overloaded()
		}
		if body2, err = io.ReadAll(part); err != nil {
			return nil, http.StatusBadRequest, errBadData, fmt.Errorf("invalid multipart body: %w", err)
		}
	}
	return body2, 0, "", nil
}

// decode decodes wire into a buffer sized and reserved in advance, eight
// times the size of wire (at least 256 KB, a pooled buffer). A body
// claiming more than that is decoded again into one four times larger, up
// to limit: a real snapshot (a fifth of its size compressed) fits the first
// try, and a bomb is paid for before its bytes exist, not after.
func (a *api) decode(p *pending, enc string, wire []byte, limit int64) ([]byte, int, string, error) {
	base := p.held
	if strings.EqualFold(strings.TrimSpace(enc), snapshot.Zstd) {
		base += intake.MaxZstdWindow // the decoder's window, allocated up front
	}
	need := min(limit, max(256<<10, 8*int64(len(wire))))
	for {
		if !p.reserve(base + need + 2*bytes.MinRead) {
			return nil, http.StatusServiceUnavailable, errUnavailable, errNoPushMemory
		}
		var dst []byte
		if need+2*bytes.MinRead <= maxPooledBody {
			p.plain.Grow(int(need) + 2*bytes.MinRead)
			dst = p.plain.AvailableBuffer()
		} else {
			dst = make([]byte, 0, need+2*bytes.MinRead)
		}
		out, err := intake.Decode(dst, enc, wire, need)
		switch {
		case errors.Is(err, intake.ErrTooLarge) && need < limit:
			need = min(limit, 4*need)
			p.shrink(base) // the buffer just filled is garbage now
			continue
		case errors.Is(err, intake.ErrTooLarge):
			return nil, http.StatusRequestEntityTooLarge, errTooLarge, fmt.Errorf("snapshot larger than %d bytes", limit)
		case errors.Is(err, snapshot.ErrUnsupportedEncoding):
			return nil, http.StatusUnsupportedMediaType, errUnsupported, err
		case err != nil:
			return nil, http.StatusBadRequest, errBadData, err
		}
		// Keep what the decoded body occupies, and the decoder's window
		// until it is back in its pool.
		p.shrink(base + int64(cap(out)))
		return out, 0, "", nil
	}
}

// clientIP is the pushing agent's address: the TCP peer, or, when the peer
// is a trusted proxy, the right-most X-Forwarded-For entry that is not
// itself a trusted proxy.
func (a *api) clientIP(r *http.Request) (netip.Addr, error) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("cannot parse client address %q", r.RemoteAddr)
	}
	ip := ap.Addr().Unmap().WithZone("")
	trusted := a.trusted()
	if !isTrusted(trusted, ip) {
		return ip, nil
	}
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		h := strings.TrimSpace(hops[i])
		hop, err := netip.ParseAddr(h)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("invalid X-Forwarded-For entry %q", truncate(h))
		}
		ip = hop.Unmap().WithZone("")
		if !isTrusted(trusted, ip) {
			break
		}
	}
	return ip, nil
}

func isTrusted(trusted []netip.Prefix, ip netip.Addr) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// bufferPool recycles push bodies; oversized buffers are dropped so one
// large push does not pin its memory forever.
type bufferPool struct{ p sync.Pool }

const maxPooledBody = 1 << 20

func (b *bufferPool) get() *bytes.Buffer {
	if buf, ok := b.p.Get().(*bytes.Buffer); ok {
		buf.Reset()
		return buf
	}
	return new(bytes.Buffer)
}

func (b *bufferPool) put(buf *bytes.Buffer) {
	if buf.Cap() <= maxPooledBody {
		b.p.Put(buf)
	}
}

// PushMemoryFor is the push memory for a body limit: DefaultPushMemory, or
// room for one push at the limit (sent, decoded, and copied into its
// line) if that is more.
func PushMemoryFor(bodyLimit int64) int64 { return max(DefaultPushMemory, 4*bodyLimit) }

// memBudget counts the bytes of push memory reserved. Its limit is given
// at each reservation rather than fixed, so a reload that raises the body
// limit raises it for the next push. One that lowers it leaves the pushes
// in progress what they hold (at most the old budget) and refuses new
// reservations until enough is given back.
type memBudget struct {
	mu   sync.Mutex
	used int64
}

// tryAcquire reserves n bytes if used stays within limit; it never waits.
func (b *memBudget) tryAcquire(n, limit int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > limit {
		return false
	}
	b.used += n
	return true
}

func (b *memBudget) release(n int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used -= n
	if b.used < 0 {
		panic("push memory released more than was reserved")
	}
}

func (b *memBudget) reserved() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
