package store

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/prexmon/prexmon/tools/fakeagent/agent"
)

// BenchmarkSegmentCodec compresses a segment of realistic snapshot lines
// (the fake agents' machines, 12 scrapes of 4 of them) with the segment
// encoder and with gzip level 1, which segments used before: MB/s is raw
// lines per second on one core, ratio is raw / compressed.
func BenchmarkSegmentCodec(b *testing.B) {
	var seg []byte
	start := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	for i := range 12 {
		at := start.Add(time.Duration(i) * 5 * time.Second)
		body, err := agent.Encode(uint64(i%4), at, 1)
		if err != nil {
			b.Fatal(err)
		}
		r := Record{IP: netip.MustParseAddr("10.0.0.1"), ScrapedAt: at, Snapshot: body.JSON}
		if seg, err = appendLine(seg, &r); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, compress func(*bytes.Buffer)) {
		var out bytes.Buffer
		b.SetBytes(int64(len(seg)))
		for b.Loop() {
			out.Reset()
			compress(&out)
		}
		b.ReportMetric(float64(len(seg))/float64(out.Len()), "ratio")
	}
	b.Run("zstd", func(b *testing.B) {
		run(b, func(out *bytes.Buffer) {
			zw := segmentEncoders.Get().(*zstd.Encoder)
			zw.Reset(out)
			zw.Write(seg)
			zw.Close()
			segmentEncoders.Put(zw)
		})
	})
	b.Run("gzip-1", func(b *testing.B) {
		run(b, func(out *bytes.Buffer) {
			zw, _ := gzip.NewWriterLevel(out, gzip.BestSpeed)
			zw.Write(seg)
			zw.Close()
		})
	})
}
