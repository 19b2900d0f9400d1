package collector

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

func init() { registerCollector("vmstat", true, newVMStatCollector) }

var oomKillsDesc = prometheus.NewDesc("host_memory_oom_kills_total", "Processes the kernel's OOM killer has killed since boot (absent before Linux 4.13).", nil, nil)

// vmstatCollector reads the kernel's virtual memory counters; of them it
// exports the OOM kill count, which the standard alerts need.
type vmstatCollector struct{ path string }

func newVMStatCollector(cfg Config) (Collector, error) {
	return vmstatCollector{path: filepath.Join(cfg.ProcPath, "vmstat")}, nil
}

func (c vmstatCollector) Update(context.Context) (Result, error) {
	b, err := os.ReadFile(c.path)
	if err != nil {
		return nil, err
	}
	v, ok, err := vmstatField(b, "oom_kill")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.path, err)
	}
	if !ok {
		return metricList{}, nil
	}
	return metricList{prometheus.MustNewConstMetric(oomKillsDesc, prometheus.CounterValue, float64(v))}, nil
}

// vmstatField finds one "name value" line of /proc/vmstat.
func vmstatField(b []byte, name string) (v uint64, ok bool, err error) {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		k, val, found := bytes.Cut(line, []byte{' '})
		if !found || string(k) != name {
			continue
		}
		v, err = strconv.ParseUint(string(bytes.TrimSpace(val)), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", name, err)
		}
		return v, true, nil
	}
	return 0, false, nil
}
