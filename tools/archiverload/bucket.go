package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prexmon/prexmon/tools/s3gateway"
)

// startGateway runs versitygw (bin, or where scripts/build-versitygw.sh
// caches it for "auto") over work/s3 and writes the bucket config for it
// to work/bucket.yml, which it returns beside the gateway.
func startGateway(bin, work string) (*s3gateway.Gateway, string, error) {
	if bin == "auto" {
		if bin = s3gateway.Binary(); bin == "" {
			return nil, "", fmt.Errorf("no versitygw: build it with scripts/build-versitygw.sh")
		}
	}
	logf, err := os.Create(filepath.Join(work, "versitygw.log"))
	if err != nil {
		return nil, "", fmt.Errorf("gateway log: %w", err)
	}
	g, err := s3gateway.Start(bin, filepath.Join(work, "s3"), logf)
	if err != nil {
		logf.Close()
		return nil, "", err
	}
	conf := filepath.Join(work, "bucket.yml")
	if err := os.WriteFile(conf, g.Config, 0o600); err != nil {
		g.Stop()
		logf.Close()
		return nil, "", fmt.Errorf("write %s: %w", conf, err)
	}
	return g, conf, nil
}

// bucketCount is what the bucket holds after a run, from the manifests'
// names (…_<last ns>_<lines>_<bytes>[.zst].json) alone, as the archiver reads it.
type bucketCount struct {
	Segments int
	Lines    int64
	Bytes    int64
}

func countBucket(dir string) (bucketCount, error) {
	var c bucketCount
	err := filepath.WalkDir(filepath.Join(dir, s3gateway.Bucket), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		name := strings.TrimSuffix(strings.TrimSuffix(d.Name(), ".json"), ".zst")
		f := strings.Split(name, "_")
		if len(f) != 5 {
			return nil
		}
		lines, err1 := strconv.ParseInt(f[3], 10, 64)
		size, err2 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil {
			return nil
		}
		c.Segments++
		c.Lines += lines
		c.Bytes += size
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("walk bucket %s: %w", dir, err)
	}
	return c, nil
}

// remoteResult is what a run with --s3-gateway adds to the report.
type remoteResult struct {
	Uploads        float64 `json:"uploads"` // archiver_remote_uploads_total{result="success"} in the window
	Failures       float64 `json:"upload_failures"`
	UploadedMBps   float64 `json:"uploaded_mb_per_second"` // compressed bytes uploaded in the window / window
	PendingAtEnd   float64 `json:"pending_segments_at_window_end"`
	LagAtEnd       float64 `json:"upload_lag_seconds_at_window_end"`
	GatewayCores   float64 `json:"gateway_cpu_cores"` // versitygw, beside the archiver on the same machine
	BucketSegments int     `json:"bucket_segments"`   // after the clean shutdown
	BucketLines    int64   `json:"bucket_lines"`
	BucketBytes    int64   `json:"bucket_bytes"`
	DiskLines      int64   `json:"disk_lines"`
	PutP50         float64 `json:"put_p50_seconds"` // archiver_objstore_bucket_operation_duration_seconds{operation="upload"}
	PutP99         float64 `json:"put_p99_seconds"`
}

func (r *remoteResult) fill(m0, m1 families, window time.Duration, b bucketCount, d diskCount) {
	before := m0.counters("archiver_remote_uploads_total", "result")
	after := m1.counters("archiver_remote_uploads_total", "result")
	r.Uploads = after["success"] - before["success"]
	r.Failures = after["failure"] - before["failure"]
	r.UploadedMBps = (m1.value("archiver_remote_uploaded_bytes_total") - m0.value("archiver_remote_uploaded_bytes_total")) / 1e6 / window.Seconds()
	r.PendingAtEnd = m1.value("archiver_remote_pending_segments")
	r.LagAtEnd = m1.value("archiver_remote_upload_lag_seconds")
	r.BucketSegments, r.BucketLines, r.BucketBytes = b.Segments, b.Lines, b.Bytes
	r.DiskLines = d.Lines
	const putSeconds = "archiver_objstore_bucket_operation_duration_seconds"
	if h1, ok := m1.histogramWhere(putSeconds, "operation", "upload"); ok {
		h0, _ := m0.histogramWhere(putSeconds, "operation", "upload")
		d := h1.sub(h0)
		r.PutP50, r.PutP99 = d.quantile(.5), d.quantile(.99)
	}
}

func (r *remoteResult) print(p func(k, format string, a ...any)) {
	p("uploads in window", "%.0f segments, %.1f MB/s compressed, %.0f failures; at window end %.0f pending, lag %.0fs", r.Uploads, r.UploadedMBps, r.Failures, r.PendingAtEnd, r.LagAtEnd)
	p("PUT duration p50/p99", "%s / %s (objects and manifests)", secs(r.PutP50), secs(r.PutP99))
	p("S3 gateway CPU", "%.2f cores (versitygw, beside the archiver)", r.GatewayCores)
	pct := 0.0
	if r.DiskLines > 0 {
		pct = 100 * float64(r.BucketLines) / float64(r.DiskLines)
	}
	p("bucket after shutdown", "%d segments, %d lines = %.2f%% of the %d lines on disk, %.1f MB", r.BucketSegments, r.BucketLines, pct, r.DiskLines, float64(r.BucketBytes)/1e6)
}
