package collector

import "time"

// DefaultCPUMinWindow is the default of --collector.cpu.min-window.
const DefaultCPUMinWindow = 5 * time.Second

// windowSpacing divides the window: readings are kept at most this many per
// window, so the history stays small however often the exporter is scraped
// (each per-process reading holds every process), and a baseline is
// never more than window/windowSpacing older than needed while scrapes
// come often.
const windowSpacing = 4

// sampleRing keeps a few past readings so a rate can be taken over at least
// a minimum window whatever the scrape pattern, without a background loop:
// each collection measures against the newest kept reading that is at
// least the window old, or the oldest one while none is that old yet (just
// after start). Readings are taken only when someone collects.
type sampleRing[T any] struct {
	window  time.Duration
	samples []sample[T] // oldest first
}

type sample[T any] struct {
	at time.Time
	v  T
}

func newSampleRing[T any](window time.Duration) *sampleRing[T] {
	return &sampleRing[T]{window: max(window, 0)}
}

// since returns the kept readings from the baseline for now onwards, oldest
// first; it is empty before the first add.
func (r *sampleRing[T]) since(now time.Time) []sample[T] {
	return r.samples[r.baselineIndex(now):]
}

// baselineIndex is the newest reading at least the window old, or 0.
func (r *sampleRing[T]) baselineIndex(now time.Time) int {
	b := 0
	for i, s := range r.samples {
		if now.Sub(s.at) >= r.window {
			b = i
		}
	}
	return b
}

// add records a reading taken at now. Readings older than the baseline
// are no longer needed and are dropped; a reading closer than
// window/windowSpacing to the newest kept one is not kept, which bounds the
// ring at about windowSpacing+2 readings.
func (r *sampleRing[T]) add(now time.Time, v T) {
	if b := r.baselineIndex(now); b > 0 {
		n := copy(r.samples, r.samples[b:])
		clear(r.samples[n:]) // let dropped readings be collected
		r.samples = r.samples[:n]
	}
	if n := len(r.samples); n > 0 && now.Sub(r.samples[n-1].at) < r.window/windowSpacing {
		return
	}
	r.samples = append(r.samples, sample[T]{now, v})
}
