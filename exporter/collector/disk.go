package collector

import (
	"context"
	"fmt"
	"regexp"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/disk"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func init() { registerCollector("disk", true, newDiskCollector) }

// defaultDiskDeviceExclude skips partitions and virtual devices, as
// node_exporter does, so IO is not counted twice (disk and its partitions).
const defaultDiskDeviceExclude = `^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`

var (
	diskReadBytesDesc  = prometheus.NewDesc("host_disk_read_bytes_total", "Bytes read from the device.", []string{"device"}, nil)
	diskWriteBytesDesc = prometheus.NewDesc("host_disk_written_bytes_total", "Bytes written to the device.", []string{"device"}, nil)
	diskReadsDesc      = prometheus.NewDesc("host_disk_reads_completed_total", "Reads completed.", []string{"device"}, nil)
	diskWritesDesc     = prometheus.NewDesc("host_disk_writes_completed_total", "Writes completed.", []string{"device"}, nil)
	diskIOTimeDesc     = prometheus.NewDesc("host_disk_io_time_seconds_total", "Seconds the device spent doing IO; its rate is utilisation.", []string{"device"}, nil)
	diskReadTimeDesc   = prometheus.NewDesc("host_disk_read_time_seconds_total", "Seconds spent on completed reads; its rate over the reads' is the read latency.", []string{"device"}, nil)
	diskWriteTimeDesc  = prometheus.NewDesc("host_disk_write_time_seconds_total", "Seconds spent on completed writes; its rate over the writes' is the write latency.", []string{"device"}, nil)
)

// diskIOTimes, set on Windows where gopsutil reports no busy time, returns
// busy seconds for the devices it could measure. Devices it leaves out get
// no io_time series rather than a zero that reads as an idle disk.
var diskIOTimes func(devices []string) map[string]float64

type diskCollector struct {
	exclude *regexp.Regexp
}

func newDiskCollector(cfg Config) (Collector, error) {
	re, err := regexp.Compile(cfg.DiskDeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("--collector.disk.device-exclude: %w", err)
	}
	return &diskCollector{exclude: re}, nil
}

type diskResult struct {
	disks   []snapshot.Disk
	ioTimes map[string]float64 // nil: every device's IOTimeSeconds is measured
}

func (c *diskCollector) Update(ctx context.Context) (Result, error) {
	// Without the opt-in, gopsutil reports Windows read and write times in
	// whole seconds; with it, in milliseconds as on Linux.
	ctx = context.WithValue(ctx, disk.WillBeDeletedOptInWindowsIOTimeMs, true)
	counters, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("disk io counters: %w", err)
	}
	r := &diskResult{disks: make([]snapshot.Disk, 0, len(counters))}
	for name, d := range counters {
		if c.exclude.MatchString(name) {
			continue
		}
		r.disks = append(r.disks, snapshot.Disk{
			Device:          name,
			ReadBytes:       d.ReadBytes,
			WrittenBytes:    d.WriteBytes,
			ReadsCompleted:  d.ReadCount,
			WritesCompleted: d.WriteCount,
			IOTimeSeconds:   float64(d.IoTime) / 1000,

			ReadTimeSeconds:  float64(d.ReadTime) / 1000,
			WriteTimeSeconds: float64(d.WriteTime) / 1000,
		})
	}
	sort.Slice(r.disks, func(i, j int) bool { return r.disks[i].Device < r.disks[j].Device })
	if diskIOTimes != nil {
		devices := make([]string, len(r.disks))
		for i, d := range r.disks {
			devices[i] = d.Device
		}
		r.ioTimes = diskIOTimes(devices)
		for i := range r.disks {
			r.disks[i].IOTimeSeconds = r.ioTimes[r.disks[i].Device]
		}
	}
	return r, nil
}

func (r *diskResult) Fill(s *snapshot.Snapshot) { s.Disks = r.disks }

func (r *diskResult) Emit(ch chan<- prometheus.Metric) {
	for _, d := range r.disks {
		ch <- prometheus.MustNewConstMetric(diskReadBytesDesc, prometheus.CounterValue, float64(d.ReadBytes), labelValue(d.Device))
		ch <- prometheus.MustNewConstMetric(diskWriteBytesDesc, prometheus.CounterValue, float64(d.WrittenBytes), labelValue(d.Device))
		ch <- prometheus.MustNewConstMetric(diskReadsDesc, prometheus.CounterValue, float64(d.ReadsCompleted), labelValue(d.Device))
		ch <- prometheus.MustNewConstMetric(diskWritesDesc, prometheus.CounterValue, float64(d.WritesCompleted), labelValue(d.Device))
		ch <- prometheus.MustNewConstMetric(diskReadTimeDesc, prometheus.CounterValue, d.ReadTimeSeconds, labelValue(d.Device))
		ch <- prometheus.MustNewConstMetric(diskWriteTimeDesc, prometheus.CounterValue, d.WriteTimeSeconds, labelValue(d.Device))
		if _, ok := r.ioTimes[d.Device]; ok || r.ioTimes == nil {
			ch <- prometheus.MustNewConstMetric(diskIOTimeDesc, prometheus.CounterValue, d.IOTimeSeconds, labelValue(d.Device))
		}
	}
}
