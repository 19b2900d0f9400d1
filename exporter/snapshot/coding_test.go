package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
)

func TestNegotiateEncoding(t *testing.T) {
	for _, tc := range []struct{ accept, want string }{
		{"", Identity},
		{"identity", Identity},
		{"gzip", Gzip},
		{"GZIP", Gzip},
		{"x-gzip", Gzip},
		{"zstd", Zstd},
		{"gzip, deflate, br, zstd", Zstd}, // Chrome
		{"gzip, deflate", Gzip},           // curl --compressed without zstd
		{AcceptEncoding, Zstd},
		{"zstd;q=0.5, gzip", Gzip},
		{"zstd;q=0, gzip;q=0.1", Gzip},
		{"gzip;q=0", Identity},
		{"gzip ; q=0.8, br", Gzip},
		{"gzip;q=0.000", Identity},
		{"gzip;q=bogus", Identity},
		{"gzip;q=2", Identity},
		{"*", Zstd},
		{"*;q=0.5, zstd;q=0", Gzip},
		{"*;q=0, gzip", Gzip},
		{"br, deflate", Identity},
		{" , ,", Identity},
		{"zstd;level=3;q=0.2, gzip;q=0.1", Zstd},
	} {
		if got := NegotiateEncoding(tc.accept); got != tc.want {
			t.Errorf("NegotiateEncoding(%q) = %q, want %q", tc.accept, got, tc.want)
		}
	}
	// A sender that offers only gzip (an older agent) answers the
	// archiver with gzip.
	if got := NegotiateEncoding(AcceptEncoding, Gzip); got != Gzip {
		t.Errorf("gzip-only offer: %q, want gzip", got)
	}
	if got := NegotiateEncoding("zstd", Gzip); got != Identity {
		t.Errorf("gzip-only offer to a zstd-only client: %q, want identity", got)
	}
}

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
	d, err := NewDecoder(1 << 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, coding := range []string{Zstd, Gzip, Identity} {
		enc, err := AppendEncoded(nil, coding, body)
		if err != nil {
			t.Fatalf("%s: %v", coding, err)
		}
		if coding != Identity && len(enc) > len(body)/3 {
			t.Errorf("%s: %d bytes from %d, expected real compression", coding, len(enc), len(body))
		}
		prefix := []byte("kept:")
		out, err := d.Decode(bytes.Clone(prefix), strings.ToUpper(coding), enc)
		if err != nil {
			t.Fatalf("%s: decode: %v", coding, err)
		}
		if !bytes.Equal(out, append(prefix, body...)) {
			t.Fatalf("%s: round trip changed the body (%d bytes out, want %d)", coding, len(out), len(prefix)+len(body))
		}
	}
}

// streamedZstd is zstd as a streaming sender writes it: no content size in
// the frame header, so the decoder cannot refuse a bomb up front.
func streamedZstd(t testing.TB, body []byte) []byte {
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
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

// mustEncodeWindow is one zstd frame for body whose header asks for a
// window as large as the body.
func mustEncodeWindow(t testing.TB, body []byte) []byte {
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(64<<20))
	if err != nil {
		t.Fatal(err)
	}
	return enc.EncodeAll(body, nil)
}

