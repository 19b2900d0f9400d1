package collector

import (
	"context"

	"github.com/shirou/gopsutil/v4/mem"
)

// swapUsage takes swap from the meminfo already read: gopsutil's
// SwapMemory asks the sysinfo syscall instead, which ignores --path.procfs.
func swapUsage(_ context.Context, vm *mem.VirtualMemoryStat) (total, used uint64, err error) {
	if vm.SwapTotal >= vm.SwapFree {
		used = vm.SwapTotal - vm.SwapFree
	}
	return vm.SwapTotal, used, nil
}
