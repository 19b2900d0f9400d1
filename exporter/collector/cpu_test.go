package collector

import (
	"testing"

	"github.com/shirou/gopsutil/v4/cpu"
)

func TestCPUCountersNeverGoBackwards(t *testing.T) {
	prev := cpu.TimesStat{CPU: "cpu0", User: 10, Idle: 100, Iowait: 5}
	cur := cpu.TimesStat{CPU: "cpu0", User: 11, Idle: 101, Iowait: 4.5} // iowait estimate dropped
	monotonic(&cur, prev)
	if cur.Iowait != 5 || cur.User != 11 || cur.Idle != 101 {
		t.Fatalf("after monotonic: %+v", cur)
	}
}
