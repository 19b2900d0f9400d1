package targets

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/model"

	"github.com/prexmon/prexmon/archiver/config"
)

// startDiscovery runs a Discovery on cfg until the test ends.
func startDiscovery(t *testing.T, cfg *config.Config) *Discovery {
	t.Helper()
	d := NewDiscovery(slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	d.ApplyConfig(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = d.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return d
}

// waitTargets waits for an update listing exactly want (addresses, sorted).
func waitTargets(t *testing.T, d *Discovery, want ...string) []Target {
	t.Helper()
	slices.Sort(want)
	deadline := time.After(10 * time.Second)
	var last []string
	for {
		select {
		case ts := <-d.Updates():
			last = last[:0]
			for _, tg := range ts {
				last = append(last, tg.Address)
			}
			slices.Sort(last)
			if slices.Equal(last, want) {
				return ts
			}
		case <-deadline:
			t.Fatalf("targets %v, want %v", last, want)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeAtomic writes through a temporary file and a rename, as config
// management tools do.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	writeFile(t, tmp, content)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func fileSDConfig(refresh time.Duration, patterns ...string) *config.Config {
	return &config.Config{
		StaticConfigs: []*config.StaticConfig{{Targets: []string{"10.0.0.1:9110"}}},
		FileSDConfigs: []*config.FileSDConfig{{Files: patterns, RefreshInterval: model.Duration(refresh)}},
	}
}

func TestDiscoveryFollowsFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.yml")
	writeFile(t, a, "- targets: ['127.0.0.2:9110']\n  labels: {env: a}\n")
	// A long refresh interval: every change below must arrive through fsnotify.
	d := startDiscovery(t, fileSDConfig(time.Hour, filepath.Join(dir, "*.yml"), filepath.Join(dir, "*.json")))

	ts := waitTargets(t, d, "10.0.0.1:9110", "127.0.0.2:9110")
	for _, tg := range ts {
		if tg.Address == "127.0.0.2:9110" && tg.Labels["env"] != "a" {
			t.Errorf("labels %v, want env=a", tg.Labels)
		}
	}

	writeAtomic(t, a, "- targets: ['127.0.0.2:9110', '127.0.0.3:9110']\n")
	waitTargets(t, d, "10.0.0.1:9110", "127.0.0.2:9110", "127.0.0.3:9110")

	writeFile(t, filepath.Join(dir, "b.json"), `[{"targets":["127.0.0.4:9110"]}]`)
	waitTargets(t, d, "10.0.0.1:9110", "127.0.0.2:9110", "127.0.0.3:9110", "127.0.0.4:9110")

	// A broken file keeps what it had; the other file's change still applies.
	writeFile(t, a, "- targets: ['127.0.0.2:9110'\n")
	writeFile(t, filepath.Join(dir, "b.json"), `[{"targets":["127.0.0.5:9110"]}]`)
	waitTargets(t, d, "10.0.0.1:9110", "127.0.0.2:9110", "127.0.0.3:9110", "127.0.0.5:9110")
	if n := testutil.ToFloat64(d.readErrs); n < 1 {
		t.Errorf("read errors %v, want >= 1", n)
	}
	if n := testutil.ToFloat64(d.failing); n != 1 || d.Failing() != 1 {
		t.Errorf("failing files %v (%d), want 1", n, d.Failing())
	}

	if err := os.Remove(filepath.Join(dir, "b.json")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, a, "- targets: ['127.0.0.6:9110']\n")
	waitTargets(t, d, "10.0.0.1:9110", "127.0.0.6:9110")
	if n := testutil.ToFloat64(d.failing); n != 0 {
		t.Errorf("failing files %v, want 0", n)
	}
}

func TestDiscoveryPollsDirectoryCreatedLater(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "later")
	d := startDiscovery(t, fileSDConfig(100*time.Millisecond, filepath.Join(dir, "*.yml")))
	waitTargets(t, d, "10.0.0.1:9110")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "a.yml"), "- targets: ['127.0.0.2:9110']\n")
	waitTargets(t, d, "10.0.0.1:9110", "127.0.0.2:9110")
}

func TestDiscoveryApplyConfig(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a.yml"), "- targets: ['127.0.0.2:9110']\n")
	writeFile(t, filepath.Join(dir, "b.yml"), "- targets: ['127.0.0.3:9110']\n")
	d := startDiscovery(t, fileSDConfig(time.Hour, filepath.Join(dir, "a.yml")))
	waitTargets(t, d, "10.0.0.1:9110", "127.0.0.2:9110")

	d.ApplyConfig(fileSDConfig(time.Hour, filepath.Join(dir, "b.yml")))
	waitTargets(t, d, "10.0.0.1:9110", "127.0.0.3:9110")
}

func TestDiscoveryManyFiles(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 50 {
		addr := fmt.Sprintf("127.0.1.%d:9110", i+1)
		want = append(want, addr)
		writeFile(t, filepath.Join(dir, fmt.Sprintf("t%02d.yml", i)), "- targets: ['"+addr+"']\n")
	}
	d := startDiscovery(t, &config.Config{FileSDConfigs: []*config.FileSDConfig{{Files: []string{filepath.Join(dir, "*.yml")}, RefreshInterval: model.Duration(time.Hour)}}})
	ts := waitTargets(t, d, want...)
	if !strings.HasPrefix(ts[0].Address, "127.0.1.1:") {
		t.Errorf("files not read in name order: first %s", ts[0].Address)
	}
}
