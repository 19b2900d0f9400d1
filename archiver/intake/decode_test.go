package intake

import (
	"bytes"
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func sampleBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"schema_version":1,"processes":[`)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"pid":%d,"cmdline":"/usr/bin/worker --id=%d"}`, i, i%97)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func TestDecodeRoundTrip(t *testing.T) {
	body := sampleBody(100 << 10)
	for _, coding := range []string{snapshot.Zstd, snapshot.Gzip, snapshot.Identity} {
		enc, err := snapshot.AppendEncoded(nil, coding, body)
		if err != nil {
			t.Fatalf("%s: %v", coding, err)
		}
		if coding != snapshot.Identity && len(enc) > len(body)/3 {
			t.Errorf("%s: %d bytes from %d, expected real compression", coding, len(enc), len(body))
		}
		prefix := []byte("kept:")
		out, err := Decode(bytes.Clone(prefix), strings.ToUpper(coding), enc, 1<<20)
		if err != nil {
			t.Fatalf("%s: decode: %v", coding, err)
		}
		if !bytes.Equal(out, append(prefix, body...)) {
			t.Fatalf("%s: round trip changed the body (%d bytes out, want %d)", coding, len(out), len(prefix)+len(body))
		}
	}
}

// streamedZstd is zstd as a streaming sender writes it: no content size in
// the frame header, so the decoder cannot refuse a bomb up front, and a
// window of the given size.
func streamedZstd(t testing.TB, body []byte, window int) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(body); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// oneFrame is a single zstd frame for body with its content size and a
// window of the given size.
func oneFrame(t testing.TB, body []byte, window int) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(window))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(body, nil)
}

// skippable is a zstd skippable frame (RFC 8878, 3.1.2) carrying data.
func skippable(data []byte) []byte {
	out := []byte{0x50, 0x2a, 0x4d, 0x18, byte(len(data)), byte(len(data) >> 8), byte(len(data) >> 16), byte(len(data) >> 24)}
	return append(out, data...)
}

