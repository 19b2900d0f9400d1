package e2e

import (
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prexmon/prexmon/archiver/targets"
)

// Three archivers given one target list with --shard.count=3 archive every
// agent exactly once, each the agents Prometheus' hashmod gives its index.
func TestArchiverShardsSplitTargets(t *testing.T) {
	t.Parallel()
	const agents, shards = 24, 3
	dir := t.TempDir()
	var addrs []string
	for i := range agents {
		ip := fmt.Sprintf("127.0.4.%d", i+1)
		snap := archFakeSnapshot(ip, 2000)
		addrs = append(addrs, archFakeAgent(t, ip, func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(snap)
		}))
	}
	sd := filepath.Join(dir, "agents.yml")
	archWriteFile(t, sd, fmt.Sprintf("- targets: [\"%s\"]\n", strings.Join(addrs, `", "`)))
	cfg := fmt.Sprintf("scrape_interval: 1s\nscrape_timeout: 900ms\nfile_sd_configs:\n  - files: [%q]\n", sd)
	var archs []*archiverProc
	for i := range shards {
		archs = append(archs, startArchiver(t, filepath.Join(dir, fmt.Sprint(i)), cfg,
			fmt.Sprintf("--shard.count=%d", shards), fmt.Sprintf("--shard.index=%d", i)))
	}
	for _, addr := range addrs {
		ip := strings.Split(addr, ":")[0]
		want := int(targets.ShardOf(addr, shards))
		archs[want].waitLines(t, ip, 1)
	}
	// Every agent has been stored by its own shard; give the others a few
	// more scrape rounds to prove they leave it alone.
	time.Sleep(2 * time.Second)
	for _, addr := range addrs {
		ip := strings.Split(addr, ":")[0]
		want := int(targets.ShardOf(addr, shards))
		for i, a := range archs {
			if n := len(a.lines(t, ip)); (i == want) != (n > 0) {
				t.Errorf("%s (hashmod %d): %d lines at archiver %d", addr, want, n, i)
			}
		}
	}
	for i, a := range archs {
		if v, err := a.metric(fmt.Sprintf(`archiver_shard_info{count="%d",index="%d"}`, shards, i)); err != nil || v != 1 {
			t.Errorf("archiver %d: archiver_shard_info = %v, %v", i, v, err)
		}
	}
}

// An archiver closes and uploads its segments to the bucket; killed with
// SIGKILL and restarted, it uploads what was left; a second archiver on an
// empty disk serves all of it.
func TestArchiverObjectStorage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bucketDir := filepath.Join(dir, "bucket")
	bucketConf := filepath.Join(dir, "bucket.yml")
	archWriteFile(t, bucketConf, fmt.Sprintf("type: FILESYSTEM\nconfig:\n  directory: %q\n", bucketDir))
	ip := "127.0.4.100"
	snap := archFakeSnapshot(ip, 4000)
	agent := archFakeAgent(t, ip, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(snap)
	})
	cfg := fmt.Sprintf("scrape_interval: 200ms\nscrape_timeout: 190ms\nstatic_configs:\n  - targets: [%q]\n", agent)
	manifests := func() int {
		n := 0
		filepath.WalkDir(bucketDir, func(p string, d fs.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".json") {
				n++
			}
			return nil
		})
		return n
	}
	remote := []string{"--storage.remote.config.file=" + bucketConf, "--storage.segment.max-age=1s", "--storage.remote.id=a"}
	a := startArchiver(t, filepath.Join(dir, "a"), cfg, remote...)
	WaitFor(t, 40*time.Second, "a segment in the bucket", func() error {
		if n := manifests(); n < 1 {
			return fmt.Errorf("%d manifests", n)
		}
		return nil
	})
	a.Kill()
	a.restart(t)
	if err := a.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(t, 30*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, a.Output())
	}
	stored := len(a.lines(t, ip))
	if stored == 0 {
		t.Fatal("nothing stored")
	}
	pending, _ := filepath.Glob(filepath.Join(a.data, ip, "*.jsonl"))
	for _, p := range pending {
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "."+filepath.Base(p)+".uploaded")); err != nil {
			t.Errorf("%s not uploaded after a clean stop: %v", p, err)
		}
	}

	b := startArchiver(t, filepath.Join(dir, "b"), "scrape_interval: 1s\n", "--storage.remote.config.file="+bucketConf, "--storage.remote.id=b")
	var files []struct {
		Snapshots int64  `json:"snapshots"`
		Archiver  string `json:"archiver"`
		Date      string `json:"date"`
	}
	if err := archAPIData(b.base+"/api/v1/files?ip="+ip, &files); err != nil {
		t.Fatal(err)
	}
	var total int64
	dates := map[string]bool{}
	for _, f := range files {
		total += f.Snapshots
		dates[f.Date] = true
	}
	if total != int64(stored) {
		t.Errorf("new archiver lists %d snapshots in the bucket, a stored %d: %+v", total, stored, files)
	}
	var served int
	for date := range dates {
		var lines []archLine
		if err := archAPIData(b.base+"/api/v1/snapshots/"+ip+"/"+date, &lines); err != nil {
			t.Fatal(err)
		}
		served += len(lines)
		for i := 1; i < len(lines); i++ {
			if lines[i].ScrapedAt.Before(lines[i-1].ScrapedAt) {
				t.Errorf("%s: line %d at %v before line %d at %v", date, i, lines[i].ScrapedAt, i-1, lines[i-1].ScrapedAt)
			}
		}
	}
	if served != stored {
		t.Errorf("new archiver served %d lines, a stored %d", served, stored)
	}
	var latest archLine
	if err := archAPIData(b.base+"/api/v1/snapshots/"+ip+"/latest", &latest); err != nil || latest.IP != ip {
		t.Errorf("latest from the bucket: %+v, %v", latest, err)
	}
}
