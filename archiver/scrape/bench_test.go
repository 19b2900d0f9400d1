package scrape

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/archiver/targets"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

type discardStore struct{}

func (discardStore) Append(store.Record) error { return nil }

// BenchmarkScrape measures one scrape of a 100 KB snapshot end to end
// (request, read, decode, check, hand-off) in each coding an agent may
// answer with: the cost that sets how many agents one archiver core can
// serve.
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
	for _, coding := range []string{snapshot.Zstd, snapshot.Gzip, snapshot.Identity} {
		enc, err := snapshot.AppendEncoded(nil, coding, raw.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(coding, func(b *testing.B) { benchScrape(b, raw.Bytes(), enc, coding) })
	}
}

func benchScrape(b *testing.B, raw, enc []byte, coding string) {
	srv := agent(b, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) {
		if coding != snapshot.Identity {
			w.Header().Set("Content-Encoding", coding)
		}
		w.Write(enc)
	})
	m := NewManager(Options{Appender: discardStore{}})
	defer m.Stop()
	if err := m.ApplyConfig(Config{Interval: time.Hour, Timeout: 10 * time.Second, BodySizeLimit: 16 << 20, Compression: coding != snapshot.Identity}); err != nil {
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