func TestDecodeRefuses(t *testing.T) {
	const limit = 64 << 10
	bomb := bytes.Repeat([]byte{' '}, 4<<20)
	exact := bytes.Repeat([]byte{'x'}, limit)
	half := bytes.Repeat([]byte{'y'}, limit/2)
	mustEncode := func(coding string, b []byte) []byte {
		out, err := snapshot.AppendEncoded(nil, coding, b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	zstdCorrupt := bytes.Clone(mustEncode(snapshot.Zstd, sampleBody(10<<10)))
	zstdCorrupt[len(zstdCorrupt)/2] ^= 0xff
	gzipCorrupt := bytes.Clone(mustEncode(snapshot.Gzip, sampleBody(10<<10)))
	gzipCorrupt[len(gzipCorrupt)-6] ^= 0xff // in the CRC
	concat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

	for _, tc := range []struct {
		name, coding string
		src          []byte
		want         error
		msg          string // in the error, so each case fails for its own reason
	}{
		{"zstd bomb with content size", snapshot.Zstd, mustEncode(snapshot.Zstd, bomb), ErrTooLarge, "more than 65536 bytes after zstd decoding"},
		{"streamed zstd bomb, small window", snapshot.Zstd, streamedZstd(t, bomb, 32<<10), ErrTooLarge, "more than 65536 bytes after zstd decoding"},
		{"two streamed zstd frames, each under the limit", snapshot.Zstd, concat(streamedZstd(t, half, 32<<10), streamedZstd(t, half, 32<<10), streamedZstd(t, half, 32<<10)), ErrTooLarge, "after zstd decoding"},
		{"frames with content size adding up past the limit", snapshot.Zstd, concat(oneFrame(t, half, 32<<10), oneFrame(t, half, 32<<10), oneFrame(t, []byte("z"), 32<<10)), ErrTooLarge, "after zstd decoding"},
		{"zstd frame declaring a 64 MiB window", snapshot.Zstd, rawFrame(64<<20, []byte("{}")), ErrTooLarge, "declares a window over 4194304 bytes"},
		{"gzip bomb", snapshot.Gzip, mustEncode(snapshot.Gzip, bomb), ErrTooLarge, "after gzip decoding"},
		{"identity over the limit", snapshot.Identity, append(exact, 'x'), ErrTooLarge, "more than 65536 bytes"},
		{"zstd one over the limit", snapshot.Zstd, mustEncode(snapshot.Zstd, append(exact, 'x')), ErrTooLarge, "more than 65536 bytes after zstd decoding"},
		{"gzip one over the limit", snapshot.Gzip, mustEncode(snapshot.Gzip, append(exact, 'x')), ErrTooLarge, "after gzip decoding"},
		{"zstd exactly the limit", snapshot.Zstd, mustEncode(snapshot.Zstd, exact), nil, ""},
		{"zstd exactly the limit in two streamed frames", snapshot.Zstd, concat(streamedZstd(t, half, 32<<10), streamedZstd(t, half, 32<<10)), nil, ""},
		{"zstd exactly the limit after a skippable frame", snapshot.Zstd, concat(skippable([]byte("meta")), mustEncode(snapshot.Zstd, exact)), nil, ""},
		{"gzip exactly the limit", snapshot.Gzip, mustEncode(snapshot.Gzip, exact), nil, ""},
		{"gzip exactly the limit in two members", snapshot.Gzip, concat(mustEncode(snapshot.Gzip, half), mustEncode(snapshot.Gzip, half)), nil, ""},
		{"identity exactly the limit", "", exact, nil, ""},
		{"corrupt zstd", snapshot.Zstd, zstdCorrupt, ErrCorrupt, "zstd"},
		{"zstd with trailing garbage", snapshot.Zstd, concat(mustEncode(snapshot.Zstd, half), []byte("garbage!")), ErrCorrupt, "zstd"},
		{"gzip with a bad checksum", snapshot.Gzip, gzipCorrupt, ErrCorrupt, "gzip"},
		{"plain text called gzip", "x-gzip", []byte("hello"), ErrCorrupt, "gzip"},
		{"plain text called zstd", snapshot.Zstd, []byte("{}"), ErrCorrupt, "zstd"},
		{"brotli", "br", []byte("x"), snapshot.ErrUnsupportedEncoding, `"br"`},
		{"a stacked coding", "gzip, zstd", []byte("x"), snapshot.ErrUnsupportedEncoding, `"gzip, zstd"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Decode(nil, tc.coding, tc.src, limit)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Decode = %d bytes, %v; want %v", len(out), err, tc.want)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("Decode error %q, want it to say %q", err, tc.msg)
			}
			if err == nil && len(out) != limit {
				t.Fatalf("Decode = %d bytes, want %d", len(out), limit)
			}
		})
	}
}

// TestDecodeBombMemory decodes eight frames of 64 MiB each, 70 KB in all,
// and checks that Decode allocates a small multiple of its limit, not
// of the bomb: one-shot zstd decoding allocated about five times the limit
// per frame, 44x here.
func TestDecodeBombMemory(t *testing.T) {
	const limit = 1 << 20
	frame := streamedZstd(t, bytes.Repeat([]byte{' '}, 64<<20), 64<<10)
	bomb := bytes.Repeat(frame, 8)
	if len(bomb) > 256<<10 {
		t.Fatalf("bomb of %d bytes; expected it to be small", len(bomb))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := Decode(nil, snapshot.Zstd, bomb, limit)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Decode: %v, want ErrTooLarge", err)
	}
	// The output buffer doubling up to the limit is about 4x; a fresh
	// stream decoder (sync.Pool drops entries under -race) a little more.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16*limit {
		t.Fatalf("decoding a %d-byte bomb of 512 MiB allocated %d bytes, want at most %d (16x the limit)", len(bomb), alloc, 16*limit)
	}
}

// rawFrame is a zstd frame (RFC 8878, 3.1.1) declaring window, a power of
// two of at least 1 KiB, with no content size, holding data in one raw
// block: what a hostile sender writes by hand.
func rawFrame(window int, data []byte) []byte {
	windowLog := bits.Len(uint(window)) - 1
	out := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, byte(windowLog-10) << 3}
	hdr := uint32(len(data))<<3 | 1 // last block, raw
	return append(append(out, byte(hdr), byte(hdr>>8), byte(hdr>>16)), data...)
}

// TestDecodeHugeWindowMemory sends a few bytes in a frame that declares the
// largest window the body limit would allow: the decoder must refuse it
// before allocating it.
func TestDecodeHugeWindowMemory(t *testing.T) {
	const limit = 16 << 20
	for _, window := range []int{MaxZstdWindow, 16 << 20} {
		src := rawFrame(window, []byte(`{"schema_version":1}`))
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		out, err := Decode(nil, snapshot.Zstd, src, limit)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		switch {
		case window > MaxZstdWindow && !errors.Is(err, ErrTooLarge):
			t.Errorf("%d-byte frame with a %d-byte window: %v, want ErrTooLarge", len(src), window, err)
		case window <= MaxZstdWindow && (err != nil || string(out) != `{"schema_version":1}`):
			t.Errorf("%d-byte frame with a %d-byte window: %q, %v; want it decoded", len(src), window, out, err)
		}
		if alloc > 2*MaxZstdWindow {
			t.Errorf("%d-byte frame with a %d-byte window allocated %d bytes, want at most %d", len(src), window, alloc, 2*MaxZstdWindow)
		}
	}
}

// FuzzDecode feeds arbitrary bytes to every coding: whatever comes in,
// Decode returns an error or at most its limit, and never panics.
func FuzzDecode(f *testing.F) {
	body := sampleBody(4 << 10)
	for _, c := range []string{snapshot.Zstd, snapshot.Gzip} {
		enc, err := snapshot.AppendEncoded(nil, c, body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c, enc)
	}
	f.Add(snapshot.Zstd, streamedZstd(f, body, 32<<10))
	f.Add(snapshot.Identity, body)
	f.Fuzz(func(t *testing.T, coding string, src []byte) {
		out, err := Decode(nil, coding, src, 64<<10)
		if err == nil && len(out) > 64<<10 {
			t.Fatalf("decoded %d bytes, limit %d", len(out), 64<<10)
		}
	})
}

// BenchmarkDecode compares the codings on a 100 KB snapshot: the decode is
// what the archiver pays per scrape before it can check the body.
func BenchmarkDecode(b *testing.B) {
	body := sampleBody(100 << 10)
	for _, coding := range []string{snapshot.Zstd, snapshot.Gzip} {
		enc, err := snapshot.AppendEncoded(nil, coding, body)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(coding, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportMetric(float64(len(body))/float64(len(enc)), "ratio")
			var out []byte
			for b.Loop() {
				if out, err = Decode(out[:0], coding, enc, 16<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
