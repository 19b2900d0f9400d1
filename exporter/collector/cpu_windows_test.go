package collector

import (
	"testing"

	"github.com/shirou/gopsutil/v4/cpu"
)

// TestCPUModesPartitionTime checks that the emitted modes sum to user plus
// kernel time: Windows' kernel time already contains idle and interrupts.
func TestCPUModesPartitionTime(t *testing.T) {
	cases := []struct {
		name                     string
		user, kernel, idle, intr float64
		wantSystem               float64
	}{
		{"busy", 100, 300, 150, 20, 130},
		{"idle host", 1, 1000, 990, 2, 8},
		{"interrupt rounding above kernel-idle", 0, 10, 10, 0.5, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// gopsutil reports System as kernel minus idle.
			ts := cpu.TimesStat{User: tc.user, System: tc.kernel - tc.idle, Idle: tc.idle, Irq: tc.intr}
			modes := map[string]float64{}
			for _, m := range cpuModesFor(ts) {
				modes[m.mode] = m.seconds
			}
			if modes["system"] != tc.wantSystem {
				t.Errorf("system = %v, want %v", modes["system"], tc.wantSystem)
			}
			if tc.wantSystem > 0 {
				if got, want := cpuTotal(ts), tc.user+tc.kernel; got != want {
					t.Errorf("total = %v, want user+kernel = %v", got, want)
				}
			}
		})
	}
}
