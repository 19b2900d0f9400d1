package collector

import (
	"context"
	"slices"

	"github.com/shirou/gopsutil/v4/cpu"
)

// cpuModesFor lists the modes Linux has.
func cpuModesFor(t cpu.TimesStat) []cpuMode {
	return []cpuMode{
		{"user", t.User}, {"nice", t.Nice}, {"system", t.System}, {"idle", t.Idle},
		{"iowait", t.Iowait}, {"irq", t.Irq}, {"softirq", t.Softirq}, {"steal", t.Steal},
	}
}

// cpuTimes reads each CPU's times from the collection's one reading of
// <proc>/stat, which the host and processes collectors share. The copy is
// the collector's to modify.
func cpuTimes(ctx context.Context, cfg Config) ([]cpu.TimesStat, error) {
	st, err := readSystemStat(ctx, cfg.ProcPath)
	if err != nil {
		return nil, err
	}
	return slices.Clone(st.cpus), nil
}
