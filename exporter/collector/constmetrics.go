package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// metricList is the Result of a collector that has metrics only and no
// section of the snapshot: the metrics are built in Update, so Emit cannot
// fail.
type metricList []prometheus.Metric

func (metricList) Fill(*snapshot.Snapshot) {}

func (m metricList) Emit(ch chan<- prometheus.Metric) {
	for _, x := range m {
		ch <- x
	}
}
