package collector

import "testing"

func TestWindowsNetLink(t *testing.T) {
	for _, tc := range []struct {
		oper  uint32
		speed uint64
		want  netLink
	}{
		{1, 1_000_000_000, netLink{up: true, speedBytes: 125_000_000}},
		{2, 0, netLink{}},
		{5, ^uint64(0), netLink{}}, // dormant, speed unknown
	} {
		if got := windowsNetLink(tc.oper, tc.speed); got != tc.want {
			t.Errorf("windowsNetLink(%d, %d) = %+v, want %+v", tc.oper, tc.speed, got, tc.want)
		}
	}
}
