// Package push sends snapshots to the archiver from agents it cannot reach
// (behind NAT or a firewall that only allows outbound traffic), retrying
// with backoff and keeping what could not be sent in a disk spool until the
// archiver answers again.
package push

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/config"

	"github.com/prexmon/prexmon/exporter/collector"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// Path is the archiver's push intake.
const Path = "/api/v1/snapshots"

// Options configure pushing; a zero URL disables it.
type Options struct {
	URL             string
	Interval        time.Duration
	Once            bool
	BearerTokenFile string
	HTTPConfigFile  string // prometheus/common HTTPClientConfig YAML
	Timeout         time.Duration
	SpoolDir        string // "": no spool
	SpoolMaxBytes   int64
}

// DefaultSpoolMaxBytes is --push.spool.max-bytes unless told: at 5m and
// some 30 KB a compressed snapshot, more than a week of outage.
const DefaultSpoolMaxBytes = 100 << 20

// collectTimeout bounds the collection apart from the upload, so a hung
// collector cannot use up the time the POST needs.
const collectTimeout = 10 * time.Second

// primeDelay separates the priming collection from the first real one, so
// CPU percentages are measured over it instead of published as zeros.
const primeDelay = time.Second

// Prime takes a collection whose only use is to be the baseline for the
// CPU percentages of the next; a fresh process has none. It waits outside
// any request, so nothing sleeps while a client waits.
func Prime(ctx context.Context, set *collector.Set) {
	cctx, cancel := context.WithTimeout(ctx, collectTimeout)
	_, _ = set.Collect(cctx)
	cancel()
	select {
	case <-ctx.Done():
	case <-time.After(primeDelay):
	}
}

// Pusher collects snapshots and delivers them to one archiver, oldest
// first.
type Pusher struct {
	o       Options
	url     string
	client  *http.Client
	version string
	log     *slog.Logger
	m       *metrics
	q       *queue
	mem     codingMemory // used by the sender alone
	wake    chan struct{}

	// How the pusher tells time and waits: time.Now, sleep and
	// randomJitter, but in tests, which check the delays asked for rather
	// than measure them.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) bool
	jitter func(time.Duration) time.Duration
}

// New checks o, builds the HTTP client and opens the spool (taking over
// what an earlier run left in it). Its metrics are registered with reg,
// which may be nil.
func New(o Options, version string, reg prometheus.Registerer, logger *slog.Logger) (*Pusher, error) {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.SpoolMaxBytes <= 0 {
		o.SpoolMaxBytes = DefaultSpoolMaxBytes
	}
	client, err := newClient(o, version)
	if err != nil {
		return nil, err
	}
	m := newMetrics(reg)
	q, err := openQueue(o.SpoolDir, o.SpoolMaxBytes, m, logger)
	if err != nil {
		return nil, err
	}
	return &Pusher{
		o: o, url: strings.TrimRight(o.URL, "/") + Path, client: client, version: version,
		log: logger, m: m, q: q, wake: make(chan struct{}, 1),
		now: time.Now, sleep: sleep, jitter: randomJitter,
	}, nil
}

// newClient builds the client from --push.http-config.file, with
// --push.bearer-token-file as its authorization when the file sets none.
// Without a file, proxies come from the environment (HTTPS_PROXY,
// NO_PROXY), as they always have.
func newClient(o Options, version string) (*http.Client, error) {
	cfg := config.DefaultHTTPClientConfig
	cfg.ProxyConfig.ProxyFromEnvironment = true
	if o.HTTPConfigFile != "" {
		c, _, err := config.LoadHTTPConfigFile(o.HTTPConfigFile)
		if err != nil {
			return nil, fmt.Errorf("--push.http-config.file=%s: %w", o.HTTPConfigFile, err)
		}
		cfg = *c
	}
	if o.BearerTokenFile != "" {
		if cfg.Authorization != nil || cfg.BasicAuth != nil || cfg.OAuth2 != nil {
			return nil, fmt.Errorf("--push.bearer-token-file and the authorization set in --push.http-config.file=%s: use one of them", o.HTTPConfigFile)
		}
		// Read at every push, so a rotated token needs no restart.
		cfg.Authorization = &config.Authorization{Type: "Bearer", CredentialsFile: o.BearerTokenFile}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("push HTTP client: %w", err)
	}
	client, err := config.NewClientFromConfig(cfg, "push", config.WithUserAgent("prexmon-exporter/"+version))
	if err != nil {
		return nil, fmt.Errorf("push HTTP client: %w", err)
	}
	return client, nil
}

// Once collects one snapshot and pushes it after whatever the spool
// holds, retrying within --push.timeout, and returns an error unless it
// was acknowledged, so that `--push.once` can exit non-zero for cron and CI
// use. What was not sent stays in the spool for the next run.
func (p *Pusher) Once(ctx context.Context, set *collector.Set) error {
	defer p.q.close()
	if err := p.collect(ctx, set); err != nil {
		return err
	}
	deadline := p.now().Add(p.o.Timeout)
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	bo := newBackoff(p.o.Timeout, p.jitter)
	for {
		wait, err := p.deliver(ctx)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return err
		}
		if wait == 0 {
			wait = bo.next()
		}
		if deadline.Sub(p.now()) < wait {
			return err
		}
		p.log.Warn("push failed; retrying", "err", err, "in", wait)
		if !p.sleep(ctx, wait) {
			return err
		}
	}
}

