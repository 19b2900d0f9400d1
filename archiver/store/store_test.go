package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var day = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func snap(i int) []byte {
	return fmt.Appendf(nil, `{"schema_version":1,"seq":%d,"pad":"%s"}`, i, strings.Repeat("x", i%50))
}

func openTest(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readAll(t testing.TB, s *Store, ip netip.Addr, d time.Time, q Query) [][]byte {
	t.Helper()
	var lines [][]byte
	err := s.ReadDay(context.Background(), ip, d, q, func(line []byte) error {
		lines = append(lines, append([]byte(nil), line...))
		return nil
	})
	if err != nil {
		t.Fatalf("ReadDay: %v", err)
	}
	return lines
}

// metricValue reads one unlabelled counter or gauge from reg.
func metricValue(t testing.TB, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

type storedLine struct {
	IP        string            `json:"ip"`
	Target    string            `json:"target"`
	Labels    map[string]string `json:"labels"`
	ScrapedAt time.Time         `json:"scraped_at"`
	Snapshot  struct {
		Seq    int `json:"seq"`
		Writer int `json:"writer"`
	} `json:"snapshot"`
}

func TestAppendAndRead(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	ip := netip.MustParseAddr("10.0.0.5")
	for i := range 10 {
		err := s.Append(Record{IP: ip, Target: "10.0.0.5:9110", Labels: map[string]string{"env": "prod", "a": "q\"x"}, ScrapedAt: day.Add(time.Duration(i) * time.Minute), Snapshot: snap(i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	lines := readAll(t, s, ip, day, Query{})
	if len(lines) != 10 {
		t.Fatalf("got %d lines, want 10", len(lines))
	}
	var rec storedLine
	if err := json.Unmarshal(lines[3], &rec); err != nil {
		t.Fatalf("line not JSON: %v: %s", err, lines[3])
	}
	if rec.IP != "10.0.0.5" || rec.Target != "10.0.0.5:9110" || rec.Labels["a"] != "q\"x" || rec.Snapshot.Seq != 3 || !rec.ScrapedAt.Equal(day.Add(3*time.Minute)) {
		t.Fatalf("bad record %+v", rec)
	}
	want := `{"ip":"10.0.0.5","target":"10.0.0.5:9110","labels":{"a":"q\"x","env":"prod"},"scraped_at":"2026-11-27T10:03:00Z","snapshot":` + string(snap(3)) + `}`
	if string(lines[3]) != want {
		t.Fatalf("line\n%s\nwant\n%s", lines[3], want)
	}
	if _, err := os.Stat(filepath.Join(dir, "10.0.0.5", "2026-11-27.jsonl")); err != nil {
		t.Fatal(err)
	}
}

func TestReadDayQuery(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ip := netip.MustParseAddr("10.0.0.5")
	for i := range 10 {
		if err := s.Append(Record{IP: ip, ScrapedAt: day.Add(time.Duration(i) * time.Minute), Snapshot: snap(i)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		q     Query
		first int
		n     int
	}{
		{"all", Query{}, 0, 10},
		{"limit", Query{Limit: 4}, 0, 4},
		{"from", Query{From: day.Add(7 * time.Minute)}, 7, 3},
		{"to inclusive", Query{To: day.Add(2 * time.Minute)}, 0, 3},
		{"range and limit", Query{From: day.Add(2 * time.Minute), To: day.Add(8 * time.Minute), Limit: 3}, 2, 3},
		{"empty", Query{From: day.Add(time.Hour)}, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := readAll(t, s, ip, day, tc.q)
			if len(got) != tc.n {
				t.Fatalf("%d lines, want %d", len(got), tc.n)
			}
			if tc.n > 0 && !bytes.Contains(got[0], fmt.Appendf(nil, `"seq":%d,`, tc.first)) {
				t.Fatalf("first line %s, want seq %d", got[0], tc.first)
			}
		})
	}
	err := s.ReadDay(context.Background(), ip, day.AddDate(0, 0, 1), Query{}, func([]byte) error { return nil })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing day: %v, want ErrNotFound", err)
	}
}

// TestConcurrentAppends has many goroutines write to shared files with few
// descriptors, so eviction, reopening and group commit all race; every line
// must come back whole, in each writer's order, and counted exactly.
func TestConcurrentAppends(t *testing.T) {
	for _, mode := range syncModes {
		t.Run(mode.name, func(t *testing.T) { testConcurrentAppends(t, mode.syncFiles) })
	}
}

func testConcurrentAppends(t *testing.T, syncFiles bool) {
	const writers, perWriter, ips = 24, 150, 40
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s, err := Open(dir, Options{MaxOpenFiles: 16, SyncInterval: 50 * time.Millisecond, Registerer: reg, SyncFiles: syncFiles})
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("y", 130<<10) // larger than a pipe buffer or a page: a torn write would show
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				ip := netip.AddrFrom4([4]byte{10, 1, byte(w % 4), byte((w*perWriter + i) % ips)})
				pad := ""
				if i%50 == 0 {
					pad = big
				}
				rec := Record{IP: ip, ScrapedAt: day, Snapshot: fmt.Appendf(nil, `{"schema_version":1,"writer":%d,"seq":%d,"pad":"%s"}`, w, i, pad)}
				var err error
				if i%10 == 0 {
					err = s.AppendSync(context.Background(), rec)
				} else {
					err = s.Append(rec)
				}
				if err != nil {
					t.Errorf("append: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, reg, "archiver_snapshots_written_total"); got != writers*perWriter {
		t.Errorf("snapshots_written_total %v, want %d", got, writers*perWriter)
	}
	if got := metricValue(t, reg, "archiver_open_files"); got != 0 {
		t.Errorf("open_files after Close %v, want 0", got)
	}

	s = openTest(t, dir, Options{})
	files, err := s.Files(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	lastSeq := map[int]int{}
	total := 0
	for _, f := range files {
		var n int64
		for _, line := range readAll(t, s, netip.MustParseAddr(f.IP), day, Query{}) {
			// Check the pad with a fast scan and decode the rest: the race
			// detector makes decoding megabytes slow.
			i := bytes.Index(line, []byte(`,"pad":"`))
			if i < 0 || !bytes.HasSuffix(line, []byte(`"}}`)) {
				t.Fatalf("%s: broken line %.200s", f.IP, line)
			}
			pad := line[i+8 : len(line)-3]
			if (len(pad) != 0 && len(pad) != len(big)) || bytes.Count(pad, []byte{'y'}) != len(pad) {
				t.Fatalf("%s: pad of %d bytes damaged", f.IP, len(pad))
			}
			line = append(line[:i:i], "}}"...)
			var rec storedLine
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatalf("%s: invalid line (%v): %.200s", f.IP, err, line)
			}
			if rec.IP != f.IP {
				t.Fatalf("line of %s in file of %s", rec.IP, f.IP)
			}
			if prev, ok := lastSeq[rec.Snapshot.Writer]; ok && rec.Snapshot.Seq <= prev && f.IP == ipOf(rec.Snapshot.Writer, prev) {
				t.Fatalf("writer %d: seq %d after %d in one file", rec.Snapshot.Writer, rec.Snapshot.Seq, prev)
			}
			lastSeq[rec.Snapshot.Writer] = rec.Snapshot.Seq
			n++
		}
		if n != f.Snapshots {
			t.Errorf("%s: read %d lines, listing says %d", f.IP, n, f.Snapshots)
		}
		total += int(n)
	}
	if total != writers*perWriter {
		t.Fatalf("stored %d lines, want %d", total, writers*perWriter)
	}
}

func ipOf(w, i int) string {
	const perWriter, ips = 150, 40
	return netip.AddrFrom4([4]byte{10, 1, byte(w % 4), byte((w*perWriter + i) % ips)}).String()
}

func TestTornTailRecovery(t *testing.T) {
	good := `{"ip":"10.0.0.1","snapshot":{"schema_version":1}}` + "\n"
	long := strings.Repeat("z", 3*tailChunk)
	tests := []struct {
		name     string
		content  string
		want     string
		cutLines float64
	}{
		{"empty", "", "", 0},
		{"complete", good + good, good + good, 0},
		{"torn", good + good + `{"ip":"10.0.`, good + good, 1},
		{"only fragment", `{"ip":"10.0.`, "", 1},
		{"long fragment", good + long, good, 1},
		{"long line then fragment", good + `{"a":"` + long + "\"}\n" + `{"b"`, good + `{"a":"` + long + "\"}\n", 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "10.0.0.1", "2026-11-27.jsonl")
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			s := openTest(t, dir, Options{Registerer: reg})
			got, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("after recovery %d bytes, want %d", len(got), len(tc.want))
			}
			if n := metricValue(t, reg, "archiver_torn_lines_cut_total"); n != tc.cutLines {
				t.Errorf("torn_lines_cut_total %v, want %v", n, tc.cutLines)
			}
			// New lines start on a line of their own.
			if err := s.Append(Record{IP: netip.MustParseAddr("10.0.0.1"), ScrapedAt: day, Snapshot: snap(1)}); err != nil {
				t.Fatal(err)
			}
			for _, line := range readAll(t, s, netip.MustParseAddr("10.0.0.1"), day, Query{}) {
				if !json.Valid(line) {
					t.Fatalf("invalid line after recovery: %.100s", line)
				}
			}
		})
	}
}

// TestRepairOnReopen covers a fragment appearing while the store runs (a
// failed write whose cut failed, or another process): the writer repairs the
// tail when it next opens the file instead of gluing a line onto it.
func TestRepairOnReopen(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := openTest(t, dir, Options{Registerer: reg, MaxOpenFiles: 1})
	ip := netip.MustParseAddr("10.0.0.1")
	if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(1)}); err != nil {
		t.Fatal(err)
	}
	// Push the file out of the descriptor cache, then damage it.
	for i := range 40 {
		if err := s.Append(Record{IP: netip.AddrFrom4([4]byte{10, 9, 0, byte(i)}), ScrapedAt: day, Snapshot: snap(i)}); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "10.0.0.1", "2026-11-27.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"ip":"torn`)
	f.Close()
	if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(2)}); err != nil {
		t.Fatal(err)
	}
	lines := readAll(t, s, ip, day, Query{})
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2", len(lines))
	}
	for _, l := range lines {
		if !json.Valid(l) {
			t.Fatalf("invalid line %s", l)
		}
	}
	if n := metricValue(t, reg, "archiver_torn_lines_cut_total"); n != 1 {
		t.Errorf("torn_lines_cut_total %v, want 1", n)
	}
}

// TestDescriptorBound appends to many more files than MaxOpenFiles allows
// and checks the held descriptors never exceed the bound while every line
// is still stored.
func TestDescriptorBound(t *testing.T) {
	for _, mode := range syncModes {
		t.Run(mode.name, func(t *testing.T) { testDescriptorBound(t, mode.syncFiles) })
	}
}

func testDescriptorBound(t *testing.T, syncFiles bool) {
	const maxOpen = 32
	ips := 200
	if syncFiles {
		ips = 80 // about an fsync per append once the bound is reached: slow
	}
	reg := prometheus.NewRegistry()
	dir := t.TempDir()
	s := openTest(t, dir, Options{MaxOpenFiles: maxOpen, SyncInterval: time.Hour, Registerer: reg, SyncFiles: syncFiles})
	baseFDs := countFDs(t)
	for round := range 2 {
		for i := range ips {
			ip := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
			if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(round)}); err != nil {
				t.Fatal(err)
			}
			if open := metricValue(t, reg, "archiver_open_files"); open > maxOpen || open < 1 {
				t.Fatalf("open_files %v > %d", open, maxOpen)
			}
			if n := countFDs(t); baseFDs >= 0 && n-baseFDs > maxOpen+4 {
				t.Fatalf("process holds %d more descriptors than at start, bound %d", n-baseFDs, maxOpen)
			}
		}
	}
	files, err := s.Files(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != ips {
		t.Fatalf("%d files, want %d", len(files), ips)
	}
	for _, f := range files {
		if f.Snapshots != 2 {
			t.Fatalf("%s has %d snapshots, want 2", f.IP, f.Snapshots)
		}
	}
}

// countFDs counts this process's descriptors where the OS exposes them, or
// returns -1.
func countFDs(t testing.TB) int {
	if runtime.GOOS != "linux" {
		return -1
	}
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// syncSpy replaces syncFile and syncAll to record, after each sync, the size
// of the watched file at that moment: what a crash would at least keep.
type syncSpy struct {
	watch  string
	mu     sync.Mutex
	synced int64
	calls  atomic.Int64
	delay  time.Duration
}

func spySync(t *testing.T, delay time.Duration, watch string) *syncSpy {
	spy := &syncSpy{watch: watch, delay: delay}
	origFile, origAll := syncFile, syncAll
	record := func(covers bool) {
		spy.calls.Add(1)
		if fi, err := os.Stat(spy.watch); err == nil && covers {
			spy.mu.Lock()
			spy.synced = max(spy.synced, fi.Size())
			spy.mu.Unlock()
		}
	}
	syncFile = func(f *os.File) error {
		time.Sleep(spy.delay)
		err := origFile(f)
		record(f.Name() == spy.watch || strings.HasSuffix(f.Name(), string(filepath.Separator)+filepath.Base(filepath.Dir(spy.watch))+"/"+filepath.Base(spy.watch)))
		return err
	}
	syncAll = func(d *os.File) error {
		time.Sleep(spy.delay)
		err := origAll(d)
		record(true)
		return err
	}
	t.Cleanup(func() { syncFile, syncAll = origFile, origAll })
	return spy
}

func (spy *syncSpy) size() int64 {
	spy.mu.Lock()
	defer spy.mu.Unlock()
	return spy.synced
}

// syncModes runs a test with syncfs rounds (where the OS has it) and with
// per-file fsyncs.
var syncModes = []struct {
	name      string
	syncFiles bool
}{{"syncfs", false}, {"per-file", true}}

func TestAppendSyncIsDurable(t *testing.T) {
	for _, mode := range syncModes {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "10.0.0.7", "2026-11-27.jsonl")
			spy := spySync(t, 0, p)
			// An interval this long means only AppendSync can cause a sync.
			s := openTest(t, dir, Options{SyncInterval: time.Hour, SyncFiles: mode.syncFiles})
			ip := netip.MustParseAddr("10.0.0.7")
			if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(1)}); err != nil {
				t.Fatal(err)
			}
			if n := spy.calls.Load(); n != 0 {
				t.Fatalf("Append synced (%d calls) with a 1h interval", n)
			}
			for i := range 5 {
				if err := s.AppendSync(context.Background(), Record{IP: ip, ScrapedAt: day, Snapshot: snap(i)}); err != nil {
					t.Fatal(err)
				}
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if synced := spy.size(); synced != fi.Size() {
					t.Fatalf("AppendSync returned with %d of %d bytes synced", synced, fi.Size())
				}
			}
		})
	}
}

func TestAppendIsSyncedWithinInterval(t *testing.T) {
	for _, mode := range syncModes {
		t.Run(mode.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, "10.0.0.8", "2026-11-27.jsonl")
			spy := spySync(t, 0, p)
			s := openTest(t, dir, Options{SyncInterval: 20 * time.Millisecond, SyncFiles: mode.syncFiles})
			if err := s.Append(Record{IP: netip.MustParseAddr("10.0.0.8"), ScrapedAt: day, Snapshot: snap(1)}); err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for spy.size() != fi.Size() {
				if time.Now().After(deadline) {
					t.Fatal("line not synced within 10s with a 20ms interval")
				}
				time.Sleep(time.Millisecond)
			}
		})
	}
}

func TestGroupCommit(t *testing.T) {
	for _, mode := range syncModes {
		t.Run(mode.name, func(t *testing.T) {
			spy := spySync(t, 20*time.Millisecond, "")
			s := openTest(t, t.TempDir(), Options{SyncInterval: time.Hour, SyncFiles: mode.syncFiles})
			const callers = 64
			var wg sync.WaitGroup
			for i := range callers {
				wg.Go(func() {
					if err := s.AppendSync(context.Background(), Record{IP: netip.MustParseAddr("10.0.0.9"), ScrapedAt: day, Snapshot: snap(i)}); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if n := spy.calls.Load(); n >= callers/4 {
				t.Fatalf("%d syncs for %d concurrent AppendSync calls: not grouped", n, callers)
			}
		})
	}
}

func TestAppendSyncHonoursContext(t *testing.T) {
	spySync(t, 200*time.Millisecond, "")
	s := openTest(t, t.TempDir(), Options{SyncInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	err := s.AppendSync(ctx, Record{IP: netip.MustParseAddr("10.0.0.9"), ScrapedAt: day, Snapshot: snap(1)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
}

func TestClose(t *testing.T) {
	s, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(); err != nil {
		t.Fatalf("Writable on open store: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Append(Record{IP: netip.MustParseAddr("10.0.0.1"), Snapshot: snap(1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := s.Writable(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Writable after Close: %v", err)
	}
}

func TestAppendRejects(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	tests := []struct {
		name string
		rec  Record
	}{
		{"no ip", Record{Snapshot: snap(1)}},
		{"not an object", Record{IP: netip.MustParseAddr("10.0.0.1"), Snapshot: []byte(`[1,2]`)}},
		{"empty", Record{IP: netip.MustParseAddr("10.0.0.1")}},
		{"broken multi-line", Record{IP: netip.MustParseAddr("10.0.0.1"), Snapshot: []byte("{\n\"a\":}")}},
		{"year 10000", Record{IP: netip.MustParseAddr("10.0.0.1"), ScrapedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), Snapshot: snap(1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.Append(tc.rec); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	files, _ := s.Files(netip.Addr{})
	if len(files) != 0 {
		t.Fatalf("rejected records left files: %+v", files)
	}
}

func TestAddressesAndDates(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	tests := []struct {
		ip, dir string
		at      time.Time
		file    string
	}{
		{"10.0.0.5", "10.0.0.5", day, "2026-11-27.jsonl"},
		{"2001:db8::1", "2001_db8__1", day, "2026-11-27.jsonl"},
		{"::ffff:10.0.0.6", "10.0.0.6", day, "2026-11-27.jsonl"},
		{"fe80::1%eth0", "fe80__1", day, "2026-11-27.jsonl"},
		{"10.0.0.7", "10.0.0.7", time.Date(2026, 11, 28, 0, 30, 0, 0, time.FixedZone("CET", 3600)), "2026-11-27.jsonl"},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			if err := s.Append(Record{IP: netip.MustParseAddr(tc.ip), ScrapedAt: tc.at, Snapshot: snap(1)}); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, tc.dir, tc.file)); err != nil {
				t.Fatal(err)
			}
			if ip, ok := parseDirName(tc.dir); !ok || ip.String() != netip.MustParseAddr(tc.ip).Unmap().WithZone("").String() {
				t.Fatalf("parseDirName(%q) = %v, %v", tc.dir, ip, ok)
			}
		})
	}
	for _, bad := range []string{"..", "10.0.0.5_", "2001:db8::1", "fe80__1%eth0", "__ffff_10.0.0.6", "x"} {
		if _, ok := parseDirName(bad); ok {
			t.Errorf("parseDirName(%q) accepted", bad)
		}
	}
}

func TestLatest(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	ip := netip.MustParseAddr("10.0.0.5")
	if _, err := s.Latest(ip); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Latest of unknown: %v", err)
	}
	big := fmt.Appendf(nil, `{"schema_version":1,"seq":99,"pad":"%s"}`, strings.Repeat("p", 200<<10))
	for i, rec := range []Record{
		{IP: ip, ScrapedAt: day.AddDate(0, 0, -1), Snapshot: snap(1)},
		{IP: ip, ScrapedAt: day, Snapshot: snap(2)},
		{IP: ip, ScrapedAt: day, Snapshot: big},
	} {
		if err := s.Append(rec); err != nil {
			t.Fatal(i, err)
		}
	}
	line, err := s.Latest(ip)
	if err != nil || !bytes.Contains(line, []byte(`"seq":99`)) || !json.Valid(line) {
		t.Fatalf("Latest: %.80s %v", line, err)
	}
	// A line being written (no newline yet) is not served.
	p := filepath.Join(dir, "10.0.0.5", "2026-11-27.jsonl")
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"ip":"10.0.0.5","partial`)
	f.Close()
	if line, err = s.Latest(ip); err != nil || !bytes.Contains(line, []byte(`"seq":99`)) {
		t.Fatalf("Latest with partial tail: %.80s %v", line, err)
	}
	// A newest day without complete lines falls back to the day before.
	if err := os.WriteFile(filepath.Join(dir, "10.0.0.5", "2026-11-28.jsonl"), []byte(`{"partial`), 0o644); err != nil {
		t.Fatal(err)
	}
	if line, err = s.Latest(ip); err != nil || !bytes.Contains(line, []byte(`"seq":99`)) {
		t.Fatalf("Latest with empty newest day: %.80s %v", line, err)
	}
}

func TestReadDayLongLinesAndPartialTail(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	ip := netip.MustParseAddr("10.0.0.5")
	sizes := []int{10, 3 << 20, 100, readBufSize - 60, 5}
	for i, n := range sizes {
		rec := Record{IP: ip, ScrapedAt: day, Snapshot: fmt.Appendf(nil, `{"schema_version":1,"seq":%d,"pad":"%s"}`, i, strings.Repeat("l", n))}
		if err := s.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, "10.0.0.5", "2026-11-27.jsonl"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"ip":"10.0.0.5","partial`)
	f.Close()
	lines := readAll(t, s, ip, day, Query{})
	if len(lines) != len(sizes) {
		t.Fatalf("%d lines, want %d", len(lines), len(sizes))
	}
	for i, l := range lines {
		if !json.Valid(l) || !bytes.Contains(l, fmt.Appendf(nil, `"seq":%d,`, i)) {
			t.Fatalf("line %d wrong: %.80s", i, l)
		}
	}
}

func TestFilesCountsGrow(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	ip := netip.MustParseAddr("10.0.0.5")
	for round, want := range []int64{3, 7, 8} {
		for range int(want) - []int{0, 3, 7}[round] {
			if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(round)}); err != nil {
				t.Fatal(err)
			}
		}
		files, err := s.Files(ip)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 1 || files[0].Snapshots != want || files[0].Date != "2026-11-27" || files[0].IP != "10.0.0.5" {
			t.Fatalf("round %d: %+v, want %d snapshots", round, files, want)
		}
	}
	if files, err := s.Files(netip.MustParseAddr("10.0.0.6")); err != nil || len(files) != 0 {
		t.Fatalf("other ip: %+v %v", files, err)
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	s := openTest(t, dir, Options{Registerer: reg})
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	old := netip.MustParseAddr("10.0.0.1")
	mixed := netip.MustParseAddr("10.0.0.2")
	for _, rec := range []Record{
		{IP: old, ScrapedAt: now.AddDate(0, 0, -40)},
		{IP: old, ScrapedAt: now.AddDate(0, 0, -31)},
		{IP: mixed, ScrapedAt: now.AddDate(0, 0, -35)},
		{IP: mixed, ScrapedAt: now.AddDate(0, 0, -30)},
		{IP: mixed, ScrapedAt: now},
	} {
		rec.Snapshot = snap(1)
		if err := s.Append(rec); err != nil {
			t.Fatal(err)
		}
	}
	s.opts.Retention = 30 * 24 * time.Hour
	s.applyRetention(now)
	files, err := s.Files(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.IP+"/"+f.Date)
	}
	want := "10.0.0.2/2026-10-28 10.0.0.2/2026-11-27"
	if strings.Join(got, " ") != want {
		t.Fatalf("kept %v, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "10.0.0.1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("empty directory kept: %v", err)
	}
	if n := metricValue(t, reg, "archiver_retention_deleted_files_total"); n != 3 {
		t.Errorf("retention_deleted_files_total %v, want 3", n)
	}
}

func TestStrayFilesIgnored(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"notanip/2026-11-27.jsonl", "10.0.0.1/notes.txt", "10.0.0.1/2026-13-01.jsonl", "stray.jsonl"} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(dir, p), []byte("torn"), 0o644)
	}
	s := openTest(t, dir, Options{})
	files, err := s.Files(netip.Addr{})
	if err != nil || len(files) != 0 {
		t.Fatalf("files %+v %v", files, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "notanip/2026-11-27.jsonl")); string(b) != "torn" {
		t.Fatal("recovery touched a file that is not a day file")
	}
}

