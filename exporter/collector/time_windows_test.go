package collector

import (
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestTimeCollectorSeries: what the collector serves for each thing the
// service manager and the counters may say, and that no failure to read
// them fails the collection.
func TestTimeCollectorSeries(t *testing.T) {
	broken := errors.New("access denied")
	for _, tc := range []struct {
		name           string
		svc            w32timeService
		svcErr         error
		cnt            w32timeCounters
		cntErr         error
		synced, offset int // series expected
		wantSynced     float64
	}{
		{"synced", w32timeRunning, nil, w32timeCounters{ok: true, offsetMicros: 800, sources: 1}, nil, 1, 1, 1},
		{"no source", w32timeRunning, nil, w32timeCounters{ok: true, sources: 0}, nil, 1, 0, 0},
		{"stopped", w32timeNotRunning, nil, w32timeCounters{}, nil, 1, 0, 0},
		{"no counters", w32timeRunning, nil, w32timeCounters{}, pdhStatus(0xC0000BB8), 0, 0, 0},
		{"no service", w32timeAbsent, nil, w32timeCounters{}, nil, 0, 0, 0},
		{"manager refused, no counters", w32timeUnknown, broken, w32timeCounters{}, broken, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read := false
			c := &timeCollector{
				log:     slog.New(slog.DiscardHandler),
				logged:  map[string]string{},
				service: func() (w32timeService, error) { return tc.svc, tc.svcErr },
				counters: func() (w32timeCounters, error) {
					read = true
					return tc.cnt, tc.cntErr
				},
			}
			res, err := c.Update(context.Background())
			if err != nil {
				t.Fatalf("Update failed: %v", err)
			}
			if want := tc.svc == w32timeRunning || tc.svc == w32timeUnknown; read != want {
				t.Errorf("counters read %v, want %v", read, want)
			}
			coll := &Collection{Results: []Result{res}}
			if n := testutil.CollectAndCount(coll, "host_time_synced"); n != tc.synced {
				t.Errorf("%d host_time_synced series, want %d", n, tc.synced)
			}
			if n := testutil.CollectAndCount(coll, "host_time_offset_seconds"); n != tc.offset {
				t.Errorf("%d host_time_offset_seconds series, want %d", n, tc.offset)
			}
			if tc.synced == 1 {
				if v := testutil.ToFloat64(&Collection{Results: []Result{res.(metricList)[:1]}}); v != tc.wantSynced {
					t.Errorf("host_time_synced = %v, want %v", v, tc.wantSynced)
				}
			}
		})
	}
}

// TestW32TimeCall makes the real calls: the service manager's answer and
// the PDH query must not fail the collection whatever this host has (Wine
// has neither the W32Time service nor its counters), and an offset is only
// ever served with a synchronised clock.
func TestW32TimeCall(t *testing.T) {
	svc, err := w32timeServiceState()
	t.Logf("W32Time service: state %d, err %v", svc, err)
	c, err := newTimeCollector(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	tc := c.(*timeCollector)
	cnt, cntErr := tc.readCounters()
	t.Logf("counters: %+v, err %v", cnt, cntErr)
	if cntErr != nil {
		// A failed open is not retried on the next scrape.
		if _, err := tc.readCounters(); err == nil || tc.query != nil {
			t.Errorf("counters reopened at once after %v", cntErr)
		}
	}
	for i := 0; i < 2; i++ {
		res, err := c.Update(context.Background())
		if err != nil {
			t.Fatalf("Update failed: %v", err)
		}
		coll := &Collection{Results: []Result{res}}
		synced := testutil.CollectAndCount(coll, "host_time_synced")
		offset := testutil.CollectAndCount(coll, "host_time_offset_seconds")
		t.Logf("scrape %d: %d host_time_synced, %d host_time_offset_seconds series", i, synced, offset)
		if offset == 1 && (synced != 1 || testutil.ToFloat64(&Collection{Results: []Result{res.(metricList)[:1]}}) != 1) {
			t.Errorf("an offset without a synchronised clock")
		}
	}
}

// TestPDHQuery checks the PDH binding against a counter every Windows (and
// Wine) has: the system's uptime, which one sample gives.
func TestPDHQuery(t *testing.T) {
	q, err := openPDHQuery(`\System\System Up Time`)
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	for i := 0; i < 2; i++ {
		v, err := q.sample()
		if err != nil {
			t.Fatal(err)
		}
		if len(v) != 1 || v[0] <= 0 {
			t.Fatalf("System Up Time %v, want one positive value", v)
		}
		t.Logf("System Up Time %d s", v[0])
	}
	if _, err := openPDHQuery(`\No Such Object\No Such Counter`); err == nil {
		t.Error("a query of a missing counter opened")
	}
}
