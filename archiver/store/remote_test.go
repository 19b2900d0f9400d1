package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/providers/filesystem"
)

// flakyBucket fails uploads while down is set, as an unreachable store would.
type flakyBucket struct {
	objstore.Bucket
	down    atomic.Bool
	uploads atomic.Int64
}

func (b *flakyBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	if b.down.Load() {
		return errors.New("object storage unreachable")
	}
	b.uploads.Add(1)
	return b.Bucket.Upload(ctx, name, r, opts...)
}

func testBucket(t *testing.T) *flakyBucket {
	t.Helper()
	bkt, err := filesystem.NewBucket(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &flakyBucket{Bucket: bkt}
}

func fastRemote(t *testing.T) {
	old, idle := remoteEvery, endedDayIdle
	remoteEvery, endedDayIdle = 20*time.Millisecond, 50*time.Millisecond
	t.Cleanup(func() { remoteEvery, endedDayIdle = old, idle })
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func manifests(t *testing.T, bkt objstore.Bucket) []string {
	t.Helper()
	var out []string
	err := bkt.Iter(context.Background(), "", func(name string) error {
		if strings.HasSuffix(name, manifestSuffix) {
			out = append(out, name)
		}
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func appendN(t *testing.T, s *Store, ip netip.Addr, start time.Time, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := s.Append(Record{IP: ip, ScrapedAt: start.Add(time.Duration(i) * time.Second), Snapshot: snap(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

func checkSeqs(t *testing.T, what string, got []int, from, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: %d lines, want %d: %v", what, len(got), n, got)
	}
	for i, v := range got {
		if v != from+i {
			t.Fatalf("%s: line %d is seq %d, want %d (%v)", what, i, v, from+i, got)
		}
	}
}

// A finished day is closed, uploaded and, past the local retention, read
// from the bucket only; a new archiver on an empty disk serves everything.
func TestRemoteUploadAndServeFromEmptyDisk(t *testing.T) {
	fastRemote(t)
	bkt := testBucket(t)
	ip := netip.MustParseAddr("10.0.0.1")
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -3).Truncate(24 * time.Hour).Add(time.Hour)
	recent := now.Add(-10 * time.Minute)

	dirA := t.TempDir()
	reg := prometheus.NewRegistry()
	a := openTest(t, dirA, Options{Bucket: bkt, RemoteID: "archiver-a", LocalRetention: time.Nanosecond, Registerer: reg})
	appendN(t, a, ip, old, 0, 50)
	appendN(t, a, ip, recent, 100, 10)
	waitFor(t, "the finished day to leave local disk", func() bool {
		fs, err := a.localFiles(ip)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Date == old.Format(time.DateOnly) {
				return false
			}
		}
		return len(manifests(t, bkt)) >= 1 // more if a close raced the appends
	})
	if v := metricValue(t, reg, "archiver_remote_uploaded_bytes_total"); v <= 0 {
		t.Errorf("archiver_remote_uploaded_bytes_total = %v", v)
	}
	checkSeqs(t, "finished day from the bucket", seqs(t, readAll(t, a, ip, old, Query{})), 0, 50)
	checkSeqs(t, "today, local", seqs(t, readAll(t, a, ip, recent, Query{})), 100, 10)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	todays := 0
	for _, m := range manifests(t, bkt) {
		if strings.Contains(m, "/"+recent.Format(time.DateOnly)+"/") {
			todays++
		}
	}
	if todays != 1 {
		t.Fatalf("after Close: %d segments of today in the bucket, want 1 (closed on shutdown)", todays)
	}

	b := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "archiver-b"})
	checkSeqs(t, "finished day, new archiver", seqs(t, readAll(t, b, ip, old, Query{})), 0, 50)
	checkSeqs(t, "today, new archiver", seqs(t, readAll(t, b, ip, recent, Query{})), 100, 10)
	q := Query{From: old.Add(10 * time.Second), To: old.Add(19 * time.Second), Limit: 5}
	checkSeqs(t, "from/to/limit", seqs(t, readAll(t, b, ip, old, q)), 10, 5)
	line, err := b.Latest(ip)
	if err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, "latest", seqs(t, [][]byte{line}), 109, 1)
	files, err := b.Files(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	var snaps int64
	for _, f := range files {
		if !f.Remote || f.Archiver != "archiver-a" || f.IP != ip.String() {
			t.Errorf("unexpected file %+v", f)
		}
		snaps += f.Snapshots
	}
	if len(files) < 2 || snaps != 60 {
		t.Errorf("files = %+v, want remote segments of 60 snapshots", files)
	}
	err = b.ReadDay(context.Background(), netip.MustParseAddr("10.0.0.2"), old, Query{}, func([]byte) error { return nil })
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown address: %v, want ErrNotFound", err)
	}
}

// Segments stay local, counted as pending, while the bucket is down, and
// go up once it is back; nothing is lost or doubled.
func TestRemoteBucketDown(t *testing.T) {
	fastRemote(t)
	bkt := testBucket(t)
	bkt.down.Store(true)
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	reg := prometheus.NewRegistry()
	s := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "a", LocalRetention: time.Nanosecond, Registerer: reg})
	appendN(t, s, ip, old, 0, 20)
	failures := func() float64 {
		mfs, _ := reg.Gather()
		for _, mf := range mfs {
			if mf.GetName() == "archiver_remote_uploads_total" {
				for _, m := range mf.GetMetric() {
					if m.GetLabel()[0].GetValue() == "failure" {
						return m.GetCounter().GetValue()
					}
				}
			}
		}
		return 0
	}
	waitFor(t, "failed uploads", func() bool { return failures() >= 2 })
	if v := metricValue(t, reg, "archiver_remote_pending_segments"); v != 1 {
		t.Errorf("pending segments = %v, want 1", v)
	}
	checkSeqs(t, "while the bucket is down", seqs(t, readAll(t, s, ip, old, Query{})), 0, 20)
	bkt.down.Store(false)
	waitFor(t, "the upload and local prune", func() bool {
		fs, _ := s.localFiles(ip)
		return len(fs) == 0 && len(manifests(t, bkt)) >= 1
	})
	if v := metricValue(t, reg, "archiver_remote_upload_lag_seconds"); v != 0 {
		t.Errorf("lag = %v after catching up", v)
	}
	checkSeqs(t, "after the bucket is back", seqs(t, readAll(t, s, ip, old, Query{})), 0, 20)
}

// A crash between the object and its manifest leaves a closed part without
// marker: start-up uploads it again under the same name, and reads see it
// once.
func TestRemoteReuploadAfterCrash(t *testing.T) {
	fastRemote(t)
	bkt := testBucket(t)
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	appendN(t, s, ip, old, 0, 30)
	s.Close()
	// What the crashed archiver had done: the part closed and its object
	// (but not the manifest) written.
	s2 := openTest(t, dir, Options{})
	if _, err := s2.rotate(dirName(ip), old.Format(time.DateOnly)+".jsonl"); err != nil {
		t.Fatal(err)
	}
	s2.Close()
	if err := bkt.Upload(context.Background(), "10.0.0.1/"+old.Format(time.DateOnly)+"/a/garbage_1.jsonl.gz", strings.NewReader("torn")); err != nil {
		t.Fatal(err)
	}

	s3 := openTest(t, dir, Options{Bucket: bkt, RemoteID: "a"})
	waitFor(t, "the re-upload", func() bool { return len(manifests(t, bkt)) == 1 })
	uploads := bkt.uploads.Load()
	checkSeqs(t, "local and remote copy read once", seqs(t, readAll(t, s3, ip, old, Query{})), 0, 30)
	s3.Close()
	// The marker makes the upload final: a restart uploads nothing again.
	s4 := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "b"})
	checkSeqs(t, "bucket only", seqs(t, readAll(t, s4, ip, old, Query{})), 0, 30)
	s5 := openTest(t, dir, Options{Bucket: bkt, RemoteID: "a"})
	s5.Close()
	if got := bkt.uploads.Load(); got != uploads {
		t.Errorf("a restart uploaded %d more objects", got-uploads)
	}
}

