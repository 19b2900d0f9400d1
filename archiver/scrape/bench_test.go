package scrape

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/archiver/targets"
)

type discardStore struct{}

func (discardStore) Append(store.Record) error { return nil }

// BenchmarkScrape measures one scrape of a realistic 100 KB gzipped
// snapshot end to end (request, read, gunzip, check, hand-off), the cost
// that sets how many agents one archiver core can serve.
func BenchmarkScrape(b *testing.B) {
	var raw bytes.Buffer
	raw.WriteString(`{"schema_version":1,"collected_at":"2026-01-02T03:04:05Z","agent":{"version":"b"},"users":[],"processes":[`)
	for i := 0; raw.Len() < 100<<10; i++ {
		if i > 0 {
			raw.WriteByte(',')
		}
		fmt.Fprintf(&raw, `{"pid":%d,"name":"proc-%d","cmdline":"/usr/lib/proc-%d --config=/etc/p%d.conf --level=%d","rss_bytes":%d}`, i+1, i%40, i%40, i, i%7, i*4096)
	}
	raw.WriteString("]}")
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(raw.Bytes())
	zw.Close()
	zipped := gz.Bytes()

	for _, gz := range []bool{true, false} {
		name := map[bool]string{true: "gzip", false: "identity"}[gz]
		b.Run(name, func(b *testing.B) { benchScrape(b, raw.Bytes(), zipped, gz) })
	}
}

func benchScrape(b *testing.B, raw, zipped []byte, gz bool) {
	srv := agent(b, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") == "gzip" {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(zipped)
			return
		}
		w.Write(raw)
	})
	m := NewManager(Options{Appender: discardStore{}})
	defer m.Stop()
	if err := m.ApplyConfig(Config{Interval: time.Hour, Timeout: 10 * time.Second, BodySizeLimit: 16 << 20, Gzip: gz}); err != nil {
		b.Fatal(err)
	}
	l := newLoop(m, targets.Target{Address: addr(srv), Labels: map[string]string{"env": "bench"}})
	s := m.settings.Load()
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.scrape(s, time.Now())
	}
	b.StopTimer()
	if st := l.status(); st.Health != HealthUp {
		b.Fatalf("scrape failed: %s", st.LastError)
	}
}
