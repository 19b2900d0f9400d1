//go:build !linux

package collector

import (
	"context"

	"github.com/shirou/gopsutil/v4/cpu"
)

// cpuTimes asks gopsutil for each CPU's times.
func cpuTimes(ctx context.Context, _ Config) ([]cpu.TimesStat, error) {
	return cpu.TimesWithContext(ctx, true)
}
