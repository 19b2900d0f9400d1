package api

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/exporter/snapshot"
	"github.com/prexmon/prexmon/tools/fakeagent/agent"
)

// benchAgents is the fleet of the search benchmark: 100 agents × one day.
const benchAgents = 100

// benchArchive writes 100 agents' days of realistic snapshots
// (tools/fakeagent, about 100 KB each) under dir, about mb megabytes in
// all, plain or compressed. Every tenth agent ran xmrig for part of the
// day and had mallory logged in.
func benchArchive(b *testing.B, dir string, mb int, compressed bool) int64 {
	b.Helper()
	perAgent := max(1, mb*10/benchAgents) // ~100 KB a snapshot
	var total int64
	for i := range benchAgents {
		ip := fmt.Sprintf("10.77.0.%d", i+1)
		if err := os.MkdirAll(filepath.Join(dir, ip), 0o700); err != nil {
			b.Fatal(err)
		}
		name := filepath.Join(dir, ip, "2026-11-27.jsonl")
		if compressed {
			name += ".gz"
		}
		f, err := os.Create(name)
		if err != nil {
			b.Fatal(err)
		}
		var w io.Writer = f
		var zw *gzip.Writer
		if compressed {
			zw = gzip.NewWriter(f)
			w = zw
		}
		bw := bufio.NewWriterSize(w, 1<<20)
		for j := range perAgent {
			at := today.Add(time.Duration(j) * 15 * time.Second)
			s := agent.Generate(uint64(i+1), at)
			if i%10 == 0 && j > perAgent/2 {
				s.Processes = append(s.Processes, snapshot.Process{PID: 31337, Name: "kworker/u8:2", Cmdline: "/tmp/.x/xmrig -o pool.example:3333 --donate-level 1", User: "www-data", StartedAt: today})
				s.Users = append(s.Users, snapshot.User{User: "mallory", Terminal: "pts/9", Host: "203.0.113.9", StartedAt: today})
			}
			raw, err := json.Marshal(s)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := fmt.Fprintf(bw, `{"ip":%q,"target":"%s:9110","labels":{},"scraped_at":%q,"snapshot":%s}`+"\n", ip, ip, at.Format(time.RFC3339Nano), raw)
			total += int64(n)
		}
		if err := bw.Flush(); err != nil {
			b.Fatal(err)
		}
		if zw != nil {
			zw.Close()
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
	return total
}

// BenchmarkSearch searches 100 agents' day; MB/s is uncompressed day-file
// bytes searched per second. PREXMON_SEARCH_BENCH_MB sets the archive size
// (default 200; the target is 1024 searched in under 5 s).
func BenchmarkSearch(b *testing.B) {
	mb := 200
	if s := os.Getenv("PREXMON_SEARCH_BENCH_MB"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("PREXMON_SEARCH_BENCH_MB=%q", s)
		}
		mb = n
	}
	for _, compressed := range []bool{false, true} {
		b.Run(fmt.Sprintf("gzip=%v", compressed), func(b *testing.B) {
			dir := b.TempDir()
			size := benchArchive(b, dir, mb, compressed)
			st, err := store.Open(dir, store.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			for _, c := range []struct {
				name string
				q    searchQuery
			}{
				{"process=xmrig", searchQuery{re: regexp.MustCompile(`xmrig`)}},
				{"process=(?i)XMRIG|minerd", searchQuery{re: regexp.MustCompile(`(?i)XMRIG|minerd`)}},
				{"user=mallory", searchQuery{user: []byte("mallory")}},
			} {
				c.q.date, c.q.limit = today, defaultSearchAgents
				if c.q.re != nil {
					c.q.needle = literalNeedle(c.q.re)
				} else {
					c.q.needle = []byte(`"user":"mallory"`)
				}
				b.Run(c.name, func(b *testing.B) {
					b.SetBytes(size)
					for b.Loop() {
						hits, _, err := searchStore(context.Background(), st, c.q, runtime.GOMAXPROCS(0))
						if err != nil {
							b.Fatal(err)
						}
						if len(hits) != benchAgents/10 {
							b.Fatalf("%d agents matched, want %d", len(hits), benchAgents/10)
						}
					}
				})
			}
		})
	}
}
