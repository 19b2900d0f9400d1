package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
)

// putSegment writes a segment of n compressed bytes (as its manifest
// says) and its manifest.
func putSegment(t *testing.T, bkt objstore.Bucket, dir, date, id string, part int, n int64) segment {
	t.Helper()
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		t.Fatal(err)
	}
	first := d.Add(time.Duration(part) * time.Hour)
	g := segment{dir: dir, date: date, id: id, part: part, first: first, last: first.Add(time.Minute), lines: 1, bytes: n}
	for _, name := range []string{g.object(), g.manifestName()} {
		if err := bkt.Upload(context.Background(), name, strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	return g
}

// bucketDates lists the "<dir>/<date>" holding any object, sorted.
func bucketDates(t *testing.T, bkt objstore.Bucket) []string {
	t.Helper()
	seen := map[string]bool{}
	err := bkt.Iter(context.Background(), "", func(name string) error {
		if e := strings.Split(name, "/"); len(e) == 4 {
			seen[e[0]+"/"+e[1]] = true
		}
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// labelled reads one series of a labelled metric.
func labelled(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	t.Fatalf("metric %s{%s=%q} not found", name, label, value)
	return 0
}

// gathered says whether reg exposes a metric of that name.
func gathered(t *testing.T, reg *prometheus.Registry, name string) bool {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return true
		}
	}
	return false
}

// recordingBucket counts listings and records deletions in order.
type recordingBucket struct {
	objstore.Bucket
	iters   atomic.Int64
	mu      sync.Mutex
	deleted []string
}

func (b *recordingBucket) Iter(ctx context.Context, dir string, f func(string) error, opts ...objstore.IterOption) error {
	b.iters.Add(1)
	return b.Bucket.Iter(ctx, dir, f, opts...)
}

func (b *recordingBucket) Delete(ctx context.Context, name string) error {
	b.mu.Lock()
	b.deleted = append(b.deleted, name)
	b.mu.Unlock()
	return b.Bucket.Delete(ctx, name)
}

// manifestsFirst fails if an object of an agent day was deleted before
// one of that day's manifests.
func manifestsFirst(t *testing.T, deleted []string) {
	t.Helper()
	objectSeen := map[string]bool{}
	for _, name := range deleted {
		day := path.Dir(path.Dir(name))
		if strings.HasSuffix(name, manifestSuffix) {
			if objectSeen[day] {
				t.Errorf("manifest %s deleted after an object of its day", name)
			}
		} else {
			objectSeen[day] = true
		}
	}
}

func TestBucketSizeRetention(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	const (
		a, b = "10.0.0.1", "10.0.0.2"
		d1   = "2026-11-30"
		d2   = "2026-12-01"
		d3   = "2026-12-02"
		tday = "2026-12-03"
		next = "2026-12-04" // a clock ahead: never deleted either
	)
	type seg struct {
		dir, date, id string
		bytes         int64
	}
	// Two agents, two archivers, 100 bytes per agent day and archiver.
	fleet := []seg{
		{a, d1, "x", 100}, {a, d1, "y", 100}, {b, d1, "x", 100},
		{a, d2, "x", 100}, {b, d2, "y", 100},
		{a, d3, "x", 100}, {b, d3, "x", 100},
		{a, tday, "x", 100}, {b, tday, "x", 100},
	}
	all := []string{a + "/" + d1, a + "/" + d2, a + "/" + d3, a + "/" + tday, b + "/" + d1, b + "/" + d2, b + "/" + d3, b + "/" + tday}
	without := func(gone ...string) []string {
		return slices.DeleteFunc(slices.Clone(all), func(k string) bool {
			return slices.ContainsFunc(gone, func(d string) bool { return strings.HasSuffix(k, "/"+d) })
		})
	}
	cases := []struct {
		name        string
		segs        []seg
		torn        string // an object without manifest under this date of a
		state       *retentionState
		limit       int64
		want        []string
		wantDeleted float64
		wantBytes   float64
		wantThrough string
		wantNext    time.Duration // from now
		wantIters   int64         // listings (0: not measured)
	}{
		{name: "far under the limit", segs: fleet, limit: 10000, want: all, wantBytes: 900,
			wantNext: bucketSizeMax, wantIters: 3},
		{name: "half a day under the limit", segs: fleet, limit: 1000, want: all, wantBytes: 900,
			wantNext: 12 * time.Hour, wantIters: 3},
		{name: "at the limit", segs: fleet, limit: 900, want: all, wantBytes: 900,
			wantNext: bucketSizeMin, wantIters: 3},
		{name: "oldest date goes whole, for every agent and archiver", segs: fleet, torn: d1, limit: 850,
			want: without(d1), wantDeleted: 2, wantBytes: 600, wantThrough: d1,
			// 250 bytes of room at 200 a day (2026-12-02): 30 hours, capped
			wantNext: bucketSizeMax, wantIters: 3 + 2},
		{name: "as many dates as needed, oldest first", segs: fleet, limit: 450,
			want: without(d1, d2), wantDeleted: 4, wantBytes: 400, wantThrough: d2,
			wantNext: 6 * time.Hour, wantIters: 3 + 4},
		{name: "today and later dates are never deleted", segs: append(slices.Clone(fleet), seg{a, next, "x", 100}), limit: 50,
			want: append(without(d1, d2, d3), a+"/"+next), wantDeleted: 6, wantBytes: 300, wantThrough: d3,
			wantNext: 13 * time.Hour, wantIters: 3 + 6}, // midnight + 1h
		{name: "measured recently by another archiver with the same limit", segs: fleet, limit: 100,
			want: all, wantBytes: 777, wantNext: 5 * time.Hour,
			state: &retentionState{Limit: 100, Bytes: 777, NextAt: now.Add(5 * time.Hour), Archiver: "y"}},
		{name: "measured recently with a larger limit", segs: fleet, limit: 850,
			want: without(d1), wantDeleted: 2, wantBytes: 600, wantThrough: d1, wantNext: bucketSizeMax, wantIters: 3 + 2,
			state: &retentionState{Limit: 10000, NextAt: now.Add(5 * time.Hour), Archiver: "y", DeletedThrough: "2026-01-01"}},
		{name: "what is left of a date already deleted goes, even under the limit", segs: fleet, limit: 10000,
			want: without(d1), wantDeleted: 2, wantBytes: 600, wantThrough: d1, wantNext: bucketSizeMax, wantIters: 3 + 2,
			state: &retentionState{DeletedThrough: d1}},
		{name: "planned run is due", segs: fleet, limit: 850,
			want: without(d1), wantDeleted: 2, wantBytes: 600, wantThrough: d1, wantNext: bucketSizeMax, wantIters: 3 + 2,
			state: &retentionState{Limit: 850, NextAt: now.Add(-time.Minute), Archiver: "y"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mem := objstore.NewInMemBucket()
			for i, g := range tc.segs {
				putSegment(t, mem, g.dir, g.date, g.id, i, g.bytes)
			}
			if tc.torn != "" {
				if err := mem.Upload(context.Background(), a+"/"+tc.torn+"/z/1_1.jsonl.gz", strings.NewReader("torn")); err != nil {
					t.Fatal(err)
				}
			}
			reg := prometheus.NewRegistry()
			rb := &recordingBucket{Bucket: mem}
			s := openTest(t, t.TempDir(), Options{Bucket: rb, RemoteID: "x", RemoteRetentionSize: tc.limit, Registerer: reg})
			if tc.state != nil {
				if err := s.updateRetentionState(context.Background(), func(st *retentionState) { *st = *tc.state }); err != nil {
					t.Fatal(err)
				}
			}
			rb.iters.Store(0)
			got, err := s.bucketSizeRetention(context.Background(), now)
			if err != nil {
				t.Fatal(err)
			}
			if d := got.Sub(now); d != tc.wantNext {
				t.Errorf("next run in %v, want %v", d, tc.wantNext)
			}
			slices.Sort(tc.want)
			if dates := bucketDates(t, mem); !slices.Equal(dates, tc.want) {
				t.Errorf("left %v\nwant %v", dates, tc.want)
			}
			if n := rb.iters.Load(); n != tc.wantIters {
				t.Errorf("%d listings, want %d", n, tc.wantIters)
			}
			manifestsFirst(t, rb.deleted)
			if v := labelled(t, reg, "archiver_remote_retention_deleted_days_total", "reason", reasonSize); v != tc.wantDeleted {
				t.Errorf("deleted days (size) = %v, want %v", v, tc.wantDeleted)
			}
			if v := metricValue(t, reg, "archiver_remote_bucket_bytes"); v != tc.wantBytes {
				t.Errorf("archiver_remote_bucket_bytes = %v, want %v", v, tc.wantBytes)
			}
			st, err := s.readRetentionState(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			wantThrough := tc.wantThrough
			if tc.state != nil && wantThrough == "" {
				wantThrough = tc.state.DeletedThrough
			}
			if st.DeletedThrough != wantThrough {
				t.Errorf("deleted_through = %q, want %q", st.DeletedThrough, wantThrough)
			}
			if tc.wantIters > 0 && (!st.NextAt.Equal(got) || st.Limit != tc.limit || st.Archiver != "x" || float64(st.Bytes) != tc.wantBytes) {
				t.Errorf("state %+v: want the run's plan, limit, archiver and bytes", st)
			}
		})
	}
}

func TestSizeRunDelay(t *testing.T) {
	noon := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	const gb = 1 << 30
	cases := []struct {
		name                 string
		now                  time.Time
		total, limit, perDay int64
		want                 time.Duration
	}{
		{"empty bucket", noon, 0, 100 * gb, 0, bucketSizeMax},
		{"days of room", noon, 50 * gb, 100 * gb, 10 * gb, bucketSizeMax},
		{"half a day of room", noon, 95 * gb, 100 * gb, 10 * gb, 12 * time.Hour},
		{"minutes of room", noon, 100*gb - 1, 100 * gb, 10 * gb, bucketSizeMin},
		{"at the limit", noon, 100 * gb, 100 * gb, 10 * gb, bucketSizeMin},
		{"over, only today left: after midnight", noon, 120 * gb, 100 * gb, 10 * gb, 13 * time.Hour},
		{"over just before midnight", noon.Add(11*time.Hour + 50*time.Minute), 120 * gb, 100 * gb, 10 * gb, 70 * time.Minute},
	}
	for _, tc := range cases {
		if got := sizeRunDelay(tc.now, tc.total, tc.limit, tc.perDay); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestDeletedByRetention(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	stateErr := errors.New("object storage unreachable")
	cases := []struct {
		name      string
		retention time.Duration
		through   string
		stateErr  error
		date      string
		want      bool
		wantErr   bool
	}{
		{"no retention at all", 0, "", nil, "2026-11-01", false, false},
		{"older than the retention", 10 * 24 * time.Hour, "", nil, "2026-11-22", true, false},
		{"within the retention", 10 * 24 * time.Hour, "", nil, "2026-11-23", false, false},
		{"deleted for size", 0, "2026-11-25", nil, "2026-11-25", true, false},
		{"newer than deleted for size: the bucket lost it", 0, "2026-11-25", nil, "2026-11-26", false, false},
		{"state unreadable", 0, "", stateErr, "2026-11-26", false, true},
		{"old enough needs no state", 10 * 24 * time.Hour, "", stateErr, "2026-11-01", true, false},
	}
	for _, tc := range cases {
		s := &Store{opts: Options{Retention: tc.retention}}
		got, err := s.deletedByRetention(now, tc.date, func() (retentionState, error) {
			return retentionState{DeletedThrough: tc.through}, tc.stateErr
		})
		if got != tc.want || (err != nil) != tc.wantErr {
			t.Errorf("%s: %v, %v; want %v, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

// A local copy, within the local retention when its day is deleted from
// the bucket for size, leaves local disk once past it instead of being
// uploaded again; one whose manifest vanished otherwise (the bucket
// emptied) still goes up again.
func TestPruneLocalAfterBucketRetention(t *testing.T) {
	cases := []struct {
		name       string
		sizeDelete bool // else the bucket is emptied by hand
		wantLocal  bool
	}{
		{name: "deleted for size by another archiver", sizeDelete: true, wantLocal: false},
		{name: "bucket emptied", sizeDelete: false, wantLocal: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fastRemote(t)
			mem := objstore.NewInMemBucket()
			bkt := &flakyBucket{Bucket: mem}
			ip := netip.MustParseAddr("10.0.0.1")
			old := time.Now().UTC().AddDate(0, 0, -3).Truncate(24 * time.Hour)
			date := old.Format(time.DateOnly)
			dir := t.TempDir()
			s := openTest(t, dir, Options{Bucket: bkt, RemoteID: "a", LocalRetention: 48 * time.Hour})
			appendN(t, s, ip, old, 0, 10)
			waitFor(t, "the upload", func() bool { return len(s.localMarkers(dirName(ip))) == 1 })
			var part string
			for p := range s.localMarkers(dirName(ip)) {
				part = p
			}
			if tc.sizeDelete {
				other := openTest(t, t.TempDir(), Options{Bucket: mem, RemoteID: "b", RemoteRetentionSize: 1})
				if _, err := other.bucketSizeRetention(context.Background(), time.Now()); err != nil {
					t.Fatal(err)
				}
			} else {
				for _, name := range manifests(t, mem) {
					if err := mem.Delete(context.Background(), name); err != nil {
						t.Fatal(err)
					}
				}
			}
			if n := len(manifests(t, mem)); n != 0 {
				t.Fatalf("%d manifests left after deleting the day", n)
			}
			uploads := bkt.uploads.Load()
			// The part passes the local retention.
			aged := time.Now().Add(-72 * time.Hour)
			if err := os.Chtimes(filepath.Join(dir, filepath.FromSlash(part)), aged, aged); err != nil {
				t.Fatal(err)
			}
			if tc.wantLocal {
				waitFor(t, "the upload again", func() bool { return len(manifests(t, mem)) == 1 })
				return
			}
			waitFor(t, "the local copy to leave", func() bool {
				_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(part)))
				return errors.Is(err, os.ErrNotExist)
			})
			if _, err := os.Stat(filepath.Join(dir, dirName(ip), hidden(path.Base(part), uploadedSuffix))); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("marker left behind: %v", err)
			}
			// Had the marker been taken for a lie, the part would have gone
			// up again before leaving local disk.
			if n := bkt.uploads.Load() - uploads; n != 0 || len(manifests(t, mem)) != 0 {
				t.Errorf("day %s uploaded again (%d uploads): %v", date, n, manifests(t, mem))
			}
		})
	}
}

// gateBucket holds each archiver's first delete until both have listed
// the same day, so their deletes overlap.
type gateBucket struct {
	objstore.Bucket
	once    sync.Once
	arrived *sync.WaitGroup
}

func (b *gateBucket) Delete(ctx context.Context, name string) error {
	b.once.Do(func() {
		b.arrived.Done()
		done := make(chan struct{})
		go func() { b.arrived.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
	return b.Bucket.Delete(ctx, name)
}

// Two archivers running the size retention at once both succeed and
// leave the bucket as one would.
func TestBucketSizeRetentionConcurrent(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	mem := objstore.NewInMemBucket()
	for i := range 20 {
		dir := fmt.Sprintf("10.0.0.%d", i+1)
		for day := 1; day <= 3; day++ {
			for part := range 3 {
				putSegment(t, mem, dir, fmt.Sprintf("2026-12-%02d", day), "x", part, 10)
			}
		}
	}
	var arrived sync.WaitGroup
	arrived.Add(2)
	var stores []*Store
	for _, id := range []string{"p", "q"} {
		stores = append(stores, openTest(t, t.TempDir(), Options{Bucket: &gateBucket{Bucket: mem, arrived: &arrived}, RemoteID: id, RemoteRetentionSize: 1000}))
	}
	errs := make([]error, len(stores))
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { _, errs[i] = s.bucketSizeRetention(context.Background(), now) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("archiver %d: %v", i, err)
		}
	}
	// 1,800 bytes, limit 1,000: the two oldest dates go (600 left); today stays.
	for _, k := range bucketDates(t, mem) {
		if !strings.HasSuffix(k, "/2026-12-03") {
			t.Errorf("%s left", k)
		}
	}
	if n := len(bucketDates(t, mem)); n != 20 {
		t.Errorf("%d agent days left, want 20", n)
	}
	st, err := stores[0].readRetentionState(context.Background())
	if err != nil || st.DeletedThrough != "2026-12-02" || st.Bytes != 600 {
		t.Errorf("state %+v, %v: want deleted through 2026-12-02, 600 bytes", st, err)
	}
}

// The store runs the size retention on its own, and exposes the bucket's
// size once measured.
func TestBucketSizeLoop(t *testing.T) {
	first, jit := bucketRunFirst, bucketRunJitter
	bucketRunFirst, bucketRunJitter = 10*time.Millisecond, 10*time.Millisecond
	t.Cleanup(func() { bucketRunFirst, bucketRunJitter = first, jit })
	mem := objstore.NewInMemBucket()
	old := time.Now().UTC().AddDate(0, 0, -5).Format(time.DateOnly)
	recent := time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)
	putSegment(t, mem, "10.0.0.1", old, "x", 1, 500)
	putSegment(t, mem, "10.0.0.1", recent, "x", 1, 500)
	reg := prometheus.NewRegistry()
	openTest(t, t.TempDir(), Options{Bucket: mem, RemoteID: "x", RemoteRetentionSize: 600, Registerer: reg})
	waitFor(t, "the oldest day to go", func() bool {
		return slices.Equal(bucketDates(t, mem), []string{"10.0.0.1/" + recent}) && gathered(t, reg, "archiver_remote_bucket_bytes")
	})
	if v := labelled(t, reg, "archiver_remote_retention_deleted_days_total", "reason", reasonSize); v != 1 {
		t.Errorf("deleted days (size) = %v, want 1", v)
	}
	waitFor(t, "the size after deleting", func() bool { return metricValue(t, reg, "archiver_remote_bucket_bytes") == 500 })
}

// Without a size limit there is no bucket size to show.
func TestBucketBytesAbsentUntilMeasured(t *testing.T) {
	reg := prometheus.NewRegistry()
	openTest(t, t.TempDir(), Options{Bucket: objstore.NewInMemBucket(), RemoteID: "x", Registerer: reg})
	if gathered(t, reg, "archiver_remote_bucket_bytes") {
		t.Error("archiver_remote_bucket_bytes exposed before any measurement")
	}
	if v := labelled(t, reg, "archiver_remote_retention_deleted_days_total", "reason", reasonAge); v != 0 {
		t.Errorf("deleted days (age) = %v", v)
	}
}

// The LIST requests a measurement logs: one page of addresses, and per
// address one page per 1,000 names.
func TestMeasureBucketListRequests(t *testing.T) {
	mem := objstore.NewInMemBucket()
	for part := range 600 { // 1,200 names
		putSegment(t, mem, "10.0.0.1", "2026-12-01", "x", part, 1)
	}
	putSegment(t, mem, "10.0.0.2", "2026-12-01", "x", 1, 1)
	s := openTest(t, t.TempDir(), Options{Bucket: mem, RemoteID: "x"})
	u, err := s.measureBucket(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if u.lists != 1+2+1 || u.total != 601 || len(u.dirs["2026-12-01"]) != 2 {
		t.Errorf("lists %d, total %d, dirs %v; want 4, 601, both addresses", u.lists, u.total, u.dirs)
	}
}

// A part that waited out an outage of the bucket while another archiver's
// size retention deleted its date is not uploaded when the bucket is back:
// it leaves local disk, as the retention meant.
func TestPendingPartOfDeletedDate(t *testing.T) {
	fastRemote(t)
	mem := objstore.NewInMemBucket()
	bkt := &flakyBucket{Bucket: mem}
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -3).Truncate(24 * time.Hour)
	date := old.Format(time.DateOnly)
	// Another archiver's segment of that date, the bucket's oldest.
	putSegment(t, mem, dirName(netip.MustParseAddr("10.0.0.2")), date, "b", 1, 10)
	// The day is stored while the bucket is down; the archiver stops with
	// its part closed and not uploaded.
	bkt.down.Store(true)
	dir := t.TempDir()
	s := openTest(t, dir, Options{Bucket: bkt, RemoteID: "a"})
	appendN(t, s, ip, old, 0, 10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(dir, dirName(ip)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if fmt.Sprint(names) != "["+date+".1.jsonl]" {
		t.Fatalf("after Close: %v, want one closed part and no upload marker", names)
	}
	part := path.Join(dirName(ip), names[0])
	// Meanwhile another archiver's size retention deletes the date.
	other := openTest(t, t.TempDir(), Options{Bucket: mem, RemoteID: "b", RemoteRetentionSize: 1})
	if _, err := other.bucketSizeRetention(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if n := len(manifests(t, mem)); n != 0 {
		t.Fatalf("%d manifests left after the size retention", n)
	}
	// The bucket is back and the archiver starts again.
	bkt.down.Store(false)
	openTest(t, dir, Options{Bucket: bkt, RemoteID: "a"})
	waitFor(t, "the waiting part to leave local disk", func() bool {
		_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(part)))
		return errors.Is(err, os.ErrNotExist)
	})
	if n := bkt.uploads.Load(); n != 0 || len(manifests(t, mem)) != 0 {
		t.Errorf("day %s uploaded again (%d uploads): %v", date, n, manifests(t, mem))
	}
}

// raceBucket runs race once, the first time a segment object (not its
// manifest) of date is uploaded, before the upload itself; and onState
// before each write of the retention state.
type raceBucket struct {
	objstore.Bucket
	date string
	once sync.Once
	race func()
	// onState, if set, runs before every write of the retention state.
	onState func()
}

func (b *raceBucket) Upload(ctx context.Context, name string, r io.Reader, opts ...objstore.ObjectUploadOption) error {
	if strings.Contains(name, "/"+b.date+"/") && !strings.HasSuffix(name, manifestSuffix) {
		b.once.Do(b.race)
	}
	if name == retentionStateName && b.onState != nil {
		b.onState()
	}
	return b.Bucket.Upload(ctx, name, r, opts...)
}

// TestUploadRacingSizeRetention: another archiver's size retention deletes
// a past date while this archiver uploads a segment of it, after its
// object is up but before its manifest is. The segment must not bring part
// of the day back: the uploader sees the date deleted and takes it out.
func TestUploadRacingSizeRetention(t *testing.T) {
	fastRemote(t)
	mem := objstore.NewInMemBucket()
	ip := netip.MustParseAddr("10.0.0.1")
	old := time.Now().UTC().AddDate(0, 0, -3).Truncate(24 * time.Hour)
	date := old.Format(time.DateOnly)
	putSegment(t, mem, dirName(netip.MustParseAddr("10.0.0.2")), date, "b", 1, 10)
	other := openTest(t, t.TempDir(), Options{Bucket: mem, RemoteID: "b", RemoteRetentionSize: 1})
	var raced atomic.Bool
	bkt := &raceBucket{Bucket: mem, date: date, race: func() {
		if _, err := other.bucketSizeRetention(context.Background(), time.Now()); err != nil {
			t.Error(err)
		}
		raced.Store(true)
	}}
	dir := t.TempDir()
	s := openTest(t, dir, Options{Bucket: bkt, RemoteID: "a"})
	appendN(t, s, ip, old, 0, 10)
	var names []string
	waitFor(t, "the upload to end", func() bool {
		ents, err := os.ReadDir(filepath.Join(dir, dirName(ip)))
		if err != nil || !raced.Load() {
			return false
		}
		names = names[:0]
		for _, e := range ents {
			names = append(names, e.Name())
		}
		part := slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, date) })
		marker := slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, uploadedSuffix) })
		return !part || marker
	})
	if dates := bucketDates(t, mem); len(dates) != 0 {
		t.Errorf("the deleted date is back in the bucket: %v", dates)
	}
	if len(names) != 0 {
		t.Errorf("left on local disk: %v, want the part of the deleted date gone", names)
	}
}

// TestSizeRetentionFindsPartsUploadedBeforePublishing: a part of the doomed
// date goes up, under an address that held none of it when the bucket was
// measured, and its uploader checks the state, all before the run
// publishes the date. The run must still delete it: it lists every address
// after publishing, not only those that held the date.
func TestSizeRetentionFindsPartsUploadedBeforePublishing(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	const doomed, today = "2026-11-30", "2026-12-03"
	mem := objstore.NewInMemBucket()
	putSegment(t, mem, "10.0.0.1", doomed, "x", 1, 100)
	putSegment(t, mem, "10.0.0.3", today, "x", 1, 100)
	var once sync.Once
	bkt := &raceBucket{Bucket: mem, date: "never", race: func() {}}
	bkt.onState = func() {
		once.Do(func() { putSegment(t, mem, "10.0.0.3", doomed, "late", 2, 100) })
	}
	s := openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: "x", RemoteRetentionSize: 150})
	if _, err := s.bucketSizeRetention(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if got, want := bucketDates(t, mem), []string{"10.0.0.3/" + today}; !slices.Equal(got, want) {
		t.Errorf("left %v, want %v", got, want)
	}
}
