package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/windows"
)

func init() { registerCollector("time", true, newTimeCollector) }

var (
	timeSyncedDesc = prometheus.NewDesc("host_time_synced", "1 when the Windows Time service runs and its NTP client has at least one time source answering, 0 when not.", nil, nil)
	timeOffsetDesc = prometheus.NewDesc("host_time_offset_seconds", "Absolute offset between the system clock and the Windows Time service's chosen time source (its Computed Time Offset counter).", nil, nil)
)

// The "Windows Time Service" performance counters, Windows 10 1607 and
// Server 2016 onwards; windows_exporter's time collector reads the same.
const (
	w32timeOffsetCounter  = `\Windows Time Service\Computed Time Offset`
	w32timeSourcesCounter = `\Windows Time Service\NTP Client Time Source Count`
)

// w32timeRetry is how long a query that could not be opened or read waits
// before it is opened again: a host without the counters (an older
// Windows, Wine) should not pay for a PDH query on every scrape.
const w32timeRetry = 5 * time.Minute

// timeCollector reports whether the Windows Time service keeps the clock
// synchronised (see decideW32Time for what counts), from the service
// control manager's view of the W32Time service and the service's own
// performance counters. What it cannot read leaves the series absent
// rather than failing the collection: the state is unknown, not bad.
//
// GetSystemTimeAdjustmentPrecise is not used: it says whether something
// currently slews the clock, not whether the clock follows a reference.
type timeCollector struct {
	log *slog.Logger

	service  func() (w32timeService, error)  // a test's seam
	counters func() (w32timeCounters, error) // a test's seam

	mu      sync.Mutex
	query   *pdhQuery
	retryAt time.Time
	logged  map[string]string // last problem logged per source, so each is logged once
}

func newTimeCollector(cfg Config) (Collector, error) {
	c := &timeCollector{log: cfg.Logger, service: w32timeServiceState, logged: map[string]string{}}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.counters = c.readCounters
	return c, nil
}

func (c *timeCollector) Update(context.Context) (Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	svc, err := c.service()
	c.note("service", err)
	var cnt w32timeCounters
	// A stopped service serves no counters, and a missing one decides
	// alone; only a running or unknown one is worth the PDH query.
	if svc == w32timeRunning || svc == w32timeUnknown {
		cnt, err = c.counters()
		c.note("counters", err)
	}
	r := decideW32Time(svc, cnt)
	var out metricList
	if r.hasSynced {
		out = append(out, prometheus.MustNewConstMetric(timeSyncedDesc, prometheus.GaugeValue, r.synced))
	}
	if r.hasOffset {
		out = append(out, prometheus.MustNewConstMetric(timeOffsetDesc, prometheus.GaugeValue, r.offset))
	}
	return out, nil
}

// note logs, at debug level, a reason the time series may be absent, once
// until it changes.
func (c *timeCollector) note(source string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if c.logged[source] == msg {
		return
	}
	c.logged[source] = msg
	if err != nil {
		c.log.Debug("Windows Time service "+source+" unavailable; host_time_* may be absent", "err", err)
	}
}

// readCounters samples the Windows Time service's counters through a PDH
// query kept open between scrapes. A failure closes it; it is opened again
// w32timeRetry later.
func (c *timeCollector) readCounters() (w32timeCounters, error) {
	now := time.Now()
	if c.query == nil {
		if now.Before(c.retryAt) {
			return w32timeCounters{}, fmt.Errorf("counters unreadable, next try at %s", c.retryAt.Format(time.TimeOnly))
		}
		q, err := openPDHQuery(w32timeOffsetCounter, w32timeSourcesCounter)
		if err != nil {
			c.retryAt = now.Add(w32timeRetry)
			return w32timeCounters{}, err
		}
		c.query = q
	}
	v, err := c.query.sample()
	if err != nil {
		c.query.close()
		c.query = nil
		c.retryAt = now.Add(w32timeRetry)
		return w32timeCounters{}, err
	}
	return w32timeCounters{ok: true, offsetMicros: float64(v[0]), sources: float64(v[1])}, nil
}

// w32timeServiceState asks the service control manager for W32Time's
// state with the least access there is (connect, query status), which the
// default service ACLs grant to every authenticated account, virtual
// service accounts included.
func w32timeServiceState() (w32timeService, error) {
	m, err := windows.OpenSCManager(nil, nil, windows.SC_MANAGER_CONNECT)
	if err != nil {
		return w32timeUnknown, fmt.Errorf("OpenSCManager: %w", err)
	}
	defer windows.CloseServiceHandle(m)
	name, _ := windows.UTF16PtrFromString("W32Time")
	s, err := windows.OpenService(m, name, windows.SERVICE_QUERY_STATUS)
	if errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		return w32timeAbsent, nil
	}
	if err != nil {
		return w32timeUnknown, fmt.Errorf("OpenService W32Time: %w", err)
	}
	defer windows.CloseServiceHandle(s)
	var st windows.SERVICE_STATUS
	if err := windows.QueryServiceStatus(s, &st); err != nil {
		return w32timeUnknown, fmt.Errorf("QueryServiceStatus W32Time: %w", err)
	}
	if st.CurrentState == windows.SERVICE_RUNNING {
		return w32timeRunning, nil
	}
	return w32timeNotRunning, nil
}