func TestDecodeRefuses(t *testing.T) {
	const limit = 64 << 10
	d, err := NewDecoder(limit)
	if err != nil {
		t.Fatal(err)
	}
	bomb := bytes.Repeat([]byte{' '}, 4<<20)
	hugeWindow := mustEncodeWindow(t, bytes.Repeat([]byte{' '}, 64<<20))
	exact := bytes.Repeat([]byte{'x'}, limit)
	mustEncode := func(coding string, b []byte) []byte {
		out, err := AppendEncoded(nil, coding, b)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	zstdBomb := mustEncode(Zstd, bomb)
	zstdCorrupt := bytes.Clone(mustEncode(Zstd, sampleBody(10<<10)))
	zstdCorrupt[len(zstdCorrupt)/2] ^= 0xff
	gzipCorrupt := bytes.Clone(mustEncode(Gzip, sampleBody(10<<10)))
	gzipCorrupt[len(gzipCorrupt)-6] ^= 0xff // in the CRC

	for _, tc := range []struct {
		name, coding string
		src          []byte
		want         error
	}{
		{"zstd bomb with content size", Zstd, zstdBomb, ErrTooLarge},
		{"streamed zstd bomb", Zstd, streamedZstd(t, bomb), ErrTooLarge},
		{"zstd frame with a 64 MiB window", Zstd, hugeWindow, ErrTooLarge},
		{"gzip bomb", Gzip, mustEncode(Gzip, bomb), ErrTooLarge},
		{"identity over the limit", Identity, append(exact, 'x'), ErrTooLarge},
		{"zstd one over the limit", Zstd, mustEncode(Zstd, append(exact, 'x')), ErrTooLarge},
		{"gzip one over the limit", Gzip, mustEncode(Gzip, append(exact, 'x')), ErrTooLarge},
		{"zstd exactly the limit", Zstd, mustEncode(Zstd, exact), nil},
		{"gzip exactly the limit", Gzip, mustEncode(Gzip, exact), nil},
		{"identity exactly the limit", "", exact, nil},
		{"corrupt zstd", Zstd, zstdCorrupt, ErrCorrupt},
		{"gzip with a bad checksum", Gzip, gzipCorrupt, ErrCorrupt},
		{"plain text called gzip", "x-gzip", []byte("hello"), ErrCorrupt},
		{"plain text called zstd", Zstd, []byte("{}"), ErrCorrupt},
		{"brotli", "br", []byte("x"), ErrUnsupportedEncoding},
		{"a stacked coding", "gzip, zstd", []byte("x"), ErrUnsupportedEncoding},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := d.Decode(nil, tc.coding, tc.src)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("Decode = %d bytes, %v; want %v", len(out), err, tc.want)
			}
			if err == nil && len(out) != limit {
				t.Fatalf("Decode = %d bytes, want %d", len(out), limit)
			}
		})
	}
}

func TestNewDecoderRejectsBadLimit(t *testing.T) {
	if _, err := NewDecoder(0); err == nil {
		t.Fatal("NewDecoder(0) succeeded")
	}
}

// FuzzDecode feeds arbitrary bytes to every coding: whatever comes in,
// Decode returns an error or at most its limit, and never panics.
func FuzzDecode(f *testing.F) {
	body := sampleBody(4 << 10)
	for _, c := range []string{Zstd, Gzip} {
		enc, err := AppendEncoded(nil, c, body)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c, enc)
	}
	f.Add(Zstd, streamedZstd(f, body))
	f.Add(Identity, body)
	d, err := NewDecoder(64 << 10)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, coding string, src []byte) {
		out, err := d.Decode(nil, coding, src)
		if err == nil && int64(len(out)) > d.Limit() {
			t.Fatalf("decoded %d bytes, limit %d", len(out), d.Limit())
		}
	})
}

// BenchmarkDecode compares the codings on a 100 KB snapshot: the decode is
// what the archiver pays per scrape before it can check the body.
func BenchmarkDecode(b *testing.B) {
	body := sampleBody(100 << 10)
	d, err := NewDecoder(16 << 20)
	if err != nil {
		b.Fatal(err)
	}
	for _, coding := range []string{Zstd, Gzip} {
		enc, err := AppendEncoded(nil, coding, body)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(coding, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportMetric(float64(len(body))/float64(len(enc)), "ratio")
			var out []byte
			for b.Loop() {
				if out, err = d.Decode(out[:0], coding, enc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncode is the agent's side of the same choice.
func BenchmarkEncode(b *testing.B) {
	body := sampleBody(100 << 10)
	for _, coding := range []string{Zstd, Gzip} {
		b.Run(coding, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			var out []byte
			var err error
			for b.Loop() {
				if out, err = AppendEncoded(out[:0], coding, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
