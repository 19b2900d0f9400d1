package snapshot

import (
	"bytes"
	"fmt"
	"testing"
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
		{"gzip;q=1e0", Identity},
		{"gzip;q=0.0001", Identity},
		{"gzip;q=1.001", Identity},
		{"gzip;q=1.000", Gzip},
		{"gzip;q=0.001", Gzip},
		{"zstd;q=0.5, gzip;q=0.501", Gzip},
		{"*;q=0.5, *;q=0", Zstd}, // the first of a repeated coding counts
		{"identity;q=0", Identity},
		{"gzip, zstd;q=0.9, gzip;q=0", Gzip},
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
