package collector

import (
	"context"

	"github.com/shirou/gopsutil/v4/cpu"
)

// loadAverage returns nil: Windows has no load average, and gopsutil's
// emulation would publish numbers that look like Linux's but are not.
func loadAverage(context.Context) (*[3]float64, error) { return nil, nil }

func cpuModesFor(t cpu.TimesStat) []cpuMode {
	return []cpuMode{{"user", t.User}, {"system", t.System}, {"idle", t.Idle}, {"irq", t.Irq}}
}
