package store

import (
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/tools/s3gateway"
)

// startS3 runs versitygw on a loopback port over a new directory with one
// bucket, and returns the bucket config for it; without versitygw the test
// is skipped.
func startS3(t *testing.T) []byte {
	t.Helper()
	bin := s3gateway.Binary()
	if bin == "" {
		t.Skip("versitygw not built: run scripts/build-versitygw.sh (or set PREXMON_VERSITYGW) for the S3 end-to-end test")
	}
	var logs strings.Builder
	g, err := s3gateway.Start(bin, t.TempDir(), &logs)
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	t.Cleanup(func() {
		g.Stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", logs.String())
		}
	})
	return g.Config
}

// Against a real S3 server: segments uploaded, the local copy gone, a new
// archiver on an empty disk serving everything, and two archivers on the
// same agent and day keeping each other's objects.
func TestRemoteS3EndToEnd(t *testing.T) {
	conf := startS3(t)
	fastRemote(t)
	open := func(id string, localRetention time.Duration) *Store {
		bkt, err := NewBucket(conf, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bkt.Close() })
		return openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: id, LocalRetention: localRetention, Registerer: prometheus.NewRegistry()})
	}
	ip := netip.MustParseAddr("192.0.2.7")
	now := time.Now().UTC()
	old := now.AddDate(0, 0, -2).Truncate(24 * time.Hour)
	recent := now.Add(-5 * time.Minute)

	a := open("a", time.Nanosecond)
	b := open("b", 48*time.Hour)
	appendN(t, a, ip, old, 0, 200)
	appendN(t, b, ip, old, 200, 100)
	appendN(t, a, ip, recent, 1000, 20)
	waitFor(t, "a's finished day to be uploaded and leave local disk", func() bool {
		fs, err := a.localFiles(ip)
		if err != nil {
			t.Fatal(err)
		}
		return len(fs) == 1 && fs[0].Date == recent.Format(time.DateOnly)
	})
	waitFor(t, "b's finished day to be uploaded", func() bool {
		n := 0
		for _, m := range manifests(t, b.opts.Bucket) {
			if strings.Contains(m, "/"+old.Format(time.DateOnly)+"/b/") {
				n++
			}
		}
		return n > 0
	})
	// Either archiver serves the day both wrote, a's part from the bucket
	// only, b's from its local copy.
	checkSeqs(t, "the day from a", seqs(t, readAll(t, a, ip, old, Query{})), 0, 300)
	checkSeqs(t, "the day from b", seqs(t, readAll(t, b, ip, old, Query{})), 0, 300)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	c := open("c", 48*time.Hour)
	checkSeqs(t, "both archivers' day from an empty disk", seqs(t, readAll(t, c, ip, old, Query{})), 0, 300)
	checkSeqs(t, "today from an empty disk", seqs(t, readAll(t, c, ip, recent, Query{})), 1000, 20)
	line, err := c.Latest(ip)
	if err != nil {
		t.Fatal(err)
	}
	checkSeqs(t, "latest from S3", seqs(t, [][]byte{line}), 1019, 1)
	files, err := c.Files(ip)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ids := map[string]bool{}
	for _, f := range files {
		n += f.Snapshots
		ids[f.Archiver] = true
	}
	if n != 320 || !ids["a"] || !ids["b"] {
		t.Errorf("files = %+v: want 320 snapshots from archivers a and b", files)
	}
}

// Against a real S3 server: two archivers run the size retention at once;
// the oldest whole dates go, for every agent, and a missing state object
// or an already deleted object is no error.
func TestRemoteS3SizeRetention(t *testing.T) {
	conf := startS3(t)
	open := func(id string) *Store {
		bkt, err := NewBucket(conf, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { bkt.Close() })
		return openTest(t, t.TempDir(), Options{Bucket: bkt, RemoteID: id, RemoteRetentionSize: 1000, Registerer: prometheus.NewRegistry()})
	}
	a, b := open("a"), open("b")
	now := time.Now().UTC()
	var dates []string
	for back := 3; back >= 0; back-- {
		dates = append(dates, now.AddDate(0, 0, -back).Format(time.DateOnly))
	}
	// 4 dates × 3 agents × 100 bytes: 1,200 bytes, so the oldest date goes.
	for _, date := range dates {
		for _, dir := range []string{"192.0.2.1", "192.0.2.2", "2001_db8__1"} {
			putSegment(t, a.opts.Bucket, dir, date, "a", 1, 100)
		}
	}
	errs := make(chan error, 2)
	for _, s := range []*Store{a, b} {
		go func() {
			_, err := s.bucketSizeRetention(t.Context(), now)
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	var want []string
	for _, dir := range []string{"192.0.2.1", "192.0.2.2", "2001_db8__1"} {
		for _, date := range dates[1:] {
			want = append(want, dir+"/"+date)
		}
	}
	if got := bucketDates(t, a.opts.Bucket); !slices.Equal(got, want) {
		t.Errorf("left %v\nwant %v", got, want)
	}
	st, err := b.readRetentionState(t.Context())
	if err != nil || st.DeletedThrough != dates[0] || st.Bytes != 900 {
		t.Errorf("state %+v, %v: want deleted through %s and 900 bytes", st, err, dates[0])
	}
}
