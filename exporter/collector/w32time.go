package collector

// This file decides what host_time_synced and host_time_offset_seconds say
// on Windows from what time_windows.go could read. It is OS-neutral on
// purpose, so the decision is tested on Linux; time_windows.go only makes
// the calls.

// w32timeService is the state of the Windows Time service (W32Time) as
// the service control manager reports it.
type w32timeService int

const (
	w32timeUnknown    w32timeService = iota // the manager could not be asked
	w32timeAbsent                           // no such service on this host
	w32timeNotRunning                       // stopped, paused, starting or stopping
	w32timeRunning
)

// w32timeCounters are the two "Windows Time Service" performance counters
// that matter here (Windows 10 1607 / Server 2016 and later). ok is false
// when they could not be read: an older Windows, a host without the
// counters (Wine), or the service not serving them.
type w32timeCounters struct {
	ok bool
	// offsetMicros is "Computed Time Offset": the absolute offset, in
	// microseconds, between the system clock and the chosen time source,
	// as W32Time last computed it.
	offsetMicros float64
	// sources is "NTP Client Time Source Count": the distinct time servers
	// currently answering this host's NTP client.
	sources float64
}

// w32timeReading is what the time collector serves on Windows; a false
// has* means the series is absent.
type w32timeReading struct {
	synced, offset       float64
	hasSynced, hasOffset bool
}

// decideW32Time turns the service's state and its counters into the two
// series. The clock counts as synchronised when the Windows Time service
// runs and its NTP client has at least one time source answering, which is
// what `w32tm /query /status` shows as a source other than "Local CMOS
// Clock" or "Free-running System Clock":
//
//   - service not running: 0 (nothing keeps the clock), no offset;
//   - running, counters read: 1 with at least one source, else 0; the
//     offset only with a source, as without one it is measured against
//     nothing;
//   - running or unknown, counters unreadable: both absent, as the state
//     is unknown, not bad;
//   - no W32Time service at all: both absent; a third-party NTP daemon may
//     keep the clock, which this cannot see.
//
// An unknown service state (the manager refused the query) with readable
// counters is read as running: the counters are served by the service.
func decideW32Time(svc w32timeService, c w32timeCounters) w32timeReading {
	switch {
	case svc == w32timeAbsent:
		return w32timeReading{}
	case svc == w32timeNotRunning:
		return w32timeReading{synced: 0, hasSynced: true}
	case !c.ok:
		return w32timeReading{}
	case c.sources >= 1:
		return w32timeReading{synced: 1, hasSynced: true, offset: c.offsetMicros / 1e6, hasOffset: true}
	default:
		return w32timeReading{synced: 0, hasSynced: true}
	}
}
