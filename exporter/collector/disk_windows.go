package collector

// gopsutil reads Windows disk counters with IOCTL_DISK_PERFORMANCE per
// logical drive (C:, D:): bytes, operations and read/write times, but no
// busy time, so host_disk_io_time_seconds_total is not served on Windows.
func init() { diskIOTimeKnown = false }