// Two archivers storing the same address and day (pushes reach either)
// write distinct objects, and a third serves both.
func TestRemoteTwoArchiversSameDay(t *testing.T) {
	fastRemote(t)
	bkt := testBucket(t)
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	a := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "a"})
	b := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "b"})
	appendN(t, a, ip, old, 0, 10)
	appendN(t, b, ip, old, 10, 10)
	a.Close()
	b.Close()
	if n := len(manifests(t, bkt)); n != 2 {
		t.Fatalf("%d segments, want 2: %v", n, manifests(t, bkt))
	}
	c := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "c"})
	checkSeqs(t, "both archivers' segments", seqs(t, readAll(t, c, ip, old, Query{})), 0, 20)
}

// The bucket's retention deletes whole days past Options.Retention.
func TestRemoteBucketRetention(t *testing.T) {
	bkt := testBucket(t)
	ip := netip.MustParseAddr("10.0.0.1")
	now := time.Now().UTC()
	reg := prometheus.NewRegistry()
	s := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "a", Retention: 5 * 24 * time.Hour, Registerer: reg})
	for _, d := range []time.Time{now.AddDate(0, 0, -10), now.AddDate(0, 0, -2)} {
		putSegment(t, bkt, dirName(ip), d.Format(time.DateOnly), "a", 1, 1)
	}
	if err := s.bucketRetention(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	got := manifests(t, bkt)
	if len(got) != 1 || !strings.Contains(got[0], now.AddDate(0, 0, -2).Format(time.DateOnly)) {
		t.Errorf("after retention: %v, want only the day 2 days old", got)
	}
	// The store's own first run may have raced this one to the same day.
	if v := labelled(t, reg, "archiver_remote_retention_deleted_days_total", "reason", reasonAge); v < 1 {
		t.Errorf("deleted days (age) = %v, want at least 1", v)
	}
}

