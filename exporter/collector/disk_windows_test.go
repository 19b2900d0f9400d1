package collector

import (
	"testing"

	"golang.org/x/sys/windows"
)

// TestDiskIOTimesCall asks for the system drive's busy time. Hosts that
// refuse IOCTL_DISK_PERFORMANCE (Wine, some VMs) return nothing, which is
// allowed; a value must lie between zero and the uptime.
func TestDiskIOTimesCall(t *testing.T) {
	got := windowsDiskIOTimes([]string{"C:", "Q:"})
	uptime := windows.DurationSinceBoot().Seconds()
	for dev, busy := range got {
		if busy < 0 || busy > uptime+1 {
			t.Errorf("%s busy %v s, uptime %v s", dev, busy, uptime)
		}
	}
	if _, ok := got["Q:"]; ok {
		t.Error("busy time for a drive that does not exist")
	}
	t.Logf("busy seconds: %v", got)
}
