package collector

import (
	"context"

	"github.com/shirou/gopsutil/v4/mem"
)

// swapUsage reports the page file, Windows' counterpart of swap.
func swapUsage(ctx context.Context, _ *mem.VirtualMemoryStat) (total, used uint64, err error) {
	sw, err := mem.SwapMemoryWithContext(ctx)
	if err != nil {
		return 0, 0, err
	}
	return sw.Total, sw.Used, nil
}
