package agent

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"time"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// Body is one snapshot encoded once and compressed once, so that serving it
// thousands of times a second costs only the copy to the socket.
type Body struct {
	JSON []byte
	Gzip []byte
	Zstd []byte // as the real exporter compresses it
}

// Encode generates the machine of seed at now and returns its JSON and its
// gzip form at level (gzip.BestSpeed gives the "about 4x" on these
// bodies; gzip.DefaultCompression about 5x).
func Encode(seed uint64, now time.Time, level int) (Body, error) {
	raw, err := json.Marshal(Generate(seed, now))
	if err != nil {
		return Body{}, fmt.Errorf("encode snapshot %d: %w", seed, err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, level)
	if err != nil {
		return Body{}, fmt.Errorf("gzip snapshot %d: %w", seed, err)
	}
	if _, err := zw.Write(raw); err != nil {
		return Body{}, fmt.Errorf("gzip snapshot %d: %w", seed, err)
	}
	if err := zw.Close(); err != nil {
		return Body{}, fmt.Errorf("gzip snapshot %d: %w", seed, err)
	}
	zst, err := snapshot.AppendEncoded(nil, snapshot.Zstd, raw)
	if err != nil {
		return Body{}, fmt.Errorf("zstd snapshot %d: %w", seed, err)
	}
	return Body{JSON: raw, Gzip: buf.Bytes(), Zstd: zst}, nil
}

// Encoded is the body in coding, as negotiated by snapshot.NegotiateEncoding.
func (b Body) Encoded(coding string) []byte {
	switch coding {
	case snapshot.Zstd:
		return b.Zstd
	case snapshot.Gzip:
		return b.Gzip
	}
	return b.JSON
}

// Ratio is the gzip compression ratio of the body.
func (b Body) Ratio() float64 { return float64(len(b.JSON)) / float64(len(b.Gzip)) }

// ZstdRatio is the zstd compression ratio of the body.
func (b Body) ZstdRatio() float64 { return float64(len(b.JSON)) / float64(len(b.Zstd)) }
