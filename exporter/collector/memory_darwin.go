package collector

import (
	"context"

	"github.com/shirou/gopsutil/v4/mem"
)

// swapUsage asks for vm.swapusage: macOS grows and shrinks its swap files
// on demand, so the total moves too.
func swapUsage(ctx context.Context, _ *mem.VirtualMemoryStat) (total, used uint64, err error) {
	sw, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		return 0, 0, err
	}
	return sw.Total, sw.Used, nil
}
