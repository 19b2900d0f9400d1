package scrape

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prexmon/prexmon/archiver/intake"
	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/archiver/targets"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// maxPooledBuffer keeps one oversized body from pinning megabytes in the
// pool for ever; typical snapshots are around 100 KB.
const maxPooledBuffer = 4 << 20

// Bodies as received (typically compressed, ~25 KB) and decompressed
// bodies (~100 KB) come from separate pools: with one pool every buffer
// would grow to the decompressed size, and the thousands of scrapes waiting
// on the network would each pin one.
var (
	rawPool = bufferPool{sync.Pool{New: func() any { return new(bytes.Buffer) }}}
	outPool = slicePool{sync.Pool{New: func() any { return new([]byte) }}}
)

// slicePool holds decoded bodies as slices, because the decoder appends to
// a slice and may return a larger one, which is what goes back.
type slicePool struct{ p sync.Pool }

func (sp *slicePool) get() *[]byte { return sp.p.Get().(*[]byte) }

func (sp *slicePool) put(b *[]byte) {
	if cap(*b) > maxPooledBuffer {
		return
	}
	sp.p.Put(b)
}

// bufferPool holds bodies as received, read with bytes.Buffer.ReadFrom.
type bufferPool struct{ p sync.Pool }

func (bp *bufferPool) get() *bytes.Buffer { return bp.p.Get().(*bytes.Buffer) }

func (bp *bufferPool) put(b *bytes.Buffer) {
	if b.Cap() > maxPooledBuffer {
		return
	}
	b.Reset()
	bp.p.Put(b)
}

// scrapeError is a failed scrape with its result label.
type scrapeError struct {
	result string
	err    error
}

func (e *scrapeError) Error() string { return e.err.Error() }

func fail(result string, format string, args ...any) error {
	return &scrapeError{result: result, err: fmt.Errorf(format, args...)}
}

// loop scrapes one target until stopped.
type loop struct {
	m      *Manager
	target targets.Target
	host   string
	ip     netip.Addr // set when the target is an IP literal
	off    uint64
	quit   chan struct{}
	once   sync.Once

	mu sync.Mutex
	st AgentStatus
}

func newLoop(m *Manager, t targets.Target) *loop {
	l := &loop{
		m:      m,
		target: t,
		off:    offset(t.Address),
		quit:   make(chan struct{}),
		st:     AgentStatus{Target: t.Address, Labels: t.Labels, Health: HealthUnknown, registered: time.Now()},
	}
	l.host, _, _ = net.SplitHostPort(t.Address)
	if ip, err := netip.ParseAddr(l.host); err == nil {
		l.ip = ip.Unmap().WithZone("")
		l.st.IP = l.ip.String()
	}
	return l
}

// stop ends the loop after its current scrape, which is not interrupted:
// a target removed by a reload still stores what it was sending.
func (l *loop) stop() { l.once.Do(func() { close(l.quit) }) }

func (l *loop) status() AgentStatus {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st
}

func (l *loop) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var next time.Time
	var interval time.Duration
	for {
		s := l.m.settings.Load()
		if s.cfg.Interval != interval {
			interval = s.cfg.Interval
			next = nextSlot(time.Now(), interval, l.off)
		}
		timer.Reset(time.Until(next))
		select {
		case <-l.quit:
			return
		case <-l.m.ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		l.m.m.lag.Observe(start.Sub(next).Seconds())
		l.scrape(s, start)

		next = next.Add(interval)
		if late := time.Since(next); late >= interval {
			// Whole slots went by (a stalled store, a starved machine):
			// skip them rather than fire a burst to catch up. A scrape that
			// merely ran into its next slot (timeout = interval, a hanging
			// agent) starts that slot late instead, as Prometheus' ticker
			// does.
			missed := late / interval
			l.m.m.missed.Add(float64(missed))
			next = next.Add(missed * interval)
		}
	}
}

// scrape fetches, checks and stores one snapshot, and records the outcome.
func (l *loop) scrape(s *settings, start time.Time) {
	ctx, cancel := context.WithTimeout(l.m.ctx, s.cfg.Timeout)
	defer cancel()
	ip, err := l.fetchAndStore(ctx, s, start)
	dur := time.Since(start)
	if l.m.ctx.Err() != nil {
		// Shutting down: an aborted request says nothing about the agent.
		return
	}
	result := resultSuccess
	if err != nil {
		var se *scrapeError
		if errors.As(err, &se) {
			result = se.result
		} else {
			result = resultConnection
		}
	}
	l.m.m.scrapes.WithLabelValues(result).Inc()
	l.m.m.duration.Observe(dur.Seconds())

	l.mu.Lock()
	l.st.LastScrape = start.UTC()
	l.st.LastDuration = dur.Seconds()
	if ip.IsValid() {
		l.st.IP = ip.String()
	}
	if err != nil {
		l.st.Health = HealthDown
		l.st.LastError = err.Error()
	} else {
		l.st.Health = HealthUp
		l.st.LastError = ""
		l.st.LastSuccess = l.st.LastScrape
	}
	l.mu.Unlock()
	if err != nil {
		l.m.log.Debug("scrape failed", "target", l.target.Address, "result", result, "err", err)
	}
}

