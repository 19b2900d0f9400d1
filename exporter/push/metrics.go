package push

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Results of one push request (host_exporter_push_total{result}).
const (
	resultSuccess  = "success"  // 2xx, a duplicate included
	resultError    = "error"    // connection error, timeout, 408, 429, 5xx: retried with backoff
	resultRefused  = "refused"  // any other 4xx (token, URL), an untrusted certificate: kept, tried again an interval later
	resultRejected = "rejected" // 400, 413, 422: this snapshot will never be taken; dropped
)

// Reasons a snapshot is given up (host_exporter_push_dropped_total{reason}).
const (
	dropRejected   = "rejected"    // the archiver refused the snapshot itself
	dropSpoolFull  = "spool_full"  // the oldest spooled, to make room
	dropCorrupt    = "corrupt"     // a spool file that cannot be read back
	dropSpoolError = "spool_error" // could not be written to the spool
	dropNoSpool    = "no_spool"    // not pushed before the next one, and no --push.spool.dir
)

type metrics struct {
	pushes         *prometheus.CounterVec
	dropped        *prometheus.CounterVec
	spoolBytes     prometheus.Gauge
	spoolSnapshots prometheus.Gauge
	lastSuccess    prometheus.Gauge
}

// newMetrics registers the push metrics with reg (nil: not exposed, as
// for --push.once). Every label value is there from the start, at zero,
// so that alerts on increase() see the first one.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		pushes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "host_exporter_push_total",
			Help: "Push requests to the archiver by result: success, error (retried with backoff), refused (other 4xx, untrusted certificate; kept), rejected (400, 413, 422; dropped).",
		}, []string{"result"}),
		dropped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "host_exporter_push_dropped_total",
			Help: "Snapshots given up without being pushed, by reason: rejected, spool_full, corrupt, spool_error, no_spool.",
		}, []string{"reason"}),
		spoolBytes: f.NewGauge(prometheus.GaugeOpts{
			Name: "host_exporter_push_spool_bytes",
			Help: "Bytes of snapshots waiting in --push.spool.dir.",
		}),
		spoolSnapshots: f.NewGauge(prometheus.GaugeOpts{
			Name: "host_exporter_push_spool_snapshots",
			Help: "Snapshots waiting in --push.spool.dir.",
		}),
		lastSuccess: f.NewGauge(prometheus.GaugeOpts{
			Name: "host_exporter_push_last_success_timestamp_seconds",
			Help: "When the archiver last acknowledged a push (Unix time; 0: never since start).",
		}),
	}
	for _, r := range []string{resultSuccess, resultError, resultRefused, resultRejected} {
		m.pushes.WithLabelValues(r)
	}
	for _, r := range []string{dropRejected, dropSpoolFull, dropCorrupt, dropSpoolError, dropNoSpool} {
		m.dropped.WithLabelValues(r)
	}
	return m
}
