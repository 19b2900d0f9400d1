// Package push sends snapshots to the archiver from agents it cannot reach
// (behind NAT or a firewall that only allows outbound traffic).
package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

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
	Timeout         time.Duration
}

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

// Once collects one snapshot and pushes it, returning any failure so that
// `--push.once` can exit non-zero for cron and CI use.
func Once(ctx context.Context, o Options, set *collector.Set, version string, logger *slog.Logger) error {
	return once(ctx, o, set, version, logger, &codingMemory{})
}

func once(ctx context.Context, o Options, set *collector.Set, version string, logger *slog.Logger, mem *codingMemory) error {
	cctx, cancel := context.WithTimeout(ctx, collectTimeout)
	coll, err := set.Collect(cctx)
	cancel()
	if err != nil {
		return err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel = context.WithTimeout(ctx, timeout)
	defer cancel()
	plain, err := json.Marshal(coll.Snapshot(version))
	if err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	return send(ctx, strings.TrimRight(o.URL, "/")+Path, plain, o.BearerTokenFile, logger, mem)
}

// zstdRetry is how long an archiver that refused zstd gets gzip before
// zstd is tried again (it may have been upgraded meanwhile).
const zstdRetry = time.Hour

// codingMemory remembers, across one Loop's pushes, when the archiver last
// answered 415 to zstd, so an older archiver does not receive every
// snapshot twice.
type codingMemory struct {
	zstdRefused time.Time // zero: never
}

// send posts plain as zstd; an archiver older than zstd answers 415 and
// gets gzip, at once and for the next zstdRetry.
func send(ctx context.Context, url string, plain []byte, tokenFile string, logger *slog.Logger, mem *codingMemory) error {
	codings := []string{snapshot.Zstd, snapshot.Gzip}
	if !mem.zstdRefused.IsZero() && time.Since(mem.zstdRefused) < zstdRetry {
		codings = codings[1:]
	}
	var err error
	for _, coding := range codings {
		err = post(ctx, url, coding, plain, tokenFile, logger)
		if !errors.Is(err, errUnsupportedCoding) {
			break
		}
		if coding == snapshot.Zstd {
			mem.zstdRefused = time.Now()
		}
	}
	return err
}

// errUnsupportedCoding is a 415 from the archiver: retry in another coding.
var errUnsupportedCoding = errors.New("content coding refused")

// post sends one snapshot in coding and reports the archiver's verdict.
func post(ctx context.Context, url, coding string, plain []byte, tokenFile string, logger *slog.Logger) error {
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
	if tokenFile != "" {
		// Read on every push so a rotated token needs no restart.
		tok, err := os.ReadFile(tokenFile)
		if err != nil {
			return fmt.Errorf("read bearer token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("push to %s: %w", url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode == http.StatusUnsupportedMediaType {
		return fmt.Errorf("push to %s: %w (%s): %s", url, errUnsupportedCoding, coding, bytes.TrimSpace(msg))
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("push to %s: %s: %s", url, resp.Status, bytes.TrimSpace(msg))
	}
	logger.Debug("pushed snapshot", "url", url, "coding", coding, "bytes", len(body))
	return nil
}

// Loop pushes every interval until ctx ends. Failures are logged and the
// next push is tried on schedule: the archiver keeps whatever arrives.
func Loop(ctx context.Context, o Options, set *collector.Set, version string, logger *slog.Logger) {
	interval := o.Interval
	if interval <= 0 {
		interval = 5 * time.Minute
	}
	Prime(ctx, set)
	mem := &codingMemory{} // pushes run one after another: no lock needed
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := once(ctx, o, set, version, logger, mem); err != nil && ctx.Err() == nil {
			logger.Warn("push failed; will retry", "err", err, "next_in", interval)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
