package collector

import (
	"context"
	"fmt"
	"regexp"
	"sort"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/net"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func init() { registerCollector("network", true, newNetworkCollector) }

func netDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("host_network_"+name, help, []string{"device"}, nil)
}

var (
	netRxBytesDesc   = netDesc("receive_bytes_total", "Bytes received.")
	netTxBytesDesc   = netDesc("transmit_bytes_total", "Bytes transmitted.")
	netRxPacketsDesc = netDesc("receive_packets_total", "Packets received.")
	netTxPacketsDesc = netDesc("transmit_packets_total", "Packets transmitted.")
	netRxErrorsDesc  = netDesc("receive_errors_total", "Receive errors.")
	netTxErrorsDesc  = netDesc("transmit_errors_total", "Transmit errors.")
	netRxDropsDesc   = netDesc("receive_drops_total", "Received packets dropped.")
	netTxDropsDesc   = netDesc("transmit_drops_total", "Transmitted packets dropped.")
	netUpDesc        = netDesc("up", "1 when the link's operational state is up, 0 otherwise (down, dormant, unknown as for lo).")
	netSpeedDesc     = netDesc("speed_bytes", "Link speed in bytes per second, where the link reports one.")
)

// netLink is what the OS says of a link. speedBytes 0 means unreported.
type netLink struct {
	up         bool
	speedBytes uint64
}

// netLinks, set where the OS has a reader (sysfs on Linux, GetIfEntry2Ex
// on Windows), returns the state of the devices it could read; the others
// get no up or speed series.
var netLinks func(cfg Config, devices []string) map[string]netLink

type networkCollector struct {
	// exclude drops devices an operator does not want as series, such as
	// the veth pairs of containers that come and go on a Kubernetes node
	// (nil: keep every device).
	exclude *regexp.Regexp
	cfg     Config
}

func newNetworkCollector(cfg Config) (Collector, error) {
	if cfg.NetworkDeviceExclude == "" {
		return networkCollector{cfg: cfg}, nil
	}
	re, err := regexp.Compile(cfg.NetworkDeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("--collector.network.device-exclude: %w", err)
	}
	return networkCollector{exclude: re, cfg: cfg}, nil
}

type networkResult struct{ ifs []snapshot.NetIf }

func (c networkCollector) Update(ctx context.Context) (Result, error) {
	counters, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("network io counters: %w", err)
	}
	r := &networkResult{ifs: make([]snapshot.NetIf, 0, len(counters))}
	for _, n := range counters {
		if c.exclude != nil && c.exclude.MatchString(n.Name) {
			continue
		}
		r.ifs = append(r.ifs, snapshot.NetIf{
			Device:    n.Name,
			RxBytes:   n.BytesRecv,
			TxBytes:   n.BytesSent,
			RxPackets: n.PacketsRecv,
			TxPackets: n.PacketsSent,
			RxErrors:  n.Errin,
			TxErrors:  n.Errout,
			RxDrops:   n.Dropin,
			TxDrops:   n.Dropout,
		})
	}
	sort.Slice(r.ifs, func(i, j int) bool { return r.ifs[i].Device < r.ifs[j].Device })
	if netLinks != nil {
		devices := make([]string, len(r.ifs))
		for i, n := range r.ifs {
			devices[i] = n.Device
		}
		links := netLinks(c.cfg, devices)
		for i := range r.ifs {
			if l, ok := links[r.ifs[i].Device]; ok {
				up := l.up
				r.ifs[i].Up, r.ifs[i].SpeedBytes = &up, l.speedBytes
			}
		}
	}
	return r, nil
}

func (r *networkResult) Fill(s *snapshot.Snapshot) { s.Network = r.ifs }

func (r *networkResult) Emit(ch chan<- prometheus.Metric) {
	for _, n := range r.ifs {
		for _, m := range []struct {
			d *prometheus.Desc
			v uint64
		}{
			{netRxBytesDesc, n.RxBytes}, {netTxBytesDesc, n.TxBytes},
			{netRxPacketsDesc, n.RxPackets}, {netTxPacketsDesc, n.TxPackets},
			{netRxErrorsDesc, n.RxErrors}, {netTxErrorsDesc, n.TxErrors},
			{netRxDropsDesc, n.RxDrops}, {netTxDropsDesc, n.TxDrops},
		} {
			ch <- prometheus.MustNewConstMetric(m.d, prometheus.CounterValue, float64(m.v), labelValue(n.Device))
		}
		if n.Up != nil {
			up := 0.0
			if *n.Up {
				up = 1
			}
			ch <- prometheus.MustNewConstMetric(netUpDesc, prometheus.GaugeValue, up, labelValue(n.Device))
		}
		if n.SpeedBytes > 0 {
			ch <- prometheus.MustNewConstMetric(netSpeedDesc, prometheus.GaugeValue, float64(n.SpeedBytes), labelValue(n.Device))
		}
	}
}
