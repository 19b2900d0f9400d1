package collector

import (
	"context"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/load"
)

// loadAverage reads the kernel's load average (sysctl vm.loadavg).
func loadAverage(ctx context.Context) (*[3]float64, error) {
	a, err := load.AvgWithContext(ctx)
	if err != nil {
		return nil, err
	}
	return &[3]float64{a.Load1, a.Load5, a.Load15}, nil
}

// cpuModesFor lists the modes macOS counts (host_processor_info): no
// iowait, irq or steal there, so none are published as zeros.
func cpuModesFor(t cpu.TimesStat) []cpuMode {
	return []cpuMode{{"user", t.User}, {"nice", t.Nice}, {"system", t.System}, {"idle", t.Idle}}
}
