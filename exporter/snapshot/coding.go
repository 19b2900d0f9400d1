package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// The HTTP content codings a snapshot travels in. zstd comes first: on a
// 100 KB snapshot it decodes about five times faster than gzip and packs a
// little smaller, and decoding was half of the archiver's CPU at 1,000
// scrapes a second. gzip stays for browsers, curl, and agents or proxies
// that do not speak zstd.
const (
	Zstd     = "zstd"
	Gzip     = "gzip"
	Identity = "identity"
)

// AcceptEncoding is what a scraper sends to get zstd from agents that have
// it and gzip from the rest.
const AcceptEncoding = "zstd, gzip;q=0.9"

// NegotiateEncoding picks the coding to answer a request with from its
// Accept-Encoding header (RFC 9110, section 12.5.3): the accepted coding
// with the highest weight, earlier offers first on a tie, and identity when
// none is accepted. "*" stands for any coding the header does not name.
// offered defaults to zstd then gzip.
func NegotiateEncoding(accept string, offered ...string) string {
	if len(offered) == 0 {
		offered = []string{Zstd, Gzip}
	}
	q := map[string]float64{}
	star := -1.0
	for part := range strings.SplitSeq(accept, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name == "" {
			continue
		}
		w := 1.0
		for p := range strings.SplitSeq(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
				continue
			}
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || f < 0 || f > 1 {
				f = 0 // a malformed weight is no consent
			}
			w = f
		}
		switch name {
		case "*":
			star = w
		case "x-gzip":
			name = Gzip
			fallthrough
		default:
			if _, seen := q[name]; !seen {
				q[name] = w
			}
		}
	}
	best, bestQ := Identity, 0.0
	for _, c := range offered {
		w, ok := q[c]
		if !ok {
			w = star
		}
		if w > bestQ {
			best, bestQ = c, w
		}
	}
	return best
}

// zstdEncoder is shared: EncodeAll is safe for concurrent use, and one
// encoder's tables are all an agent needs for a snapshot every few seconds.
var zstdEncoder = sync.OnceValues(func() (*zstd.Encoder, error) {
	return zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedFastest), // the agent's CPU matters more than a few KB on the wire
		zstd.WithEncoderConcurrency(1),
		zstd.WithWindowSize(1<<20),
	)
})

var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return zw
}}

// AppendEncoded appends src compressed with coding (Zstd, Gzip or Identity)
// to dst. A zstd frame carries its content size, so the archiver allocates
// the decoded body once.
func AppendEncoded(dst []byte, coding string, src []byte) ([]byte, error) {
	switch coding {
	case Zstd:
		enc, err := zstdEncoder()
		if err != nil {
			return dst, fmt.Errorf("zstd encoder: %w", err)
		}
		return enc.EncodeAll(src, dst), nil
	case Gzip:
		buf := bytes.NewBuffer(dst)
		zw := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(zw)
		zw.Reset(buf)
		if _, err := zw.Write(src); err != nil {
			return dst, fmt.Errorf("gzip: %w", err)
		}
		if err := zw.Close(); err != nil {
			return dst, fmt.Errorf("gzip: %w", err)
		}
		return buf.Bytes(), nil
	case Identity, "":
		return append(dst, src...), nil
	}
	return dst, fmt.Errorf("%w %q", ErrUnsupportedEncoding, coding)
}

// Errors of Decoder.Decode, to tell a hostile or broken sender (4xx, a
// failed scrape) from a body that is simply too big.
var (
	ErrTooLarge            = errors.New("body too large")
	ErrUnsupportedEncoding = errors.New("unsupported content coding")
	ErrCorrupt             = errors.New("corrupt compressed body")
)

// Decoder decodes snapshot bodies in any coding prexmon speaks, never
// producing more than its limit: a few KB of zstd or gzip can claim
// gigabytes. It is safe for concurrent use; the archiver keeps one per
// configured body size limit.
type Decoder struct {
	limit int64
	zstd  *zstd.Decoder
	gzip  sync.Pool // *gzip.Reader
}

// NewDecoder returns a Decoder whose output is at most limit bytes.
func NewDecoder(limit int64) (*Decoder, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("decoded size limit %d must be positive", limit)
	}
	// No reader: DecodeAll only, which starts no goroutines, so a Decoder
	// dropped at a reload needs no Close.
	zd, err := zstd.NewReader(nil,
		zstd.WithDecoderMaxMemory(uint64(limit)),
		zstd.WithDecoderMaxWindow(uint64(maxWindow(limit))),
	)
	if err != nil {
		return nil, fmt.Errorf("zstd decoder: %w", err)
	}
	return &Decoder{limit: limit, zstd: zd}, nil
}

// maxWindow admits the 8 MiB window zstd's streaming encoders declare
// even under a smaller limit; the decoded size is bounded separately.
func maxWindow(limit int64) int64 { return max(limit, 8<<20) }

func (d *Decoder) maxWindow() int64 { return maxWindow(d.limit) }

// Limit is the most Decode will produce.
func (d *Decoder) Limit() int64 { return d.limit }

// Decode appends src, encoded with coding (a Content-Encoding value; empty
// means identity), decoded to dst.
func (d *Decoder) Decode(dst []byte, coding string, src []byte) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(coding)) {
	case "", Identity:
		if int64(len(src)) > d.limit {
			return dst, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, d.limit)
		}
		return append(dst, src...), nil
	case Zstd:
		out, err := d.zstd.DecodeAll(src, dst)
		switch {
		case errors.Is(err, zstd.ErrDecoderSizeExceeded):
			return dst, fmt.Errorf("%w: more than %d bytes after zstd decoding", ErrTooLarge, d.limit)
		case errors.Is(err, zstd.ErrWindowSizeExceeded):
			return dst, fmt.Errorf("%w: zstd frame needs a window larger than %d bytes", ErrTooLarge, d.maxWindow())
		case err != nil:
			return dst, fmt.Errorf("%w: zstd: %v", ErrCorrupt, err)
		}
		return out, nil
	case Gzip, "x-gzip":
		return d.gunzip(dst, src)
	}
	return dst, fmt.Errorf("%w %q (want zstd, gzip or identity)", ErrUnsupportedEncoding, truncate(coding, 40))
}

func (d *Decoder) gunzip(dst, src []byte) ([]byte, error) {
	zr, _ := d.gzip.Get().(*gzip.Reader)
	var err error
	if zr == nil {
		zr, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = zr.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return dst, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
	}
	defer d.gzip.Put(zr)
	buf := bytes.NewBuffer(dst)
	start := buf.Len()
	if _, err := buf.ReadFrom(io.LimitReader(zr, d.limit+1)); err != nil {
		return dst, fmt.Errorf("%w: gzip: %v", ErrCorrupt, err)
	}
	if int64(buf.Len()-start) > d.limit {
		return dst, fmt.Errorf("%w: more than %d bytes after gzip decoding", ErrTooLarge, d.limit)
	}
	return buf.Bytes(), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
