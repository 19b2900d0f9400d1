package push

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func testQueue(t *testing.T, dir string, maxBytes int64) (*queue, *metrics) {
	t.Helper()
	m := newMetrics(prometheus.NewRegistry())
	q, err := openQueue(dir, maxBytes, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return q, m
}

func doc(i int) []byte { return fmt.Appendf(nil, `{"schema_version":1,"collected_at":"%d"}`, i) }

// drain takes and acknowledges everything queued, returning it in order.
func drain(q *queue) []string {
	var got []string
	for {
		e, plain := q.take()
		if e == nil {
			return got
		}
		got = append(got, string(plain))
		q.done(e)
	}
}

func spoolFiles(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func want(is ...int) []string {
	var s []string
	for _, i := range is {
		s = append(s, string(doc(i)))
	}
	return s
}

// TestSpoolOrder queues snapshots while pushes fail: every one but the
// newest goes to disk, and all come back oldest first, the files gone.
func TestSpoolOrder(t *testing.T) {
	dir := t.TempDir()
	q, m := testQueue(t, dir, 1<<20)
	for i := range 12 { // past 9 → 10: names must sort as numbers
		q.add(doc(i))
		if e, _ := q.take(); e != nil {
			q.keep(e) // the push (of the oldest) failed
		}
	}
	// The newest waits in memory until the next snapshot or shutdown.
	if n := len(spoolFiles(t, dir)); n != 11 {
		t.Fatalf("%d files in the spool, want 11", n)
	}
	q.close()
	if got := testutil.ToFloat64(m.spoolSnapshots); got != 12 {
		t.Fatalf("spool_snapshots %v, want 12", got)
	}
	if got := drain(q); !slices.Equal(got, want(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)) {
		t.Fatalf("replayed %q", got)
	}
	if f := spoolFiles(t, dir); len(f) != 0 {
		t.Fatalf("files left after replay: %v", f)
	}
	if b := testutil.ToFloat64(m.spoolBytes); b != 0 {
		t.Fatalf("spool_bytes %v after replay, want 0", b)
	}
}

// TestSpoolLimitDropsOldest fills a spool sized for three snapshots.
func TestSpoolLimitDropsOldest(t *testing.T) {
	dir := t.TempDir()
	probe, _ := testQueue(t, t.TempDir(), 1<<20)
	probe.add(doc(0))
	probe.close()
	one := probe.bytes // every doc compresses to the same size
	q, m := testQueue(t, dir, 3*one)
	for i := range 6 {
		q.add(doc(i))
	}
	q.close()
	if got := testutil.ToFloat64(m.dropped.WithLabelValues(dropSpoolFull)); got != 3 {
		t.Fatalf("dropped{spool_full} = %v, want 3", got)
	}
	if q.bytes > 3*one || testutil.ToFloat64(m.spoolBytes) != float64(q.bytes) {
		t.Fatalf("spool holds %d bytes (gauge %v), limit %d", q.bytes, testutil.ToFloat64(m.spoolBytes), 3*one)
	}
	if got := drain(q); !slices.Equal(got, want(3, 4, 5)) {
		t.Fatalf("replayed %q, want the newest three", got)
	}
}

// TestSpoolSurvivesRestart spools, "restarts" by opening the directory
// again, and checks the order and that new snapshots come after the old.
func TestSpoolSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	q, _ := testQueue(t, dir, 1<<20)
	for i := range 3 {
		q.add(doc(i))
	}
	q.close() // shutdown: the newest, still in memory, is written too
	// A crash in the middle of a write leaves a temporary file behind.
	if err := os.WriteFile(filepath.Join(dir, spoolTemp+spoolName(99)), []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}

	q2, m2 := testQueue(t, dir, 1<<20)
	if got := testutil.ToFloat64(m2.spoolSnapshots); got != 3 {
		t.Fatalf("spool_snapshots after restart %v, want 3", got)
	}
	if slices.ContainsFunc(spoolFiles(t, dir), func(n string) bool { return n == spoolTemp+spoolName(99) }) {
		t.Fatal("unfinished temporary file not removed at start")
	}
	q2.add(doc(3))
	if got := drain(q2); !slices.Equal(got, want(0, 1, 2, 3)) {
		t.Fatalf("replayed %q", got)
	}
}

// TestSpoolSkipsCorruptFiles puts a truncated file, garbage, an empty
// file and compressed non-JSON among good ones: each is logged, removed
// and counted, and the good ones still come out in order.
func TestSpoolSkipsCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	q, _ := testQueue(t, dir, 1<<20)
	for i := range 5 {
		q.add(doc(i))
	}
	q.close()
	names := spoolFiles(t, dir)
	if len(names) != 5 {
		t.Fatalf("spool holds %v", names)
	}
	good, err := os.ReadFile(filepath.Join(dir, names[1]))
	if err != nil {
		t.Fatal(err)
	}
	notJSON := encodeZstd(t, []byte("{not json"))
	for name, data := range map[string][]byte{
		names[1]: good[:len(good)/2],        // truncated
		names[2]: []byte("\x00garbage\xff"), // not zstd
		names[3]: nil,                       // empty
		names[4]: notJSON,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// An operator's file in the directory is left alone.
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("hi"), 0o600); err != nil {
		t.Fatal(err)
	}

	q2, m := testQueue(t, dir, 1<<20)
	q2.add(doc(5))
	if got := drain(q2); !slices.Equal(got, want(0, 5)) {
		t.Fatalf("replayed %q, want only the intact ones", got)
	}
	if got := testutil.ToFloat64(m.dropped.WithLabelValues(dropCorrupt)); got != 4 {
		t.Fatalf("dropped{corrupt} = %v, want 4", got)
	}
	if f := spoolFiles(t, dir); !slices.Equal(f, []string{"README"}) {
		t.Fatalf("left in the spool: %v", f)
	}
}

// TestMemoryQueueKeepsNewest: without a spool directory, a snapshot not
// pushed by the time the next one is taken is dropped and counted.
func TestMemoryQueueKeepsNewest(t *testing.T) {
	q, m := testQueue(t, "", 1<<20)
	q.add(doc(0))
	e, _ := q.take()
	q.add(doc(1)) // while doc 0 is in flight
	q.keep(e)     // doc 0 failed: doc 1 is newer
	q.add(doc(2)) // doc 1 never went out
	if got := drain(q); !slices.Equal(got, want(2)) {
		t.Fatalf("sent %q, want only the newest", got)
	}
	if got := testutil.ToFloat64(m.dropped.WithLabelValues(dropNoSpool)); got != 2 {
		t.Fatalf("dropped{no_spool} = %v, want 2", got)
	}
}

func encodeZstd(t *testing.T, b []byte) []byte {
	t.Helper()
	probe, _ := testQueue(t, t.TempDir(), 1<<20)
	probe.add(b)
	probe.close()
	data, err := os.ReadFile(filepath.Join(probe.dir, spoolName(0)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestSpoolUnusableAtStart: a spool that cannot be created or written
// stops the start, instead of losing snapshots later.
func TestSpoolUnusableAtStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := openQueue(filepath.Join(file, "spool"), 1<<20, newMetrics(nil), slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("spool under a regular file opened")
	}
}
