package collector

import "golang.org/x/sys/windows"

// gopsutil reads Windows disk counters with IOCTL_DISK_PERFORMANCE per
// logical drive (C:, D:) but drops the idle time; diskIOTimes asks again
// for it so host_disk_io_time_seconds_total means on Windows what it means
// on Linux.
func init() { diskIOTimes = windowsDiskIOTimes }

const ioctlDiskPerformance = 0x70020

func windowsDiskIOTimes(devices []string) map[string]float64 {
	out := make(map[string]float64, len(devices))
	for _, dev := range devices {
		path, err := windows.UTF16PtrFromString(`\\.\` + dev)
		if err != nil {
			continue
		}
		h, err := windows.CreateFile(path, 0, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
		if err != nil {
			continue
		}
		var (
			perf [diskPerfSize]byte
			n    uint32
		)
		err = windows.DeviceIoControl(h, ioctlDiskPerformance, nil, 0, &perf[0], uint32(len(perf)), &n, nil)
		uptime := uint64(windows.DurationSinceBoot().Milliseconds())
		windows.CloseHandle(h)
		if err != nil {
			continue
		}
		if busy, ok := diskBusySeconds(perf[:n], uptime); ok {
			out[dev] = busy
		}
	}
	return out
}
