package collector

import (
	"github.com/shirou/gopsutil/v4/cpu"
)

// cpuModesFor lists the modes macOS counts (host_processor_info): no
// iowait, irq or steal there, so none are published as zeros.
func cpuModesFor(t cpu.TimesStat) []cpuMode {
	return []cpuMode{{"user", t.User}, {"nice", t.Nice}, {"system", t.System}, {"idle", t.Idle}}
}
