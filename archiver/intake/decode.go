package intake

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// Errors of Decode, to tell a hostile or broken sender (4xx, a
// failed scrape) from a body that is simply too big.
// An unknown coding wraps snapshot.ErrUnsupportedEncoding.
var (
	ErrTooLarge = errors.New("body too large")
	ErrCorrupt  = errors.New("corrupt compressed body")
)

// MaxZstdWindow is the largest zstd window Decode accepts. A stream
// decoder allocates the window a frame declares before it has decoded a
// byte, so without a cap 30 bytes could pin megabytes per decode. prexmon's
// agents declare at most 1 MiB, the zstd tool's default levels at most
// 4 MiB. A frame asking for more is refused as too large.
const MaxZstdWindow = 4 << 20

// Decoders are pooled: their tables and window are most of their cost.
var (
	zstdReaders = sync.Pool{New: func() any {
		// Synchronous (concurrency 1): no goroutines to stop when the
		// pool drops one. The options are constants, so NewReader cannot
		// refuse them.
		zr, _ := zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderMaxMemory(MaxZstdWindow), // for streams: the largest window
			zstd.WithDecoderMaxWindow(MaxZstdWindow),
		)
		return zr
	}}
	gzipReaders sync.Pool // *gzip.Reader; Reset needs a valid header, so no New
)

// Decode appends src, encoded with coding (a Content-Encoding value; empty
// means identity), decoded to dst, never producing more than limit bytes:
// a few KB of zstd or gzip can claim gigabytes. Both codings are read as
// streams through the limit, because zstd's one-shot decoding bounds each
// frame, not their sum, and grows its output by doubling: a kilobyte of
// frames without a declared size made it allocate ten times the limit.
func Decode(dst []byte, coding string, src []byte, limit int64) ([]byte, error) {
	switch strings.ToLower(strings.TrimSpace(coding)) {
	case "", snapshot.Identity:
		if int64(len(src)) > limit {
			return dst, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
		}
		return append(dst, src...), nil
	case snapshot.Zstd:
		zr := zstdReaders.Get().(*zstd.Decoder)
		defer func() {
			_ = zr.Reset(nil) // let go of src, which belongs to the caller
			zstdReaders.Put(zr)
		}()
		if err := zr.Reset(bytes.NewReader(src)); err != nil {
			return dst, fmt.Errorf("%w: zstd: %w", ErrCorrupt, err)
		}
		return drain(dst, snapshot.Zstd, zr, limit)
	case snapshot.Gzip, "x-gzip":
		zr, _ := gzipReaders.Get().(*gzip.Reader)
		var err error
		if zr == nil {
			zr, err = gzip.NewReader(bytes.NewReader(src))
		} else {
			err = zr.Reset(bytes.NewReader(src))
		}
		if err != nil {
			return dst, fmt.Errorf("%w: gzip: %w", ErrCorrupt, err)
		}
		defer gzipReaders.Put(zr)
		return drain(dst, snapshot.Gzip, zr, limit)
	}
	return dst, fmt.Errorf("%w %q (want zstd, gzip or identity)", snapshot.ErrUnsupportedEncoding, truncate(coding, 40))
}

// drain appends what r decodes to dst, failing once more than limit comes
// out, before more than limit is held.
func drain(dst []byte, coding string, r io.Reader, limit int64) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	start := buf.Len()
	_, err := buf.ReadFrom(io.LimitReader(r, limit+1))
	switch {
	case errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded):
		return dst, fmt.Errorf("%w: zstd frame declares a window over %d bytes: %w", ErrTooLarge, MaxZstdWindow, err)
	case err != nil:
		return dst, fmt.Errorf("%w: %s: %w", ErrCorrupt, coding, err)
	case int64(buf.Len()-start) > limit:
		return dst, fmt.Errorf("%w: more than %d bytes after %s decoding", ErrTooLarge, limit, coding)
	}
	return buf.Bytes(), nil
}

// truncate keeps a hostile header from filling an error message.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