func TestManifestNameRoundTrip(t *testing.T) {
	for _, tc := range []struct{ codec, manifest, object string }{
		{codecZstd, "2001_db8__1/2026-12-01/host-1.example/1796086923000000004_3_1796090400000000000_7_99.zst.json", "2001_db8__1/2026-12-01/host-1.example/1796086923000000004_3.jsonl.zst"},
		{codecGzip, "2001_db8__1/2026-12-01/host-1.example/1796086923000000004_3_1796090400000000000_7_99.json", "2001_db8__1/2026-12-01/host-1.example/1796086923000000004_3.jsonl.gz"},
	} {
		g := segment{dir: "2001_db8__1", date: "2026-12-01", id: "host-1.example", part: 3, codec: tc.codec,
			first: time.Date(2026, 12, 1, 1, 2, 3, 4, time.UTC), last: time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC), lines: 7, bytes: 99}
		g.manifest = g.manifestName()
		if g.manifest != tc.manifest || g.object() != tc.object {
			t.Errorf("%s: manifest %q, object %q; want %q, %q", tc.codec, g.manifest, g.object(), tc.manifest, tc.object)
		}
		back, ok := parseManifestName(g.manifest)
		if !ok || back != g {
			t.Fatalf("parse(%q) = %+v, %v", g.manifest, back, ok)
		}
	}
	for _, bad := range []string{"x.json", "10.0.0.1/2026-12-01/a/1_2_3_4.json", "10.0.0.1/2026-13-01/a/1_2_3_4_5.json", "10.0.0.1/2026-12-01/a/1_2_3_4_5.jsonl.gz"} {
		if _, ok := parseManifestName(bad); ok {
			t.Errorf("parse(%q) accepted", bad)
		}
	}
	if id := RemoteID("a/b c"); id != "a_b_c" {
		t.Errorf("RemoteID = %q", id)
	}
}

// Size retention never deletes a segment whose only copy is local.
func TestRemoteSizeRetentionKeepsPending(t *testing.T) {
	fastRemote(t)
	bkt := testBucket(t)
	bkt.down.Store(true)
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	reg := prometheus.NewRegistry()
	s := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "a", RetentionSize: 1, Registerer: reg})
	appendN(t, s, ip, old, 0, 20)
	waitFor(t, "the segment to close", func() bool { return metricValue(t, reg, "archiver_remote_pending_segments") == 1 })
	s.applySizeRetention(time.Now())
	checkSeqs(t, "pending segment after size retention", seqs(t, readAll(t, s, ip, old, Query{})), 0, 20)
	bkt.down.Store(false)
	waitFor(t, "the upload", func() bool { return len(manifests(t, bkt)) == 1 })
	waitFor(t, "the marker", func() bool { return len(s.localMarkers(dirName(ip))) == 1 })
	s.applySizeRetention(time.Now())
	if fs, _ := s.localFiles(ip); len(fs) != 0 {
		t.Errorf("uploaded segment kept past the size limit: %+v", fs)
	}
	checkSeqs(t, "from the bucket after size retention", seqs(t, readAll(t, s, ip, old, Query{})), 0, 20)
}

// countingBucket records how many downloads run at once; each waits until
// another one starts (or a deadline), so serial reads show as 1.
type countingBucket struct {
	objstore.Bucket
	mu                  sync.Mutex
	inflight, maxFlight int
	started             chan struct{}
}

