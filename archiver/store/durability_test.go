package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// failSyncs makes the next n syncs (fdatasync or syncfs) fail with EIO.
func failSyncs(t *testing.T) *atomic.Int32 {
	var n atomic.Int32
	origFile, origAll := syncFile, syncAll
	syncFile = func(f *os.File) error {
		if n.Add(-1) >= 0 {
			return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: syscall.EIO}
		}
		return origFile(f)
	}
	syncAll = func(d *os.File) error {
		if n.Add(-1) >= 0 {
			return &os.PathError{Op: "syncfs", Path: d.Name(), Err: syscall.EIO}
		}
		return origAll(d)
	}
	t.Cleanup(func() { syncFile, syncAll = origFile, origAll })
	return &n
}

// syncfs reports a writeback error to one caller only: a caller whose
// data was written before a failed syncfs must fail even though its own
// syncfs, which began later, succeeds.
func TestFSSyncEarlierFailureIsReported(t *testing.T) {
	fails := failSyncs(t)
	d, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	f := newFSSync(d)
	written := f.mark() // A writes, then B's round runs first
	fails.Store(1)
	if err := f.Sync(f.mark()); err == nil {
		t.Fatal("the failing syncfs reported success")
	}
	if err := f.Sync(written); !errors.Is(err, syscall.EIO) {
		t.Fatalf("data written before a failed syncfs acknowledged: %v", err)
	}
	// Data written after the failure is covered by the next good call.
	if err := f.Sync(f.mark()); err != nil {
		t.Fatalf("write after the failure: %v", err)
	}
}

func partPath(dir, ip, name string) string { return filepath.Join(dir, ip, name) }

func size(t *testing.T, p string) int64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// A failed fsync is never acknowledged; the file it concerned is sealed as
// part 1 and never appended to again; later lines go to a new live part;
// every read, the listing, compaction and a restart see both parts in order.
func TestSyncFailureSealsFile(t *testing.T) {
	for _, mode := range syncModes {
		t.Run(mode.name, func(t *testing.T) {
			fails := failSyncs(t)
			dir := t.TempDir()
			opts := Options{SyncInterval: time.Hour, SyncFiles: mode.syncFiles}
			s := openTest(t, dir, opts)
			ip := netip.MustParseAddr("10.0.0.5")
			ctx := context.Background()
			appendSeq := func(i int) error {
				return s.AppendSync(ctx, Record{IP: ip, ScrapedAt: day.Add(time.Duration(i) * time.Minute), Snapshot: snap(i)})
			}
			if err := appendSeq(0); err != nil {
				t.Fatal(err)
			}
			fails.Store(1)
			if err := appendSeq(1); !errors.Is(err, syscall.EIO) {
				t.Fatalf("AppendSync over a failed fsync: %v, want EIO", err)
			}
			if err := s.Writable(); err == nil {
				t.Fatal("Writable is nil right after a failed fsync")
			}
			for i := 2; i < 4; i++ {
				if err := appendSeq(i); err != nil {
					t.Fatalf("append %d after the failure: %v", i, err)
				}
			}
			if err := s.Writable(); err != nil {
				t.Fatalf("Writable after a good append: %v", err)
			}
			sealed := partPath(dir, "10.0.0.5", "2026-11-27.1.jsonl")
			live := partPath(dir, "10.0.0.5", "2026-11-27.jsonl")
			sealedSize := size(t, sealed)
			if fi, err := os.Stat(sealed); err != nil {
				t.Fatal(err)
			} else if fi.Mode().Perm() != 0o600 {
				t.Fatalf("sealed part: mode %v, want 0600", fi.Mode().Perm())
			}
			if got := seqs(t, readFile(t, sealed)); fmt.Sprint(got) != "[0 1]" {
				t.Fatalf("sealed part holds %v, want [0 1]", got)
			}
			if got := seqs(t, readFile(t, live)); fmt.Sprint(got) != "[2 3]" {
				t.Fatalf("new part holds %v, want [2 3]", got)
			}
			if err := s.Append(Record{IP: ip, ScrapedAt: day.Add(4 * time.Minute), Snapshot: snap(4)}); err != nil {
				t.Fatal(err)
			}
			if size(t, sealed) != sealedSize {
				t.Fatal("the sealed part was appended to")
			}
			if got := seqs(t, readAll(t, s, ip, day, Query{})); fmt.Sprint(got) != "[0 1 2 3 4]" {
				t.Fatalf("ReadDay %v", got)
			}
			if got := seqs(t, readAll(t, s, ip, day, Query{From: day.Add(90 * time.Second), Limit: 2})); fmt.Sprint(got) != "[2 3]" {
				t.Fatalf("ReadDay from, limit: %v", got)
			}
			if line, err := s.Latest(ip); err != nil || seqOf(t, line) != 4 {
				t.Fatalf("Latest %.60s %v", line, err)
			}
			files, err := s.Files(ip)
			if err != nil || len(files) != 2 || files[0].Part != 1 || files[0].Snapshots != 2 || files[1].Part != 0 || files[1].Snapshots != 3 {
				t.Fatalf("Files %+v %v", files, err)
			}

			// A restart finds the parts again.
			s.Close()
			s = openTest(t, dir, opts)
			if got := seqs(t, readAll(t, s, ip, day, Query{})); fmt.Sprint(got) != "[0 1 2 3 4]" {
				t.Fatalf("after restart ReadDay %v", got)
			}
			// Compaction folds both parts into one .gz, in order.
			s.opts.CompressAfter = time.Hour
			s.compressDays(day.AddDate(0, 0, 2))
			ents, _ := os.ReadDir(filepath.Join(dir, "10.0.0.5"))
			if len(ents) != 1 || ents[0].Name() != "2026-11-27.jsonl.gz" {
				var names []string
				for _, e := range ents {
					names = append(names, e.Name())
				}
				t.Fatalf("after compaction: %v", names)
			}
			if got := seqs(t, readAll(t, s, ip, day, Query{})); fmt.Sprint(got) != "[0 1 2 3 4]" {
				t.Fatalf("compressed ReadDay %v", got)
			}
		})
	}
}

