package collector

import (
	"encoding/binary"
	"testing"
)

func TestDiskBusySeconds(t *testing.T) {
	perf := func(idle100ns uint64) []byte {
		b := make([]byte, diskPerfSize)
		for i := 0; i < diskPerfIdleTimeOff; i++ {
			b[i] = 0xFF // byte and time counters before IdleTime must not leak in
		}
		binary.LittleEndian.PutUint64(b[diskPerfIdleTimeOff:], idle100ns)
		binary.LittleEndian.PutUint32(b[40:], 12345) // ReadCount
		return b
	}
	cases := []struct {
		name     string
		perf     []byte
		uptimeMS uint64
		want     float64
		wantOK   bool
	}{
		{"mostly idle", perf(3590 * 1e7), 3600_000, 10, true},
		{"never idle", perf(0), 60_000, 60, true},
		{"idle rounding past uptime", perf(61 * 1e7), 60_000, 0, true},
		{"short answer", make([]byte, diskPerfSize-1), 60_000, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := diskBusySeconds(tc.perf, tc.uptimeMS)
			if ok != tc.wantOK || got != tc.want {
				t.Errorf("got %v, %v; want %v, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}