func (b *countingBucket) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	b.mu.Lock()
	b.inflight++
	b.maxFlight = max(b.maxFlight, b.inflight)
	b.mu.Unlock()
	select {
	case b.started <- struct{}{}:
	default:
	}
	select {
	case <-b.started:
	case <-time.After(time.Second):
	}
	defer func() {
		b.mu.Lock()
		b.inflight--
		b.mu.Unlock()
	}()
	return b.Bucket.Get(ctx, name)
}

// A day of several segments is downloaded a few segments ahead of the
// one being read, and still read in order.
func TestRemoteDayPrefetches(t *testing.T) {
	fastRemote(t)
	bkt := testBucket(t)
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	a := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "a", LocalRetention: time.Nanosecond})
	const segments = 6
	for k := range segments {
		appendN(t, a, ip, old, k*10, 10)
		waitFor(t, fmt.Sprintf("segment %d", k), func() bool { return len(manifests(t, bkt)) == k+1 })
	}
	a.Close()
	cb := &countingBucket{Bucket: bkt, started: make(chan struct{})}
	b := openTest(t, t.TempDir(), Options{Bucket: cb, RemoteID: "b"})
	checkSeqs(t, "six segments", seqs(t, readAll(t, b, ip, old, Query{})), 0, segments*10)
	cb.mu.Lock()
	defer cb.mu.Unlock()
	if cb.maxFlight < 2 || cb.maxFlight > prefetch {
		t.Errorf("at most %d segments downloaded at once, want 2..%d", cb.maxFlight, prefetch)
	}
}

// Between a segment's manifest and its local marker, reads still see its
// lines once.
func TestRemoteNoDuplicateBeforeMarker(t *testing.T) {
	fastRemote(t)
	bkt := testBucket(t)
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	s := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "a"})
	appendN(t, s, ip, old, 0, 10)
	waitFor(t, "the marker", func() bool { return len(s.localMarkers(dirName(ip))) == 1 })
	for part := range s.localMarkers(dirName(ip)) {
		dir, name := filepath.Dir(part), filepath.Base(part)
		if err := os.Remove(filepath.Join(s.dir, dir, hidden(name, uploadedSuffix))); err != nil {
			t.Fatal(err)
		}
		s.setMarker(dir, name, "")
	}
	checkSeqs(t, "uploaded, marker not yet written", seqs(t, readAll(t, s, ip, old, Query{})), 0, 10)
}

// Segments are zstd; gzip segments written by earlier versions are read
// beside them, in time order.
func TestRemoteReadsGzipSegmentsOfEarlierVersions(t *testing.T) {
	fastRemote(t)
	bkt := testBucket(t)
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -3).Truncate(24 * time.Hour).Add(time.Hour)

	// An earlier version's segment: lines gzipped, under a manifest
	// without ".zst".
	var raw []byte
	for i := range 10 {
		r := Record{IP: ip, ScrapedAt: old.Add(time.Duration(i) * time.Second), Snapshot: snap(i)}
		raw, _ = appendLine(raw, &r)
	}
	legacy := segment{dir: dirName(ip), date: old.Format(time.DateOnly), id: "v1", part: 1, codec: codecGzip,
		first: old, last: old.Add(9 * time.Second), lines: 10, bytes: int64(len(gzOf(raw)))}
	for name, body := range map[string][]byte{legacy.object(): gzOf(raw), legacy.manifestName(): []byte("{}\n")} {
		if err := bkt.Upload(context.Background(), name, strings.NewReader(string(body))); err != nil {
			t.Fatal(err)
		}
	}

	a := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "v2", LocalRetention: time.Nanosecond})
	appendN(t, a, ip, old, 10, 10)
	waitFor(t, "the zstd segment", func() bool {
		for _, m := range manifests(t, bkt) {
			if strings.HasSuffix(m, ".zst.json") {
				return true
			}
		}
		return false
	})
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "reader"})
	checkSeqs(t, "gzip then zstd segment", seqs(t, readAll(t, b, ip, old, Query{})), 0, 20)
}

