package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func seqOf(t *testing.T, line []byte) int {
	t.Helper()
	i := bytes.Index(line, []byte(`"seq":`))
	if i < 0 {
		t.Fatalf("no seq in %.100s", line)
	}
	var n int
	fmt.Sscanf(string(line[i+6:]), "%d", &n)
	return n
}

func seqs(t *testing.T, lines [][]byte) []int {
	out := make([]int, len(lines))
	for i, l := range lines {
		out[i] = seqOf(t, l)
	}
	return out
}

// gzOf is b as one gzip member.
func gzOf(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestCompressDays(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	ip := netip.MustParseAddr("10.0.0.5")
	d := filepath.Join(dir, "10.0.0.5")
	for i := range 5 {
		if err := s.Append(Record{IP: ip, ScrapedAt: day.Add(time.Duration(i) * time.Minute), Snapshot: snap(i)}); err != nil {
			t.Fatal(err)
		}
	}
	// Today's file must stay plain.
	if err := s.Append(Record{IP: ip, ScrapedAt: day.AddDate(0, 0, 1), Snapshot: snap(100)}); err != nil {
		t.Fatal(err)
	}
	s.Files(ip) // leaves a count checkpoint that compaction must drop
	now := day.AddDate(0, 0, 1).Add(12 * time.Hour)
	s.opts.CompressAfter = time.Hour
	s.compressDays(now)

	if _, err := os.Stat(filepath.Join(d, "2026-11-27.jsonl")); !os.IsNotExist(err) {
		t.Fatalf("plain file still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(d, "2026-11-28.jsonl")); err != nil {
		t.Fatalf("today's file touched: %v", err)
	}
	ents, _ := os.ReadDir(d)
	for _, e := range ents {
		if n := e.Name(); n != "2026-11-27.jsonl.gz" && n != "2026-11-28.jsonl" && n != ".2026-11-28.jsonl.count" {
			t.Errorf("unexpected file %s", n)
		}
	}
	if got := seqs(t, readAll(t, s, ip, day, Query{})); fmt.Sprint(got) != "[0 1 2 3 4]" {
		t.Fatalf("compressed day reads %v", got)
	}

	// A late line for the compressed day lands in a new plain file and
	// is read after the compressed ones; compressing again appends it.
	if err := s.Append(Record{IP: ip, ScrapedAt: day.Add(13 * time.Hour), Snapshot: snap(5)}); err != nil {
		t.Fatal(err)
	}
	if got := seqs(t, readAll(t, s, ip, day, Query{})); fmt.Sprint(got) != "[0 1 2 3 4 5]" {
		t.Fatalf("with late line reads %v", got)
	}
	// Without the newer day, the latest line is the late one.
	for _, n := range []string{"2026-11-28.jsonl", ".2026-11-28.jsonl.count"} {
		if err := os.Remove(filepath.Join(d, n)); err != nil {
			t.Fatal(err)
		}
	}
	if line, err := s.Latest(ip); err != nil || seqOf(t, line) != 5 {
		t.Fatalf("Latest = %.60s, %v", line, err)
	}
	s.compressDays(now)
	if got := seqs(t, readAll(t, s, ip, day, Query{From: day.Add(2 * time.Minute)})); fmt.Sprint(got) != "[2 3 4 5]" {
		t.Fatalf("after second compaction reads %v", got)
	}
	if line, err := s.Latest(ip); err != nil || seqOf(t, line) != 5 {
		t.Fatalf("Latest from gz = %.60s, %v", line, err)
	}
	files, err := s.Files(ip)
	if err != nil || len(files) != 1 || !files[0].Compressed || files[0].Snapshots != 6 {
		t.Fatalf("files %+v %v", files, err)
	}
}

// TestCompactionRecovery sets up each state a crash can leave behind and
// checks that opening the store ends with every line exactly once.
func TestCompactionRecovery(t *testing.T) {
	var lines bytes.Buffer
	for i := range 3 {
		r := Record{IP: netip.MustParseAddr("10.0.0.5"), ScrapedAt: day, Snapshot: snap(i)}
		l, _ := appendLine(nil, &r)
		lines.Write(l)
	}
	tests := []struct {
		name  string
		files map[string][]byte
	}{
		{"detached only", map[string][]byte{".2026-11-27.jsonl.compressing": lines.Bytes()}},
		{"detached with partial output", map[string][]byte{".2026-11-27.jsonl.compressing": lines.Bytes(), ".2026-11-27.jsonl.gz.tmp": []byte("garbage")}},
		{"detached with torn line", map[string][]byte{".2026-11-27.jsonl.compressing": append(bytes.Clone(lines.Bytes()), `{"torn`...)}},
		{"commit begun", map[string][]byte{".2026-11-27.jsonl.done": lines.Bytes(), ".2026-11-27.jsonl.gz.tmp": gzOf(lines.Bytes())}},
		{"commit nearly done", map[string][]byte{".2026-11-27.jsonl.done": lines.Bytes(), "2026-11-27.jsonl.gz": gzOf(lines.Bytes())}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			d := filepath.Join(dir, "10.0.0.5")
			os.MkdirAll(d, 0o755)
			for n, b := range tc.files {
				if err := os.WriteFile(filepath.Join(d, n), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			// A line that arrived after the detach sits in a new plain file.
			late := Record{IP: netip.MustParseAddr("10.0.0.5"), ScrapedAt: day, Snapshot: snap(3)}
			l, _ := appendLine(nil, &late)
			os.WriteFile(filepath.Join(d, "2026-11-27.jsonl"), l, 0o644)
			s := openTest(t, dir, Options{})
			ip := netip.MustParseAddr("10.0.0.5")
			if got := seqs(t, readAll(t, s, ip, day, Query{})); fmt.Sprint(got) != "[0 1 2 3]" {
				t.Fatalf("reads after start-up %v", got)
			}
			if line, err := s.Latest(ip); err != nil || seqOf(t, line) != 3 {
				t.Fatalf("Latest = %.40s, %v", line, err)
			}
			s.opts.CompressAfter = time.Hour
			s.compressDays(day.AddDate(0, 0, 2))
			if got := seqs(t, readAll(t, s, ip, day, Query{})); fmt.Sprint(got) != "[0 1 2 3]" {
				t.Fatalf("reads after compaction %v", got)
			}
			if files, err := s.Files(ip); err != nil || len(files) != 1 || files[0].Snapshots != 4 {
				t.Fatalf("files %+v %v", files, err)
			}
			ents, _ := os.ReadDir(d)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if fmt.Sprint(names) != "[.2026-11-27.jsonl.gz.count 2026-11-27.jsonl.gz]" {
				t.Fatalf("left %v", names)
			}
		})
	}
}

// TestReadsDuringCompaction reads a day over and over while it is
// compressed: every read must see every line exactly once.
func TestReadsDuringCompaction(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ip := netip.MustParseAddr("10.0.0.5")
	const n = 200
	for i := range n {
		if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(i)}); err != nil {
			t.Fatal(err)
		}
	}
	s.opts.CompressAfter = time.Hour
	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				count := 0
				err := s.ReadDay(context.Background(), ip, day, Query{}, func([]byte) error { count++; return nil })
				if err != nil || count != n {
					t.Errorf("read %d lines, want %d: %v", count, n, err)
					return
				}
				if line, err := s.Latest(ip); err != nil || seqOf(t, line) != n-1 {
					t.Errorf("Latest = %.40s, %v", line, err)
					return
				}
				reads.Add(1)
			}
		})
	}
	s.compressDays(day.AddDate(0, 0, 2))
	stop.Store(true)
	wg.Wait()
	if _, err := os.Stat(filepath.Join(s.dir, "10.0.0.5", "2026-11-27.jsonl.gz")); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d reads during compaction", reads.Load())
}
