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
	"github.com/shirou/gopsutil/v4/host"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func init() { registerCollector("host", true, newHostCollector) }

var (
	bootTimeDesc = prometheus.NewDesc("host_boot_time_seconds", "When the host booted, in seconds since the epoch.", nil, nil)
	timeDesc     = prometheus.NewDesc("host_time_seconds", "The host's clock at collection, to detect clock skew against Prometheus.", nil, nil)
	osInfoDesc   = prometheus.NewDesc("host_os_info", "Operating system facts as labels; the value is always 1.",
		[]string{"os", "platform", "platform_version", "kernel_version", "arch", "hostname"}, nil)
)

// platformTTL bounds how stale OS facts may be. Reading them is costly
// (gopsutil may run lsb_release), and they change only on upgrades.
const platformTTL = 10 * time.Minute

type hostCollector struct {
	mu       sync.Mutex
	platform platformFacts
	readAt   time.Time
}

type platformFacts struct {
	platform, version, kernel string
}

func newHostCollector(Config) (Collector, error) { return &hostCollector{}, nil }

type hostResult struct {
	section snapshot.Host
	now     time.Time
}

func (c *hostCollector) Update(ctx context.Context) (Result, error) {
	boot, err := host.BootTimeWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("boot time: %w", err)
	}
	facts, err := c.facts(ctx)
	if err != nil {
		return nil, err
	}
	hostname, err := os.Hostname()
	if err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	bootTime := time.Unix(int64(boot), 0).UTC()
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

func (c *hostCollector) facts(ctx context.Context) (platformFacts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readAt.IsZero() && time.Since(c.readAt) < platformTTL {
		return c.platform, nil
	}
	platform, _, version, err := host.PlatformInformationWithContext(ctx)
	if err != nil {
		return platformFacts{}, fmt.Errorf("platform information: %w", err)
	}
	kernel, err := host.KernelVersionWithContext(ctx)
	if err != nil {
		return platformFacts{}, fmt.Errorf("kernel version: %w", err)
	}
	c.platform = platformFacts{platform: platform, version: version, kernel: kernel}
	c.readAt = time.Now()
	return c.platform, nil
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
