package collector

import (
	"testing"
	"time"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func TestSampleRingBaseline(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	r := newSampleRing[int](5 * time.Second)
	if got := r.since(at(0)); len(got) != 0 {
		t.Fatalf("empty ring gave %v", got)
	}
	r.add(at(0), 0) // the reading taken at start-up
	steps := []struct {
		ms       int
		baseline int // value of the reading measured against
	}{
		{20, 0},       // 20 ms after start: the only reading there is
		{40, 0},       // 20 ms later again: still measured from start, not from 20 ms
		{1000, 0},     // not yet 5 s: the oldest reading
		{5100, 0},     // start is now the newest reading ≥ 5 s old; 5100 is kept
		{6100, 0},     // 5100 is too young; 6100 is too close to 5100 (< 5 s / 4) to keep
		{6120, 0},     // two requests 20 ms apart share a baseline
		{10200, 5100}, // kept
		{10220, 5100},
		{60000, 10200}, // after a long pause: the last kept reading, older than the window
		{60010, 10200}, // 60000 is only 10 ms old: still the reading before it
	}
	for _, st := range steps {
		kept := r.since(at(st.ms))
		if len(kept) == 0 || kept[0].v != st.baseline {
			t.Fatalf("at %d ms: baseline %v, want the reading of %d ms", st.ms, kept, st.baseline)
		}
		if age := at(st.ms).Sub(kept[0].at); st.ms >= 5000 && age < 5*time.Second {
			t.Fatalf("at %d ms: baseline only %v old", st.ms, age)
		}
		r.add(at(st.ms), st.ms)
	}
}

// However often it is scraped, the ring stays small.
func TestSampleRingBounded(t *testing.T) {
	r := newSampleRing[int](5 * time.Second)
	t0 := time.Unix(0, 0)
	for i := range 100_000 { // a request every millisecond for 100 s
		r.add(t0.Add(time.Duration(i)*time.Millisecond), i)
		if n := len(r.samples); n > windowSpacing+2 {
			t.Fatalf("after %d readings the ring holds %d", i+1, n)
		}
	}
}

func TestWindowPercent(t *testing.T) {
	now := time.Unix(1_700_000_100, 0)
	kept := []sample[map[procKey]float64]{
		{now.Add(-10 * time.Second), map[procKey]float64{{1, 0}: 10}},
		{now.Add(-4 * time.Second), map[procKey]float64{{1, 0}: 18, {2, 0}: 1}},
	}
	for _, tt := range []struct {
		name string
		k    procKey
		p    snapshot.Process
		want float64
	}{
		{"from the baseline", procKey{1, 0}, snapshot.Process{CPUSeconds: 15}, 50},
		{"started after the baseline: from the first reading that has it", procKey{2, 0}, snapshot.Process{CPUSeconds: 3}, 50},
		{"seen by none: over its life", procKey{3, 0}, snapshot.Process{CPUSeconds: 1, StartedAt: now.Add(-2 * time.Second)}, 50},
		{"counter went backwards", procKey{1, 0}, snapshot.Process{CPUSeconds: 5}, 0},
	} {
		if got := windowPercent(&tt.p, tt.k, kept, now); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
}
