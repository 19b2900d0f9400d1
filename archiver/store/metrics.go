package store

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	snapshots     prometheus.Counter
	bytes         prometheus.Counter
	writeErrors   prometheus.Counter
	fsyncDuration prometheus.Histogram
	tornLines     prometheus.Counter
	openFiles     prometheus.Gauge
	retained      prometheus.Counter
	storage       *storageCollector
}

func newMetrics(reg prometheus.Registerer, dir string, usage *diskUsage) (*metrics, error) {
	m := &metrics{
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "archiver", Name: "snapshots_written_total",
			Help: "Snapshot lines written to day files.",
		}),
		bytes: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "archiver", Name: "written_bytes_total",
			Help: "Bytes written to day files.",
		}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "archiver", Name: "write_errors_total",
			Help: "Failed opens, writes and fsyncs of day files.",
		}),
		fsyncDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "archiver", Name: "fsync_duration_seconds",
			Help:    "Time a shard waited for its data to be durable: one syncfs round (shared by the shards that asked meanwhile) or one day file's fsync.",
			Buckets: []float64{.0001, .0005, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		tornLines: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "archiver", Name: "torn_lines_cut_total",
			Help: "Incomplete last lines (left by a crash) cut from day files.",
		}),
		openFiles: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "archiver", Name: "open_files",
			Help: "Day files currently held open for appending.",
		}),
		retained: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "archiver", Name: "retention_deleted_files_total",
			Help: "Day files deleted by retention (older than --storage.retention, or the oldest days past --storage.retention.size).",
		}),
		storage: &storageCollector{
			dir:   dir,
			usage: usage,
			bytes: prometheus.NewDesc("archiver_storage_bytes",
				"Size of the day files on local disk (absent until counted after start-up).", nil, nil),
			free: prometheus.NewDesc("archiver_storage_free_bytes",
				"Space available to the archiver on the storage filesystem.", nil, nil),
		},
	}
	for i, c := range m.all() {
		if err := reg.Register(c); err != nil {
			for _, done := range m.all()[:i] {
				reg.Unregister(done)
			}
			return nil, fmt.Errorf("register store metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) all() []prometheus.Collector {
	return []prometheus.Collector{m.snapshots, m.bytes, m.writeErrors, m.fsyncDuration, m.tornLines, m.openFiles, m.retained, m.storage}
}

// unregister lets a failed Open be retried with the same registry.
func (m *metrics) unregister(reg prometheus.Registerer) {
	for _, c := range m.all() {
		reg.Unregister(c)
	}
}

// storageCollector reports the archive size kept by diskUsage and the free
// space of its filesystem, one statfs per scrape.
type storageCollector struct {
	dir         string
	usage       *diskUsage
	bytes, free *prometheus.Desc
}

func (c *storageCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.bytes
	ch <- c.free
}

func (c *storageCollector) Collect(ch chan<- prometheus.Metric) {
	if c.usage.known.Load() {
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.GaugeValue, float64(max(0, c.usage.bytes.Load())))
	}
	if free, err := diskFree(c.dir); err == nil {
		ch <- prometheus.MustNewConstMetric(c.free, prometheus.GaugeValue, float64(free))
	}
}
