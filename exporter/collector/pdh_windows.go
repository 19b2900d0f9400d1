package collector

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"
)

// A minimal PDH (performance data helper) binding: one query of a few
// counters that take a single sample (raw counts, not rates), kept open
// across scrapes, since opening a query and adding counters is what costs;
// collecting it again is one call. x/sys/windows has no PDH binding.

var (
	modpdh                          = windows.NewLazySystemDLL("pdh.dll")
	procPdhOpenQueryW               = modpdh.NewProc("PdhOpenQueryW")
	procPdhAddEnglishCounterW       = modpdh.NewProc("PdhAddEnglishCounterW")
	procPdhCollectQueryData         = modpdh.NewProc("PdhCollectQueryData")
	procPdhGetFormattedCounterValue = modpdh.NewProc("PdhGetFormattedCounterValue")
	procPdhCloseQuery               = modpdh.NewProc("PdhCloseQuery")
)

const (
	pdhFmtLarge    = 0x00000400
	pdhFmtNoCap100 = 0x00008000

	pdhCStatusValidData = 0x00000000
	pdhCStatusNewData   = 0x00000001
)

// pdhStatus is a PDH_STATUS other than ERROR_SUCCESS.
type pdhStatus uint32

// Statuses worth a name in a log line (pdhmsg.h).
var pdhStatusNames = map[pdhStatus]string{
	0x800007D0: "PDH_CSTATUS_NO_MACHINE",
	0x800007D1: "PDH_CSTATUS_NO_INSTANCE",
	0x800007D5: "PDH_NO_DATA",
	0xC0000BB8: "PDH_CSTATUS_NO_OBJECT",
	0xC0000BB9: "PDH_CSTATUS_NO_COUNTER",
	0xC0000BBC: "PDH_INVALID_HANDLE",
	0xC0000BBD: "PDH_INVALID_ARGUMENT",
	0xC0000BC0: "PDH_CSTATUS_BAD_COUNTERNAME",
	0xC0000BC6: "PDH_INVALID_DATA",
}

func (s pdhStatus) Error() string {
	if n, ok := pdhStatusNames[s]; ok {
		return fmt.Sprintf("%s (0x%08X)", n, uint32(s))
	}
	return fmt.Sprintf("PDH status 0x%08X", uint32(s))
}

// pdhFmtCounterValueLarge is PDH_FMT_COUNTERVALUE with the LONGLONG member
// of its union; the union is 8-byte aligned on 32-bit Windows too.
type pdhFmtCounterValueLarge struct {
	cStatus uint32
	_       uint32
	value   int64
}

// pdhCall calls a PDH function, which answers a PDH_STATUS rather than
// setting the last error. A missing pdh.dll or function is an error too.
func pdhCall(p *windows.LazyProc, args ...uintptr) error {
	if err := p.Find(); err != nil {
		return err
	}
	if r, _, _ := p.Call(args...); r != 0 {
		return pdhStatus(r)
	}
	return nil
}

// pdhQuery is an open query and its counters, in the order given.
type pdhQuery struct {
	query    uintptr
	counters []uintptr
}

// openPDHQuery opens a query of counters given by their English paths,
// e.g. `\Windows Time Service\Computed Time Offset`, which do not depend
// on the display language.
func openPDHQuery(paths ...string) (*pdhQuery, error) {
	q := &pdhQuery{}
	if err := pdhCall(procPdhOpenQueryW, 0, 0, uintptr(unsafe.Pointer(&q.query))); err != nil {
		return nil, fmt.Errorf("PdhOpenQuery: %w", err)
	}
	for _, p := range paths {
		path, err := windows.UTF16PtrFromString(p)
		if err != nil {
			q.close()
			return nil, err
		}
		var h uintptr
		if err := pdhCall(procPdhAddEnglishCounterW, q.query, uintptr(unsafe.Pointer(path)), 0, uintptr(unsafe.Pointer(&h))); err != nil {
			q.close()
			return nil, fmt.Errorf("PdhAddEnglishCounter %s: %w", p, err)
		}
		q.counters = append(q.counters, h)
	}
	return q, nil
}

// sample collects the query once and returns each counter's value as a
// whole number (PDH_FMT_LARGE): the counters read here are counts and
// microseconds. Wine's PDH_FMT_DOUBLE reinterprets an integer counter's
// bits as a double, which PDH_FMT_LARGE avoids.
func (q *pdhQuery) sample() ([]int64, error) {
	if err := pdhCall(procPdhCollectQueryData, q.query); err != nil {
		return nil, fmt.Errorf("PdhCollectQueryData: %w", err)
	}
	out := make([]int64, len(q.counters))
	for i, h := range q.counters {
		var v pdhFmtCounterValueLarge
		if err := pdhCall(procPdhGetFormattedCounterValue, h, pdhFmtLarge|pdhFmtNoCap100, 0, uintptr(unsafe.Pointer(&v))); err != nil {
			return nil, fmt.Errorf("PdhGetFormattedCounterValue: %w", err)
		}
		if v.cStatus != pdhCStatusValidData && v.cStatus != pdhCStatusNewData {
			return nil, fmt.Errorf("PdhGetFormattedCounterValue: counter status %w", pdhStatus(v.cStatus))
		}
		out[i] = v.value
	}
	return out, nil
}

func (q *pdhQuery) close() {
	if q.query != 0 {
		_ = pdhCall(procPdhCloseQuery, q.query)
		q.query = 0
	}
}
