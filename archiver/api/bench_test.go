package api

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
)

// benchDay stores about size bytes of 100 KB snapshots for one agent and
// day and returns the server and the file's size.
func benchDay(b *testing.B, size int64) (*httptest.Server, int64) {
	b.Helper()
	dir := b.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	var sb strings.Builder
	sb.WriteString(`{"schema_version":1,"processes":[`)
	for i := 0; sb.Len() < 100<<10; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		fmt.Fprintf(&sb, `{"pid":%d,"name":"proc%d","cmdline":"/usr/bin/proc%d --flag=%d","rss_bytes":%d}`, i, i%37, i%37, i*7919, i*4096)
	}
	sb.WriteString(`]}`)
	raw := []byte(sb.String())
	ip := netip.MustParseAddr("10.0.0.5")
	for n := 0; int64(n*len(raw)) < size; n++ {
		if err := st.Append(store.Record{IP: ip, Target: "10.0.0.5:9110", ScrapedAt: today.Add(time.Duration(n) * time.Second), Snapshot: raw}); err != nil {
			b.Fatal(err)
		}
	}
	fi, err := os.Stat(filepath.Join(dir, "10.0.0.5", "2026-11-27.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(New(Options{Store: st}))
	b.Cleanup(srv.Close)
	return srv, fi.Size()
}

// BenchmarkStreamDay measures a whole 100 MB day leaving the query API over
// loopback HTTP; the target is at least 200 MB/s.
func BenchmarkStreamDay(b *testing.B) {
	srv, size := benchDay(b, 100<<20)
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Get(srv.URL + "/api/v1/snapshots/10.0.0.5/2026-11-27")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n < size {
			b.Fatalf("status %d, %d of %d bytes: %v", resp.StatusCode, n, size, err)
		}
	}
}

// BenchmarkLatestHTTP measures GET .../latest on a 500 MB day file; the
// target is under 20 ms.
func BenchmarkLatestHTTP(b *testing.B) {
	srv, _ := benchDay(b, 500<<20)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.Get(srv.URL + "/api/v1/snapshots/10.0.0.5/latest")
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n < 100<<10 {
			b.Fatalf("status %d, %d bytes: %v", resp.StatusCode, n, err)
		}
	}
}
