package collector

import "encoding/binary"

// DISK_PERFORMANCE (winioctl.h), the answer to IOCTL_DISK_PERFORMANCE, as
// far as busy time needs it: LARGE_INTEGER IdleTime after BytesRead,
// BytesWritten, ReadTime and WriteTime, in 100 ns units. Decoded from bytes
// so it is tested on any OS; disk_windows.go makes the call.
const (
	diskPerfIdleTimeOff = 32
	diskPerfSize        = 88
)

// diskBusySeconds turns a DISK_PERFORMANCE answer into the time the disk
// was busy, Linux's io_ticks: time since boot minus the disk's idle time.
// Windows counts idle time from when the counters were enabled (boot on
// current versions), so at worst the counter carries a constant offset and
// its rate, the utilisation, is right. ok is false for a short answer.
func diskBusySeconds(perf []byte, uptimeMillis uint64) (seconds float64, ok bool) {
	if len(perf) < diskPerfSize {
		return 0, false
	}
	idle := int64(binary.LittleEndian.Uint64(perf[diskPerfIdleTimeOff:]))
	busy := float64(uptimeMillis)/1e3 - float64(idle)/1e7
	if busy < 0 {
		busy = 0
	}
	return busy, true
}