// TestCountCheckpoints checks that line counts are saved beside the day
// files, reused after a restart with only new bytes counted, and ignored
// when they cannot describe the file.
func TestCountCheckpoints(t *testing.T) {
	dir := t.TempDir()
	ip := netip.MustParseAddr("10.0.0.5")
	p := filepath.Join(dir, "10.0.0.5", "2026-11-27.jsonl")
	side := filepath.Join(dir, "10.0.0.5", ".2026-11-27.jsonl.count")
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Append(Record{IP: ip, ScrapedAt: day, Snapshot: snap(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if files, err := s.Files(ip); err != nil || files[0].Snapshots != 5 {
		t.Fatalf("files %+v %v", files, err)
	}
	s.Close()
	fi, _ := os.Stat(p)
	if b, err := os.ReadFile(side); err != nil || string(b) != fmt.Sprintf("%d 5\n", fi.Size()) {
		t.Fatalf("checkpoint %q %v", b, err)
	}

	tests := []struct {
		name       string
		checkpoint string // "" = leave as saved
		append     string
		want       int64
	}{
		{"grown", "", "{}\n{}\n{}\n{\"partial", 8},
		{"lying count is trusted for its bytes", fmt.Sprintf("%d 50\n", fi.Size()), "", 53},
		{"beyond the file", "999999999 3\n", "", 8},
		{"not at a line end", "7 1\n", "", 8},
		{"garbage", "x y\n", "", 8},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.checkpoint != "" {
				os.WriteFile(side, []byte(tc.checkpoint), 0o644)
			}
			if tc.append != "" {
				f, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
				f.WriteString(tc.append)
				f.Close()
			}
			s := openTest(t, dir, Options{})
			files, err := s.Files(ip)
			if err != nil || len(files) != 1 || files[0].Snapshots != tc.want {
				t.Fatalf("files %+v %v, want %d snapshots", files, err, tc.want)
			}
			s.Close()
		})
	}
}

// TestCompressedDays checks that a finished day compressed to .jsonl.gz
// (by an operator or a future compactor) reads exactly like a plain one.
func TestCompressedDays(t *testing.T) {
	dir := t.TempDir()
	ip := netip.MustParseAddr("10.0.0.5")
	var plain bytes.Buffer
	for i := range 4 {
		r := Record{IP: ip, ScrapedAt: day.Add(time.Duration(i) * time.Minute), Snapshot: snap(i)}
		line, err := appendLine(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		plain.Write(line)
	}
	plain.WriteString(`{"torn`)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain.Bytes())
	zw.Close()
	os.MkdirAll(filepath.Join(dir, "10.0.0.5"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "10.0.0.5", "2026-11-27.jsonl.gz"), gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, dir, Options{})
	if lines := readAll(t, s, ip, day, Query{From: day.Add(time.Minute), Limit: 2}); len(lines) != 2 || !bytes.Contains(lines[0], []byte(`"seq":1,`)) {
		t.Fatalf("ReadDay: %q", lines)
	}
	if line, err := s.Latest(ip); err != nil || !bytes.Contains(line, []byte(`"seq":3,`)) {
		t.Fatalf("Latest: %s %v", line, err)
	}
	files, err := s.Files(ip)
	if err != nil || len(files) != 1 || !files[0].Compressed || files[0].Snapshots != 4 || files[0].Bytes != int64(gz.Len()) {
		t.Fatalf("Files: %+v %v", files, err)
	}
}

func TestIdleFilesClosed(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := openTest(t, t.TempDir(), Options{Registerer: reg, idleAfter: 50 * time.Millisecond})
	for i := range 3 {
		if err := s.Append(Record{IP: netip.AddrFrom4([4]byte{10, 5, 0, byte(i)}), ScrapedAt: day, Snapshot: snap(i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for metricValue(t, reg, "archiver_open_files") != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%v files still open after 10s idle", metricValue(t, reg, "archiver_open_files"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A closed file reopens on the next append.
	if err := s.Append(Record{IP: netip.AddrFrom4([4]byte{10, 5, 0, 0}), ScrapedAt: day, Snapshot: snap(9)}); err != nil {
		t.Fatal(err)
	}
	if n := len(readAll(t, s, netip.AddrFrom4([4]byte{10, 5, 0, 0}), day, Query{})); n != 2 {
		t.Fatalf("%d lines, want 2", n)
	}
}

func TestWritableConcurrently(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 20 {
				if err := s.Writable(); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// TestReadDayBisect compares time-bounded reads that seek by bisection and
// stop early against a plain filter over every line, on a day whose lines
// are out of order by up to a few minutes and some longer than a read step.
func TestReadDayBisect(t *testing.T) {
	defer func(old int64) { bisectMin = old }(bisectMin)
	bisectMin = 0
	dir := t.TempDir()
	ip := netip.MustParseAddr("10.0.0.5")
	rng := rand.New(rand.NewPCG(3, 4))
	var content bytes.Buffer
	var times []time.Time
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	for i := range 1500 {
		at := start.Add(time.Duration(i)*time.Minute - time.Duration(rng.IntN(300))*time.Second)
		pad := strings.Repeat("q", 4<<10+rng.IntN(16<<10)) // a few lines per read step, so slack errors show
		if i%97 == 0 {
			pad = strings.Repeat("Q", 100<<10)
		}
		r := Record{IP: ip, Labels: map[string]string{"scraped_at": "decoy"}, ScrapedAt: at, Snapshot: fmt.Appendf(nil, `{"schema_version":1,"seq":%d,"pad":"%s"}`, i, pad)}
		line, err := appendLine(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		content.Write(line)
		times = append(times, at)
	}
	p := filepath.Join(dir, "10.0.0.5", "2026-11-27.jsonl")
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, content.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openTest(t, dir, Options{})
	for range 60 {
		from := start.Add(time.Duration(rng.IntN(26*60)-60) * time.Minute)
		to := from.Add(time.Duration(rng.IntN(180)) * time.Minute)
		var want []int
		for i, at := range times {
			if !at.Before(from) && !at.After(to) {
				want = append(want, i)
			}
		}
		got := readAll(t, s, ip, start, Query{From: from, To: to})
		if len(got) != len(want) {
			t.Fatalf("[%v, %v]: %d lines, want %d", from, to, len(got), len(want))
		}
		for k, line := range got {
			if !bytes.Contains(line, fmt.Appendf(nil, `"seq":%d,`, want[k])) {
				t.Fatalf("[%v, %v]: line %d is %.120s, want seq %d", from, to, k, line, want[k])
			}
		}
	}
}
