package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/prexmon/prexmon/archiver/scrape"
	"github.com/prexmon/prexmon/archiver/targets"
)

func TestReloadKeepsOldConfigOnError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "archiver.yml")
	write := func(s string) {
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("scrape_interval: 5s\n")
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	mgr := scrape.NewManager(scrape.Options{Logger: logger})
	defer mgr.Stop()
	rl := newReloader(file, mgr, targets.NewDiscovery(logger, reg), logger, reg)

	if err := rl.reload(); err != nil {
		t.Fatal(err)
	}
	first := rl.current()
	if got := testutil.ToFloat64(rl.success); got != 1 {
		t.Errorf("success after a good reload: %v", got)
	}
	if ts := testutil.ToFloat64(rl.successTime); time.Since(time.Unix(int64(ts), 0)) > time.Minute {
		t.Errorf("success timestamp %v", ts)
	}

	for _, bad := range []struct{ name, content, want string }{
		{"unknown key", "scrape_interval: 5s\nbogus: 1\n", "bogus"},
		{"timeout over interval", "scrape_interval: 5s\nscrape_timeout: 6s\n", "greater than"},
		{"missing tls file", "http_client:\n  tls_config: {ca_file: missing.pem}\n", "missing.pem"},
	} {
		t.Run(bad.name, func(t *testing.T) {
			write(bad.content)
			err := rl.reload()
			if err == nil || !strings.Contains(err.Error(), bad.want) {
				t.Fatalf("reload error %v, want one containing %q", err, bad.want)
			}
			if rl.current() != first {
				t.Error("a bad config replaced the running one")
			}
			if got := testutil.ToFloat64(rl.success); got != 0 {
				t.Errorf("success after a failed reload: %v", got)
			}
		})
	}
	write("scrape_interval: 7s\n")
	if err := rl.reload(); err != nil {
		t.Fatal(err)
	}
	if rl.current().ScrapeInterval != model.Duration(7*time.Second) {
		t.Errorf("interval %s after reload, want 7s", rl.current().ScrapeInterval)
	}
	if got := testutil.ToFloat64(rl.success); got != 1 {
		t.Errorf("success after recovery: %v", got)
	}
}

func TestWatchReloadsOnEdit(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "archiver.yml")
	write := func(content string) {
		t.Helper()
		tmp := file + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, file); err != nil {
			t.Fatal(err)
		}
	}
	write("scrape_interval: 5s\n")
	logger := slog.New(slog.DiscardHandler)
	reg := prometheus.NewRegistry()
	mgr := scrape.NewManager(scrape.Options{Logger: logger})
	defer mgr.Stop()
	rl := newReloader(file, mgr, targets.NewDiscovery(logger, reg), logger, reg)
	if err := rl.reload(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		rl.watch(20*time.Millisecond, done)
	}()
	defer func() { close(done); <-stopped }()

	waitInterval := func(want time.Duration, ok float64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Duration(rl.current().ScrapeInterval) != want || testutil.ToFloat64(rl.success) != ok {
			if time.Now().After(deadline) {
				t.Fatalf("interval %s success %v, want %s %v", rl.current().ScrapeInterval, testutil.ToFloat64(rl.success), want, ok)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	write("scrape_interval: 7s\n")
	waitInterval(7*time.Second, 1)
	write("scrape_interval: 9s\nbogus: 1\n")
	waitInterval(7*time.Second, 0)
	write("scrape_interval: 9s\n")
	waitInterval(9*time.Second, 1)
}