// Loop pushes every interval, at a phase in the interval stable for this
// host, until ctx ends; then what is still queued is spooled.
func (p *Pusher) Loop(ctx context.Context, set *collector.Set) {
	Prime(ctx, set)
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.send(ctx)
	}()
	host, _ := os.Hostname()
	offset := phase(host+" "+p.url, p.o.Interval)
	if p.q.dir == "" {
		p.log.Info("pushing without --push.spool.dir: snapshots taken while the archiver cannot be reached are lost")
	}
	for {
		now := p.now()
		if !p.sleep(ctx, nextTick(now, p.o.Interval, offset).Sub(now)) {
			break
		}
		if err := p.collect(ctx, set); err != nil {
			if ctx.Err() != nil {
				break
			}
			p.log.Warn("collection for push failed", "err", err)
			continue
		}
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	<-done
	p.q.close()
}

// collect takes a snapshot and queues it.
func (p *Pusher) collect(ctx context.Context, set *collector.Set) error {
	cctx, cancel := context.WithTimeout(ctx, collectTimeout)
	coll, err := set.Collect(cctx)
	cancel()
	if err != nil {
		return err
	}
	plain, err := json.Marshal(coll.Snapshot(p.version))
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	p.q.add(plain)
	return nil
}

// send delivers queued snapshots as they come until ctx ends, backing off
// while the archiver fails.
func (p *Pusher) send(ctx context.Context) {
	bo := newBackoff(p.o.Interval, p.jitter)
	for {
		wait, err := p.deliver(ctx)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			bo.reset()
			select {
			case <-ctx.Done():
				return
			case <-p.wake:
			}
			continue
		}
		if wait == 0 {
			wait = bo.next()
		}
		p.log.Warn("push failed; will retry", "err", err, "in", wait.Round(time.Millisecond), "queued", p.q.pending())
		if !p.sleep(ctx, wait) {
			return
		}
	}
}

// deliver pushes queued snapshots, oldest first, until none is left (nil)
// or one fails; then it returns how long the archiver asked to wait (0:
// not said) and why.
func (p *Pusher) deliver(ctx context.Context) (time.Duration, error) {
	for {
		e, plain := p.q.take()
		if e == nil {
			return 0, nil
		}
		rctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
		err := p.push(rctx, plain)
		cancel()
		var se *statusError
		var cve *tls.CertificateVerificationError
		switch {
		case errors.As(err, &cve):
			// Retrying will not make the archiver's certificate trusted.
			p.m.pushes.WithLabelValues(resultRefused).Inc()
			p.q.keep(e)
			return p.o.Interval, err
		case err == nil:
			p.m.pushes.WithLabelValues(resultSuccess).Inc()
			p.m.lastSuccess.SetToCurrentTime()
			p.q.done(e)
		case errors.As(err, &se) && se.rejected():
			p.m.pushes.WithLabelValues(resultRejected).Inc()
			p.log.Error("archiver refused a snapshot; dropping it", "err", err)
			p.q.reject(e)
		case errors.As(err, &se) && !se.retryable():
			p.m.pushes.WithLabelValues(resultRefused).Inc()
			p.q.keep(e)
			return p.o.Interval, err
		default:
			p.m.pushes.WithLabelValues(resultError).Inc()
			p.q.keep(e)
			if se != nil {
				return se.retryAfter, err
			}
			return 0, err
		}
	}
}

// zstdRetry is how long an archiver that refused zstd gets gzip before
// zstd is tried again (it may have been upgraded meanwhile).
const zstdRetry = time.Hour

// codingMemory remembers when the archiver last answered 415 to zstd, so
// an older archiver does not receive every snapshot twice.
type codingMemory struct {
	zstdRefused time.Time // zero: never
}

// push posts plain as zstd; an archiver older than zstd answers 415 and
// gets gzip, at once and for the next zstdRetry.
func (p *Pusher) push(ctx context.Context, plain []byte) error {
	return send(ctx, p.client, p.url, plain, p.log, &p.mem)
}

func send(ctx context.Context, client *http.Client, url string, plain []byte, logger *slog.Logger, mem *codingMemory) error {
	codings := []string{snapshot.Zstd, snapshot.Gzip}
	if !mem.zstdRefused.IsZero() && time.Since(mem.zstdRefused) < zstdRetry {
		codings = codings[1:]
	}
	var err error
	for _, coding := range codings {
		err = post(ctx, client, url, coding, plain, logger)
		var se *statusError
		if !errors.As(err, &se) || se.code != http.StatusUnsupportedMediaType {
			break
		}
		if coding == snapshot.Zstd {
			mem.zstdRefused = time.Now()
		}
	}
	return err
}

// statusError is an answer other than 2xx.
type statusError struct {
	url        string
	code       int
	status     string
	msg        []byte
	retryAfter time.Duration
}

func (e *statusError) Error() string {
	return fmt.Sprintf("push to %s: %s: %s", e.url, e.status, e.msg)
}

// retryable: the archiver may take the same request later.
func (e *statusError) retryable() bool {
	return e.code == http.StatusRequestTimeout || e.code == http.StatusTooManyRequests || e.code >= 500
}

// rejected: the archiver will never take this snapshot.
func (e *statusError) rejected() bool {
	switch e.code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// post sends one snapshot in coding and reports the archiver's verdict.
func post(ctx context.Context, client *http.Client, url, coding string, plain []byte, logger *slog.Logger) error {
	body, err := snapshot.AppendEncoded(nil, coding, plain)
	if err != nil {
		return fmt.Errorf("compress snapshot: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("push to %s: %w", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", coding)
	if t, ok := snapshot.CollectedAt(plain); ok {
		snapshot.SetAge(req.Header, t, time.Now())
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("push to %s: %w", url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode/100 != 2 {
		return &statusError{url: url, code: resp.StatusCode, status: resp.Status, msg: bytes.TrimSpace(msg),
			retryAfter: retryAfter(resp.Header, time.Now())}
	}
	logger.Debug("pushed snapshot", "url", url, "coding", coding, "bytes", len(body))
	return nil
}

// sleep waits d or until ctx ends, and reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