func (l *loop) url(s *settings) string {
	return s.cfg.Scheme + "://" + l.target.Address + s.cfg.Path
}

// fetchAndStore returns the address the agent was reached at (for hostname
// targets, the peer of the connection actually used) and the scrape error.
func (l *loop) fetchAndStore(ctx context.Context, s *settings, start time.Time) (netip.Addr, error) {
	ip := l.ip
	if !ip.IsValid() {
		if s.proxy {
			// Through a proxy the connection's peer is the proxy, so
			// resolve the name the way the proxy is expected to.
			addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", l.host)
			if err != nil || len(addrs) == 0 {
				return ip, fail(resultConnection, "resolve %s: %w", l.host, err)
			}
			ip = addrs[0].Unmap().WithZone("")
		} else {
			ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
				GotConn: func(info httptrace.GotConnInfo) {
					if a, ok := info.Conn.RemoteAddr().(*net.TCPAddr); ok {
						ip = a.AddrPort().Addr().Unmap().WithZone("")
					}
				},
			})
		}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.url(s), nil)
	if err != nil {
		return ip, fail(resultConnection, "build request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	if s.cfg.Compression {
		req.Header.Set("Accept-Encoding", snapshot.AcceptEncoding)
	} else {
		req.Header.Set("Accept-Encoding", "identity")
	}
	req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", strconv.FormatFloat(s.cfg.Timeout.Seconds(), 'f', -1, 64))
	resp, err := s.client.Do(req)
	if err != nil {
		return ip, transportError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ip, fail(resultHTTPStatus, "server returned HTTP status %s", resp.Status)
	}
	limit := s.cfg.BodySizeLimit
	if resp.ContentLength > limit {
		return ip, fail(resultTooLarge, "body too large: Content-Length %d exceeds the limit of %d bytes", resp.ContentLength, limit)
	}

	raw := rawPool.get()
	defer rawPool.put(raw)
	if _, err := raw.ReadFrom(io.LimitReader(resp.Body, limit+1)); err != nil {
		return ip, transportError(ctx, fmt.Errorf("read body: %w", err))
	}
	if int64(raw.Len()) > limit {
		return ip, fail(resultTooLarge, "body too large: more than %d bytes", limit)
	}

	// Only the CPU-bound part takes a slot: a hanging agent waits on the
	// network above without holding one.
	select {
	case l.m.sem <- struct{}{}:
	case <-ctx.Done():
		// The agent answered; the archiver could not keep up (usually a
		// store stalled on the disk). Say so rather than blame the agent.
		return ip, fail(resultOverloaded, "archiver overloaded: body received but not processed within the scrape timeout")
	}
	defer func() { <-l.m.sem }()

	body := raw.Bytes()
	if coding := resp.Header.Get("Content-Encoding"); coding != "" && !strings.EqualFold(coding, snapshot.Identity) {
		out := outPool.get()
		defer outPool.put(out)
		*out, err = intake.Decode((*out)[:0], coding, body, limit)
		switch {
		case errors.Is(err, intake.ErrTooLarge):
			return ip, fail(resultTooLarge, "%w", err)
		case err != nil:
			return ip, fail(resultInvalid, "%w", err)
		}
		body = *out
	}
	if err := intake.CheckRaw(body); err != nil {
		return ip, fail(resultInvalid, "invalid snapshot: %w", err)
	}
	if !ip.IsValid() {
		return ip, fail(resultConnection, "no peer address for %s", l.target.Address)
	}
	err = l.m.opts.Appender.Append(store.Record{
		IP:        ip,
		Target:    l.target.Address,
		Labels:    l.target.Labels,
		ScrapedAt: start.UTC(),
		Snapshot:  body,
	})
	if err != nil {
		return ip, fail(resultStoreError, "store: %w", err)
	}
	return ip, nil
}

// transportError classifies a network failure, telling timeouts apart.
func transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fail(resultTimeout, "scrape timed out: %w", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fail(resultTimeout, "scrape timed out: %w", err)
	}
	return fail(resultConnection, "%w", err)
}
