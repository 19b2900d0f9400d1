package collector

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"
)

func init() { registerCollector("time", true, newTimeCollector) }

var (
	timeSyncedDesc = prometheus.NewDesc("host_time_synced", "1 when the kernel considers its clock synchronised (NTP, PTP, chrony), 0 when not.", nil, nil)
	timeOffsetDesc = prometheus.NewDesc("host_time_offset_seconds", "Offset between the kernel clock and the reference its synchronisation daemon last gave it.", nil, nil)
)

// From <linux/timex.h>; x/sys/unix has the call but not the flags.
const (
	timexStaUnsync = 0x0040 // clock not synchronised
	timexStaNano   = 0x2000 // offsets in nanoseconds, not microseconds
	timexTimeError = 5      // adjtimex's answer when the clock is not synchronised
)

// timeCollector asks the kernel, read-only, what its synchronisation
// daemon told it, as node_exporter's timex collector does.
type timeCollector struct {
	adjtimex func(*unix.Timex) (int, error) // a test's seam
}

func newTimeCollector(Config) (Collector, error) { return timeCollector{adjtimex: unix.Adjtimex}, nil }

func (c timeCollector) Update(context.Context) (Result, error) {
	var tx unix.Timex // Modes 0: read, change nothing
	state, err := c.adjtimex(&tx)
	if err != nil {
		return nil, fmt.Errorf("adjtimex: %w", err)
	}
	// The kernel sets STA_UNSYNC itself once maxerror passes 16 s without
	// an update from the daemon, and then answers TIME_ERROR.
	synced := 0.0
	if state != timexTimeError && tx.Status&timexStaUnsync == 0 {
		synced = 1
	}
	divisor := 1e6
	if tx.Status&timexStaNano != 0 {
		divisor = 1e9
	}
	return metricList{
		prometheus.MustNewConstMetric(timeSyncedDesc, prometheus.GaugeValue, synced),
		prometheus.MustNewConstMetric(timeOffsetDesc, prometheus.GaugeValue, float64(tx.Offset)/divisor),
	}, nil
}
