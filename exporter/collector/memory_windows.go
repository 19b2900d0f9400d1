package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/shirou/gopsutil/v4/mem"
	"golang.org/x/sys/windows"
)

// systemPageFileInformation is the SYSTEM_INFORMATION_CLASS of the page
// file list.
const systemPageFileInformation = 18

// swapUsage reports the page files, Windows' counterpart of swap, from
// NtQuerySystemInformation(SystemPageFileInformation): their real sizes and
// usage in one cheap call, and zero on a host without page file. gopsutil
// estimates the size as commit limit minus physical memory and reads usage
// through a PDH counter query per call; it remains the fallback where the
// call is refused (Wine refuses both).
func swapUsage(ctx context.Context, _ *mem.VirtualMemoryStat) (total, used uint64, err error) {
	total, used, err = pageFiles()
	if err == nil {
		return total, used, nil
	}
	sw, swErr := mem.SwapMemoryWithContext(ctx)
	if swErr != nil {
		return 0, 0, errors.Join(err, swErr)
	}
	return sw.Total, sw.Used, nil
}

func pageFiles() (total, used uint64, err error) {
	buf := make([]uint64, 1024/8)
	for attempt := 0; ; attempt++ {
		var n uint32
		size := uint32(len(buf) * 8)
		err := windows.NtQuerySystemInformation(systemPageFileInformation, unsafe.Pointer(&buf[0]), size, &n)
		if errors.Is(err, windows.STATUS_INFO_LENGTH_MISMATCH) && attempt < 3 {
			buf = make([]uint64, max(uint64(n), 2*uint64(size))/8+1)
			continue
		}
		if err != nil {
			return 0, 0, fmt.Errorf("NtQuerySystemInformation(SystemPageFileInformation): %w", err)
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), min(n, size))
		return parsePageFiles(b, uint64(os.Getpagesize()))
	}
}