// With syncfs, a failure seen by one shard also fails another shard's
// waiters whose lines were written before it, although their own syncfs
// succeeds, and seals their files.
func TestSyncfsFailureFailsEarlierWritersOfOtherShards(t *testing.T) {
	if !haveSyncfs {
		t.Skip("no syncfs on this OS")
	}
	fails := failSyncs(t)
	dir := t.TempDir()
	s := openTest(t, dir, Options{SyncInterval: time.Hour})
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for shardOf(dirName(a)) == shardOf(dirName(b)) {
		b = b.Next()
	}
	ctx := context.Background()
	if err := s.Append(Record{IP: a, ScrapedAt: day, Snapshot: snap(0)}); err != nil {
		t.Fatal(err)
	}
	fails.Store(1)
	if err := s.AppendSync(ctx, Record{IP: b, ScrapedAt: day, Snapshot: snap(1)}); err == nil {
		t.Fatal("failed syncfs acknowledged")
	}
	// a's round syncs line 0 (written before the failure) and line 2.
	if err := s.AppendSync(ctx, Record{IP: a, ScrapedAt: day, Snapshot: snap(2)}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("line written after a's unsynced line 0 preceded a failed syncfs: %v, want EIO", err)
	}
	if err := s.AppendSync(ctx, Record{IP: a, ScrapedAt: day, Snapshot: snap(3)}); err != nil {
		t.Fatal(err)
	}
	d := dirName(a)
	if got := seqs(t, readFile(t, partPath(dir, d, "2026-11-27.1.jsonl"))); fmt.Sprint(got) != "[0 2]" {
		t.Fatalf("sealed part holds %v", got)
	}
	if got := seqs(t, readAll(t, s, a, day, Query{})); fmt.Sprint(got) != "[0 2 3]" {
		t.Fatalf("ReadDay %v", got)
	}
}

func readFile(t *testing.T, p string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var lines [][]byte
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != '\n' {
			i++
		}
		lines = append(lines, b[:i])
		b = b[min(i+1, len(b)):]
	}
	return lines
}

