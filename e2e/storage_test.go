package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Storage tests use agents on 127.0.210.x and 127.0.211.x.

// storedLine is one archived line as the store writes it.
func storedLine(ip string, at time.Time, seq int) string {
	return fmt.Sprintf(`{"ip":%q,"target":"","labels":{},"scraped_at":%q,"snapshot":{"schema_version":1,"seq":%d,"pad":%q}}`+"\n",
		ip, at.UTC().Format(time.RFC3339Nano), seq, strings.Repeat("p", 2000))
}

// The binary compresses finished days (--storage.compress-after) and
// deletes the oldest whole days past --storage.retention.size, reports
// the archive size, and serves compressed and plain days alike.
func TestArchiverCompressionAndSizeRetention(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	const ip = "127.0.210.2"
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var oneDay int64
	for d := 4; d >= 0; d-- {
		date := today.AddDate(0, 0, -d)
		var b strings.Builder
		for i := range 20 {
			b.WriteString(storedLine(ip, date.Add(time.Duration(i)*time.Minute), 100*d+i))
		}
		archWriteFile(t, filepath.Join(data, ip, date.Format(time.DateOnly)+".jsonl"), b.String())
		oneDay = int64(b.Len())
	}
	if err := os.Chmod(data, 0o755); err != nil {
		t.Fatal(err)
	}
	// Five days on disk; room for four: the oldest goes, the three other
	// finished days are compressed, today stays plain.
	a := startArchiver(t, dir, "scrape_interval: 1h\n",
		"--storage.compress-after=1h",
		fmt.Sprintf("--storage.retention.size=%dB", 4*oneDay+oneDay/2))

	dayFile := func(d int, suffix string) string {
		return filepath.Join(data, ip, today.AddDate(0, 0, -d).Format(time.DateOnly)+suffix)
	}
	WaitFor(t, 30*time.Second, "compaction and size retention", func() error {
		if _, err := os.Stat(dayFile(4, ".jsonl")); !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("oldest day still there: %v", err)
		}
		for d := 1; d <= 3; d++ {
			if _, err := os.Stat(dayFile(d, ".jsonl.gz")); err != nil {
				return err
			}
			if _, err := os.Stat(dayFile(d, ".jsonl")); !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("day -%d still plain", d)
			}
		}
		return nil
	})
	if _, err := os.Stat(dayFile(0, ".jsonl")); err != nil {
		t.Fatalf("today's file: %v", err)
	}
	for d := 0; d <= 3; d++ {
		var lines []json.RawMessage
		date := today.AddDate(0, 0, -d).Format(time.DateOnly)
		if err := archAPIData(a.base+"/api/v1/snapshots/"+ip+"/"+date, &lines); err != nil {
			t.Fatal(err)
		}
		if len(lines) != 20 || !bytes.Contains(lines[19], fmt.Appendf(nil, `"seq":%d,`, 100*d+19)) {
			t.Fatalf("day -%d: %d lines, last %.80s", d, len(lines), lines[len(lines)-1])
		}
	}
	var files []struct {
		Date       string `json:"date"`
		Bytes      int64  `json:"bytes"`
		Compressed bool   `json:"compressed"`
	}
	if err := archAPIData(a.base+"/api/v1/files?ip="+ip, &files); err != nil {
		t.Fatal(err)
	}
	var total int64
	for i, f := range files {
		total += f.Bytes
		if f.Compressed != (i < 3) {
			t.Errorf("files[%d] = %+v", i, f)
		}
	}
	if len(files) != 4 {
		t.Fatalf("files %+v", files)
	}
	WaitFor(t, 10*time.Second, "archiver_storage_bytes", func() error {
		v, err := a.metric("archiver_storage_bytes")
		if err != nil {
			return err
		}
		if int64(v) != total {
			return fmt.Errorf("archiver_storage_bytes %v, files add up to %d", v, total)
		}
		return nil
	})
	if v, err := a.metric("archiver_storage_free_bytes"); err != nil || v <= 0 {
		t.Errorf("archiver_storage_free_bytes %v %v", v, err)
	}
	for p, want := range map[string]fs.FileMode{data: 0o700, dayFile(1, ".jsonl.gz"): 0o600} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want %v", p, fi.Mode().Perm(), err, want)
		}
	}
}

// /readyz is 503 while appends fail on a full disk and 200 again once an
// append succeeds after space is freed.
func TestArchiverReadyzFollowsFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	t.Parallel()
	dir := t.TempDir()
	mnt := filepath.Join(dir, "data") // the archiver's storage.path
	if err := os.Mkdir(mnt, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	snapshot := archFakeSnapshot("full-disk", 40<<10)
	agent := archFakeAgent(t, "127.0.211.2", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(snapshot)
	})
	a := startArchiver(t, dir, fmt.Sprintf("scrape_interval: 200ms\nscrape_timeout: 150ms\nstatic_configs:\n  - targets: [%q]\n", agent))
	t.Cleanup(a.Kill) // before the unmount
	a.waitLines(t, "127.0.211.2", 2)

	readyz := func(want int, says string) func() error {
		return func() error {
			resp, err := http.Get(a.base + "/readyz")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(resp.Body)
			if resp.StatusCode != want || !strings.Contains(body.String(), says) {
				return fmt.Errorf("status %d: %s", resp.StatusCode, body.String())
			}
			return nil
		}
	}
	// Fill what is left of the filesystem.
	filler := filepath.Join(mnt, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling the tmpfs: %v", err)
			}
			break
		}
	}
	// Leave a few pages: enough for the one-byte write probe /readyz
	// used to rely on, too few for a snapshot line.
	fi, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(fi.Size() - 16<<10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	WaitFor(t, 20*time.Second, "/readyz 503 for a failed append", readyz(http.StatusServiceUnavailable, "appends are failing"))
	WaitFor(t, 5*time.Second, "/readyz naming the cause", readyz(http.StatusServiceUnavailable, "no space left on device"))
	before := len(a.lines(t, "127.0.211.2"))
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 20*time.Second, "/readyz 200 after space is freed", readyz(http.StatusOK, "Ready"))
	if after := len(a.lines(t, "127.0.211.2")); after <= before {
		t.Fatalf("ready again with no new line (%d before, %d after)", before, after)
	}
}
