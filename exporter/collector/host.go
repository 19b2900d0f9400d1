package collector

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func init() { registerCollector("host", true, newHostCollector) }

var (
	bootTimeDesc = prometheus.NewDesc("host_boot_time_seconds", "When the host booted, in seconds since the epoch.", nil, nil)
	timeDesc     = prometheus.NewDesc("host_time_seconds", "The host's clock at collection, to detect clock skew against Prometheus.", nil, nil)
	osInfoDesc   = prometheus.NewDesc("host_os_info", "Operating system facts as labels; the value is always 1.",
		[]string{"os", "platform", "platform_version", "kernel_version", "arch", "hostname"}, nil)
)

type hostCollector struct {
	cfg Config

	mu       sync.Mutex
	platform platformFacts
	stamp    fileStamp // Linux: the os-release file the facts came from
	readAt   time.Time // elsewhere: when the facts were read
	boot     time.Time // elsewhere: the boot time last reported
}

type platformFacts struct {
	platform, version, kernel string
}

func newHostCollector(cfg Config) (Collector, error) { return &hostCollector{cfg: cfg}, nil }

type hostResult struct {
	section snapshot.Host
	now     time.Time
}

func (c *hostCollector) Update(ctx context.Context) (Result, error) {
	bootTime, err := c.bootTime(ctx)
	if err != nil {
		return nil, err
	}
	facts, err := c.facts(ctx)
	if err != nil {
		return nil, err
	}
	hostname, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	return &hostResult{
		now: time.Now(),
		section: snapshot.Host{
			Hostname:        hostname,
			OS:              runtime.GOOS,
			Platform:        facts.platform,
			PlatformVersion: facts.version,
			KernelVersion:   facts.kernel,
			Arch:            runtime.GOARCH,
			UptimeSeconds:   uint64(time.Since(bootTime).Seconds()),
			BootTime:        bootTime,
			IPs:             hostIPs(),
		},
	}, nil
}

// hostIPs lists the non-loopback addresses, so an archived snapshot says
// which machine it describes even behind NAT.
func hostIPs() []string {
	ips := []string{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ips
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		ips = append(ips, ipn.IP.String())
	}
	return ips
}

func (r *hostResult) Fill(s *snapshot.Snapshot) {
	sec := r.section
	s.Host = &sec
}

func (r *hostResult) Emit(ch chan<- prometheus.Metric) {
	h := r.section
	ch <- prometheus.MustNewConstMetric(bootTimeDesc, prometheus.GaugeValue, float64(h.BootTime.Unix()))
	ch <- prometheus.MustNewConstMetric(timeDesc, prometheus.GaugeValue, float64(r.now.UnixNano())/1e9)
	ch <- prometheus.MustNewConstMetric(osInfoDesc, prometheus.GaugeValue, 1,
		labelValue(h.OS), labelValue(h.Platform), labelValue(h.PlatformVersion), labelValue(h.KernelVersion), labelValue(h.Arch), labelValue(h.Hostname))
}
