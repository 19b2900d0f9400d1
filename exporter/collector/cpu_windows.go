package collector

import (
	"context"

	"github.com/shirou/gopsutil/v4/cpu"
)

// loadAverage returns nil: Windows has no load average, and gopsutil's
// emulation would publish numbers that look like Linux's but are not.
func loadAverage(context.Context) (*[3]float64, error) { return nil, nil }

// cpuModesFor splits each CPU's time so the modes add up to wall time.
// Windows' processor performance counters nest: KernelTime includes
// IdleTime and InterruptTime. gopsutil already takes idle out of System;
// interrupt time is taken out here, so "system" is kernel work outside
// interrupts and nothing is counted twice. DPC time stays in "system":
// gopsutil does not report it per CPU.
func cpuModesFor(t cpu.TimesStat) []cpuMode {
	system := t.System - t.Irq
	if system < 0 {
		system = 0
	}
	return []cpuMode{{"user", t.User}, {"system", system}, {"idle", t.Idle}, {"irq", t.Irq}}
}
