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
)

type networkCollector struct {
	// exclude drops devices an operator does not want as series, such as
	// the veth pairs of containers that come and go on a Kubernetes node
	// (nil: keep every device).
	exclude *regexp.Regexp
}

func newNetworkCollector(cfg Config) (Collector, error) {
	if cfg.NetworkDeviceExclude == "" {
		return networkCollector{}, nil
	}
	re, err := regexp.Compile(cfg.NetworkDeviceExclude)
	if err != nil {
		return nil, fmt.Errorf("--collector.network.device-exclude: %w", err)
	}
	return networkCollector{exclude: re}, nil
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
	}
}