// Writable reports failing appends until a line is written and synced.
func TestWritableFollowsAppends(t *testing.T) {
	orig := writeLine
	var fail atomic.Bool
	writeLine = func(f *os.File, b []byte) (int, error) {
		if fail.Load() {
			return 0, &os.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
		}
		return orig(f, b)
	}
	t.Cleanup(func() { writeLine = orig })
	s := openTest(t, t.TempDir(), Options{SyncInterval: 10 * time.Millisecond})
	ip := netip.MustParseAddr("10.0.0.5")
	if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(0)}); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(1)}); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Append: %v, want ENOSPC", err)
	}
	// The probe alone (a one-byte file) still works: only the failed
	// append tells the truth.
	if err := s.Writable(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Writable while appends fail: %v", err)
	}
	fail.Store(false)
	if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(2)}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Writable() != nil {
		if time.Now().After(deadline) {
			t.Fatalf("Writable still %v 10s after a good append", s.Writable())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Day files and directories are private: 0600 and 0700, the root made so
// when it was looser.
func TestFileModes(t *testing.T) {
	for _, tc := range []struct {
		name string
		prep func(root string)
	}{
		{"new root", func(string) {}},
		{"loose root", func(root string) { os.Mkdir(root, 0o755) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "data")
			tc.prep(root)
			fails := failSyncs(t)
			s := openTest(t, root, Options{SyncInterval: time.Hour, SyncFiles: true})
			ip := netip.MustParseAddr("10.0.0.5")
			ctx := context.Background()
			for i, at := range []time.Time{day, day, day.AddDate(0, 0, 1)} {
				if i == 1 {
					fails.Store(1) // seals part 1
				}
				s.AppendSync(ctx, Record{IP: ip, ScrapedAt: at, Snapshot: snap(i)})
			}
			if err := s.AppendSync(ctx, Record{IP: ip, ScrapedAt: day, Snapshot: snap(3)}); err != nil {
				t.Fatal(err)
			}
			s.Files(ip) // writes count checkpoints
			s.opts.CompressAfter = time.Hour
			s.compressDays(day.AddDate(0, 0, 1).Add(12 * time.Hour))
			want := map[string]fs.FileMode{
				".":                                0o700,
				"10.0.0.5":                         0o700,
				"10.0.0.5/2026-11-27.jsonl.gz":     0o600,
				"10.0.0.5/2026-11-28.jsonl":        0o600,
				"10.0.0.5/.2026-11-28.jsonl.count": 0o600,
			}
			for p, mode := range want {
				fi, err := os.Stat(filepath.Join(root, p))
				if err != nil {
					t.Fatal(err)
				}
				if got := fi.Mode().Perm(); got != mode {
					t.Errorf("%s: mode %v, want %v", p, got, mode)
				}
			}
		})
	}
}

// storage_bytes follows appends, compaction and size retention; size
// retention deletes the oldest days of every agent first, never today,
// and what is left reads alike compressed or plain.
func TestSizeRetention(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := openTest(t, dir, Options{Registerer: reg})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	a, b := netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2")
	for d := 5; d >= 0; d-- {
		for i := range 3 {
			for _, ip := range []netip.Addr{a, b} {
				if ip == b && d == 4 {
					continue // b has no file that day
				}
				r := Record{IP: ip, ScrapedAt: now.AddDate(0, 0, -d).Add(time.Duration(i) * time.Minute), Snapshot: snap(10*d + i)}
				if err := s.Append(r); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	s.opts.CompressAfter = time.Hour
	// Days up to 3 days ago become compressed; the last two stay plain.
	s.compressDays(now.AddDate(0, 0, -2))
	s.countUsage()
	diskSize := func() int64 {
		var total int64
		filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if e.Type().IsRegular() {
				if _, _, ok := dayName(e.Name()); ok {
					fi, _ := e.Info()
					total += fi.Size()
				}
			}
			return nil
		})
		return total
	}
	if got, want := metricValue(t, reg, "archiver_storage_bytes"), diskSize(); got != float64(want) {
		t.Fatalf("storage_bytes %v, want %d", got, want)
	}
	if metricValue(t, reg, "archiver_storage_free_bytes") <= 0 {
		t.Error("storage_free_bytes not positive")
	}
	if err := s.Append(Record{IP: a, ScrapedAt: now, Snapshot: snap(99)}); err != nil {
		t.Fatal(err)
	}
	if got, want := metricValue(t, reg, "archiver_storage_bytes"), diskSize(); got != float64(want) {
		t.Fatalf("storage_bytes after an append %v, want %d", got, want)
	}

	// Keep about three days' worth: the 5 and 4 days old go.
	files, _ := s.Files(netip.Addr{})
	var keep int64
	for _, f := range files {
		if f.Date >= now.AddDate(0, 0, -3).Format(time.DateOnly) {
			keep += f.Bytes
		}
	}
	s.opts.RetentionSize = keep + 1
	s.applySizeRetention(now)
	files, _ = s.Files(netip.Addr{})
	var got []string
	for _, f := range files {
		got = append(got, fmt.Sprintf("%s/%s/%v", f.IP, f.Date[8:], f.Compressed))
	}
	want := "[10.0.0.1/24/true 10.0.0.1/25/false 10.0.0.1/26/false 10.0.0.1/27/false 10.0.0.2/24/true 10.0.0.2/25/false 10.0.0.2/26/false 10.0.0.2/27/false]"
	if fmt.Sprint(got) != want {
		t.Fatalf("kept %v\nwant %s", got, want)
	}
	if got, want := metricValue(t, reg, "archiver_storage_bytes"), diskSize(); got != float64(want) {
		t.Fatalf("storage_bytes after retention %v, want %d", got, want)
	}
	for _, tc := range []struct {
		d    int
		want string
	}{{3, "[30 31 32]"}, {1, "[10 11 12]"}} {
		if got := seqs(t, readAll(t, s, b, now.AddDate(0, 0, -tc.d), Query{})); fmt.Sprint(got) != tc.want {
			t.Errorf("day -%d reads %v, want %s", tc.d, got, tc.want)
		}
	}
	// Today is never deleted, however small the limit.
	s.opts.RetentionSize = 1
	s.applySizeRetention(now)
	files, _ = s.Files(netip.Addr{})
	if len(files) != 2 || files[0].Date != "2026-11-27" || files[1].Date != "2026-11-27" {
		t.Fatalf("with a 1-byte limit kept %+v", files)
	}
	if got := seqs(t, readAll(t, s, a, now, Query{})); fmt.Sprint(got) != "[0 1 2 99]" {
		t.Fatalf("today reads %v", got)
	}
}
