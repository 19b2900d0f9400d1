package store

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// benchSnapshot builds a snapshot of about size bytes shaped like a real
// one: hundreds of processes with varied command lines.
func benchSnapshot(size int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString(`{"schema_version":1,"collected_at":"2026-11-27T10:00:00Z","agent":{"version":"0.1.0"},"processes":[`)
	for i := 0; b.Len() < size-200; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"pid":%d,"ppid":1,"name":"proc%d","cmdline":"/usr/bin/proc%d --flag=%x --dir=/var/lib/p%d","user":"u%d","state":"S","cpu_percent":%.2f,"rss_bytes":%d,"threads":%d}`,
			1000+i, i%37, i%37, rng.Uint64(), i, i%5, rng.Float64()*10, rng.IntN(1<<30), 1+rng.IntN(20))
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// BenchmarkAppend measures the write path with 100 KB snapshots spread over
// many agents from many goroutines, as a busy archiver sees them. cpu-ms/op
// is process CPU per snapshot (including the sync goroutines' share).
func BenchmarkAppend(b *testing.B) {
	for _, agents := range []int{100, 5000} {
		b.Run(fmt.Sprintf("agents=%d", agents), func(b *testing.B) {
			s, err := Open(b.TempDir(), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			raw := benchSnapshot(100 << 10)
			ipOf := func(i uint64) netip.Addr {
				return netip.AddrFrom4([4]byte{10, 3, byte(i % uint64(agents) >> 8), byte(i % uint64(agents))})
			}
			// Steady state: every agent's day file exists already.
			for i := range uint64(agents) {
				if err := s.Append(Record{IP: ipOf(i), ScrapedAt: day, Snapshot: []byte(`{"schema_version":1}`)}); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Uint64
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			b.SetParallelism(16)
			cpu := processCPU()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					ip := ipOf(next.Add(1))
					if err := s.Append(Record{IP: ip, Target: ip.String() + ":9110", ScrapedAt: day, Snapshot: raw}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric((processCPU()-cpu)*1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// writeDayFile writes a day file of about size bytes straight to disk (far
// faster than appending through the store) and returns its line count.
func writeDayFile(b *testing.B, dir string, ip netip.Addr, size int64) int {
	b.Helper()
	p := filepath.Join(dir, dirName(ip), "2026-11-27.jsonl")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 4<<20)
	raw := benchSnapshot(100 << 10)
	var written int64
	n := 0
	for ; written < size; n++ {
		r := Record{IP: ip, Target: ip.String() + ":9110", ScrapedAt: day.Add(time.Duration(n) * 5 * time.Second), Snapshot: raw}
		line, err := appendLine(nil, &r)
		if err != nil {
			b.Fatal(err)
		}
		w.Write(line)
		written += int64(len(line))
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
	return n
}

// BenchmarkLatest reads the newest snapshot of a 500 MB day file; the
// target is well under 20 ms.
func BenchmarkLatest(b *testing.B) {
	dir := b.TempDir()
	ip := netip.MustParseAddr("10.0.0.5")
	writeDayFile(b, dir, ip, 500<<20)
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		line, err := s.Latest(ip)
		if err != nil || len(line) < 90<<10 {
			b.Fatalf("latest: %d bytes, %v", len(line), err)
		}
	}
}

// BenchmarkReadDay measures the store side of day streaming.
func BenchmarkReadDay(b *testing.B) {
	dir := b.TempDir()
	ip := netip.MustParseAddr("10.0.0.5")
	n := writeDayFile(b, dir, ip, 100<<20)
	s, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(filepath.Join(dir, "10.0.0.5", "2026-11-27.jsonl"))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("whole", func(b *testing.B) {
		b.SetBytes(fi.Size())
		b.ReportAllocs()
		for b.Loop() {
			lines := 0
			err := s.ReadDay(context.Background(), ip, day, Query{}, func([]byte) error { lines++; return nil })
			if err != nil || lines != n {
				b.Fatalf("read %d of %d lines: %v", lines, n, err)
			}
		}
	})
	// A one-minute window deep into the file: bisection finds its start
	// and the read stops soon after its end.
	b.Run("one-minute", func(b *testing.B) {
		// Lines are 5 s apart, as one agent's at the target interval.
		q := Query{From: day.Add(time.Duration(n-200) * 5 * time.Second), To: day.Add(time.Duration(n-188) * 5 * time.Second)}
		b.ReportAllocs()
		for b.Loop() {
			lines := 0
			err := s.ReadDay(context.Background(), ip, day, q, func([]byte) error { lines++; return nil })
			if err != nil || lines != 13 {
				b.Fatalf("read %d lines, want 13: %v", lines, err)
			}
		}
	})
}

// BenchmarkAppendSync measures acknowledged (fsynced) appends, as pushes do
// them: many concurrent callers share each sync round.
func BenchmarkAppendSync(b *testing.B) {
	for _, mode := range syncModes {
		b.Run(mode.name, func(b *testing.B) { benchAppendSync(b, mode.syncFiles) })
	}
}

func benchAppendSync(b *testing.B, syncFiles bool) {
	s, err := Open(b.TempDir(), Options{SyncFiles: syncFiles})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	raw := benchSnapshot(100 << 10)
	var next atomic.Uint64
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1)
			ip := netip.AddrFrom4([4]byte{10, 4, byte(i % 1000 >> 8), byte(i % 1000)})
			if err := s.AppendSync(context.Background(), Record{IP: ip, ScrapedAt: day, Snapshot: raw}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkAppendPaced runs the target load for as many seconds as
// iterations (-benchtime 5x = 5 s): 1,000 appends/s of 100 KB snapshots
// spread over 5,000 agents, paced rather than flat out, so the figures are
// sustained ones that include fsync rounds. It reports process CPU per
// append and the worst append latency.
func BenchmarkAppendPaced(b *testing.B) {
	for _, mode := range syncModes {
		b.Run(mode.name, func(b *testing.B) { benchAppendPaced(b, mode.syncFiles) })
	}
}

func benchAppendPaced(b *testing.B, syncFiles bool) {
	const agents, perSecond, workers = 5000, 1000, 16
	s, err := Open(b.TempDir(), Options{SyncFiles: syncFiles})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	raw := benchSnapshot(100 << 10)
	ipOf := func(i int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, 6, byte(i % agents >> 8), byte(i % agents)})
	}
	for i := range agents {
		if err := s.Append(Record{IP: ipOf(i), ScrapedAt: day, Snapshot: []byte(`{"schema_version":1}`)}); err != nil {
			b.Fatal(err)
		}
	}
	var worst atomic.Int64
	appends := 0
	cpu := processCPU()
	start := time.Now()
	for b.Loop() {
		second := time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for k := w; k < perSecond; k += workers {
					due := second.Add(time.Duration(k) * time.Second / perSecond)
					time.Sleep(time.Until(due))
					t0 := time.Now()
					if err := s.Append(Record{IP: ipOf(appends + k), ScrapedAt: day, Snapshot: raw}); err != nil {
						b.Error(err)
						return
					}
					d := int64(time.Since(t0))
					for old := worst.Load(); d > old && !worst.CompareAndSwap(old, d); old = worst.Load() {
					}
				}
			})
		}
		wg.Wait()
		appends += perSecond
	}
	elapsed := time.Since(start)
	b.ReportMetric((processCPU()-cpu)*1000/float64(appends), "cpu-ms/append")
	b.ReportMetric(float64(worst.Load())/1e6, "worst-ms")
	b.ReportMetric(float64(appends)*float64(len(raw))/elapsed.Seconds()/1e6, "MB/s")
}
