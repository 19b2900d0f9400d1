package collector

import (
	"context"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/load"
)

func loadAverage(ctx context.Context) (*[3]float64, error) {
	a, err := load.AvgWithContext(ctx)
	if err != nil {
		return nil, err
	}
	return &[3]float64{a.Load1, a.Load5, a.Load15}, nil
}

// cpuModesFor lists the modes Linux has.
func cpuModesFor(t cpu.TimesStat) []cpuMode {
	return []cpuMode{
		{"user", t.User}, {"nice", t.Nice}, {"system", t.System}, {"idle", t.Idle},
		{"iowait", t.Iowait}, {"irq", t.Irq}, {"softirq", t.Softirq}, {"steal", t.Steal},
	}
}
