package main

import (
	"hash/fnv"
	"math"
	"slices"
	"time"
)

// relativeLags estimates schedule lag from when requests reached one agent,
// without knowing the archiver's schedule: each agent's requests should
// share one phase modulo the interval, so the earliest of them stands for
// the phase and the others' distance from it is lag. It is a lower bound
// (a constant delay is invisible) but it catches jitter and starvation.
func relativeLags(arrivals []time.Time, interval time.Duration) []time.Duration {
	if len(arrivals) == 0 {
		return nil
	}
	p := int64(interval)
	ref := arrivals[0].UnixNano() % p
	d := make([]int64, len(arrivals))
	lowest := int64(math.MaxInt64)
	for i, a := range arrivals {
		// Distance from the first arrival's phase, folded into [-p/2, p/2).
		x := ((a.UnixNano()%p-ref)%p + p + p/2) % p
		d[i] = x - p/2
		lowest = min(lowest, d[i])
	}
	out := make([]time.Duration, len(d))
	for i := range d {
		out[i] = time.Duration(d[i] - lowest)
	}
	return out
}

// phaseLags measures lag against the slots the archiver's scrape package
// plans today (phase = FNV-1a of the target mod interval, on the wall-clock
// grid). It is exact while that stays the archiver's rule; relativeLags is
// the check that does not depend on it.
func phaseLags(target string, arrivals []time.Time, interval time.Duration) []time.Duration {
	h := fnv.New64a()
	h.Write([]byte(target))
	phase := int64(h.Sum64() % uint64(interval))
	p := int64(interval)
	out := make([]time.Duration, len(arrivals))
	for i, a := range arrivals {
		out[i] = time.Duration(((a.UnixNano()-phase)%p + p) % p)
	}
	return out
}

// percentile returns the q-quantile (0..1) of ds by nearest rank; ds is sorted.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[max(0, min(i, len(ds)-1))]
}

func sortDurations(ds []time.Duration) { slices.Sort(ds) }
