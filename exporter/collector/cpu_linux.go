package collector

import (
	"github.com/shirou/gopsutil/v4/cpu"
)

// cpuModesFor lists the modes Linux has.
func cpuModesFor(t cpu.TimesStat) []cpuMode {
	return []cpuMode{
		{"user", t.User}, {"nice", t.Nice}, {"system", t.System}, {"idle", t.Idle},
		{"iowait", t.Iowait}, {"irq", t.Irq}, {"softirq", t.Softirq}, {"steal", t.Steal},
	}
}
