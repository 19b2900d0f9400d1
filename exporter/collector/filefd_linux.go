package collector

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

func init() { registerCollector("filefd", true, newFileFDCollector) }

var (
	fileFDAllocatedDesc = prometheus.NewDesc("host_filefd_allocated", "File handles the kernel has allocated (first field of /proc/sys/fs/file-nr).", nil, nil)
	fileFDMaximumDesc   = prometheus.NewDesc("host_filefd_maximum", "Most file handles the kernel will allocate (fs.file-max).", nil, nil)
)

type fileFDCollector struct{ path string }

func newFileFDCollector(cfg Config) (Collector, error) {
	return fileFDCollector{path: filepath.Join(cfg.ProcPath, "sys", "fs", "file-nr")}, nil
}

func (c fileFDCollector) Update(context.Context) (Result, error) {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return nil, err
	}
	// "allocated unused maximum"; unused has been 0 since Linux 2.6.
	f := strings.Fields(string(b))
	if len(f) != 3 {
		return nil, fmt.Errorf("%s: %d fields, want 3", c.path, len(f))
	}
	allocated, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.path, err)
	}
	maximum, err := strconv.ParseUint(f[2], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.path, err)
	}
	return metricList{
		prometheus.MustNewConstMetric(fileFDAllocatedDesc, prometheus.GaugeValue, float64(allocated)),
		prometheus.MustNewConstMetric(fileFDMaximumDesc, prometheus.GaugeValue, float64(maximum)),
	}, nil
}