// Segments close at their address's boundaries, spread evenly over every
// max-age across addresses; none is longer than max-age, and one that follows
// another is max-age long.
func TestCloseAtSpreadsSegments(t *testing.T) {
	const maxAge = time.Hour
	day := time.Date(2026, 12, 3, 0, 0, 0, 0, time.UTC)
	var tenths [10]int
	for i := range 1000 {
		dir := dirName(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
		for _, first := range []time.Time{day.Add(3 * time.Second), day.Add(5*time.Hour + 17*time.Minute)} {
			at := closeAt(dir, "2026-12-03", first, maxAge)
			if !at.After(first) || at.After(first.Add(maxAge)) {
				t.Fatalf("%s: segment from %s closes at %s, outside (first, first + max-age]", dir, first, at)
			}
			if first.Hour() == 5 {
				tenths[int(at.Sub(day)%maxAge*10/maxAge)]++
			}
			// The next segment begins with the next scrape: max-age long.
			next := at.Add(5 * time.Second)
			if got := closeAt(dir, "2026-12-03", next, maxAge); !got.Equal(at.Add(maxAge)) {
				t.Fatalf("%s: segment from %s closes at %s, want %s", dir, next, got, at.Add(maxAge))
			}
			// A first line on a boundary begins a segment max-age long.
			if got := closeAt(dir, "2026-12-03", at, maxAge); !got.Equal(at.Add(maxAge)) {
				t.Fatalf("%s: segment from boundary %s closes at %s, want %s", dir, at, got, at.Add(maxAge))
			}
		}
	}
	for i, n := range tenths {
		if n < 60 || n > 140 { // 100 expected in each tenth of the hour
			t.Errorf("tenth %d of the hour: %d of 1000 segments close in it (%v)", i, n, tenths)
		}
	}
	if got := closeAt("x", "not-a-date", day, maxAge); !got.Equal(day.Add(maxAge)) {
		t.Errorf("bad date: %s", got)
	}
}

// A part uploaded as gzip by an earlier version and again as zstd (its
// marker was never written) is served once; a manifest whose object the
// retention deleted meanwhile is skipped, not an error for the whole day.
func TestRemoteSegmentCopiesAndOrphans(t *testing.T) {
	bkt := testBucket(t)
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -3).Truncate(24 * time.Hour).Add(time.Hour)
	lines := func(from, n int) []byte {
		var raw []byte
		for i := from; i < from+n; i++ {
			r := Record{IP: ip, ScrapedAt: old.Add(time.Duration(i) * time.Second), Snapshot: snap(i)}
			raw, _ = appendLine(raw, &r)
		}
		return raw
	}
	put := func(g segment, object []byte) {
		t.Helper()
		if object != nil {
			if err := bkt.Upload(context.Background(), g.object(), strings.NewReader(string(object))); err != nil {
				t.Fatal(err)
			}
		}
		if err := bkt.Upload(context.Background(), g.manifestName(), strings.NewReader("{}\n")); err != nil {
			t.Fatal(err)
		}
	}
	seg := func(codec string, part, from, n int) segment {
		return segment{dir: dirName(ip), date: old.Format(time.DateOnly), id: "a", part: part, codec: codec,
			first: old.Add(time.Duration(from) * time.Second), last: old.Add(time.Duration(from+n-1) * time.Second), lines: int64(n), bytes: 1}
	}
	put(seg(codecGzip, 1, 0, 10), gzOf(lines(0, 10)))
	put(seg(codecZstd, 1, 0, 10), zstdOf(t, lines(0, 10)))
	put(seg(codecZstd, 2, 10, 10), nil) // its object deleted by a retention run racing the upload
	put(seg(codecZstd, 3, 20, 10), zstdOf(t, lines(20, 10)))

	s := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "reader"})
	got := seqs(t, readAll(t, s, ip, old, Query{}))
	want := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("read %v, want %v", got, want)
	}
}

func zstdOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf strings.Builder
	zw := segmentEncoders.Get().(*zstd.Encoder)
	defer segmentEncoders.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(buf.String())
}

// The age retention runs in its own loop, bucketRunFirst after start.
func TestBucketAgeLoop(t *testing.T) {
	first, jit := bucketRunFirst, bucketRunJitter
	bucketRunFirst, bucketRunJitter = 10*time.Millisecond, 10*time.Millisecond
	t.Cleanup(func() { bucketRunFirst, bucketRunJitter = first, jit })
	bkt := testBucket(t)
	ip := netip.MustParseAddr("10.0.0.1")
	now := time.Now().UTC()
	for _, d := range []time.Time{now.AddDate(0, 0, -10), now.AddDate(0, 0, -2)} {
		putSegment(t, bkt, dirName(ip), d.Format(time.DateOnly), "a", 1, 1)
	}
	openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "a", Retention: 5 * 24 * time.Hour})
	waitFor(t, "the day 10 days old to leave the bucket", func() bool {
		got := manifests(t, bkt)
		return len(got) == 1 && strings.Contains(got[0], now.AddDate(0, 0, -2).Format(time.DateOnly))
	})
}
