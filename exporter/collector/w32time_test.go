package collector

import "testing"

func TestDecideW32Time(t *testing.T) {
	readable := func(offsetMicros, sources float64) w32timeCounters {
		return w32timeCounters{ok: true, offsetMicros: offsetMicros, sources: sources}
	}
	absent := w32timeReading{}
	unsynced := w32timeReading{synced: 0, hasSynced: true}
	synced := func(offset float64) w32timeReading {
		return w32timeReading{synced: 1, hasSynced: true, offset: offset, hasOffset: true}
	}
	for _, tc := range []struct {
		name string
		svc  w32timeService
		c    w32timeCounters
		want w32timeReading
	}{
		{"running, two sources", w32timeRunning, readable(1500, 2), synced(0.0015)},
		{"running, one source, no offset", w32timeRunning, readable(0, 1), synced(0)},
		{"running, no source (Local CMOS Clock)", w32timeRunning, readable(1500, 0), unsynced},
		{"running, counters unreadable (Server 2012 R2)", w32timeRunning, w32timeCounters{}, absent},
		{"stopped", w32timeNotRunning, w32timeCounters{}, unsynced},
		{"stopped, stale counters ignored", w32timeNotRunning, readable(20, 3), unsynced},
		{"no W32Time service (Wine, third-party NTP)", w32timeAbsent, w32timeCounters{}, absent},
		{"no W32Time service, counters ignored", w32timeAbsent, readable(20, 3), absent},
		{"manager refused, counters say synced", w32timeUnknown, readable(250000, 1), synced(0.25)},
		{"manager refused, counters say no source", w32timeUnknown, readable(0, 0), unsynced},
		{"manager refused, counters unreadable", w32timeUnknown, w32timeCounters{}, absent},
	} {
		if got := decideW32Time(tc.svc, tc.c); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
