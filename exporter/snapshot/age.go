package snapshot

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"
)

// AgeHeader carries, with a pushed snapshot, how long ago the agent
// collected it, in seconds, measured on the agent's own clock when it
// sends. The archiver files the snapshot at its arrival minus this age, on
// its own clock: a snapshot replayed from the spool after an outage lands
// where it was taken, not where the outage ended, and the agent's clock
// offset cancels out (it is on both ends of the age). Archivers that do not
// know it ignore it, as any HTTP server ignores an unknown header.
const AgeHeader = "Prexmon-Snapshot-Age"

// maxAge bounds what FormatAge writes and ParseAge accepts: a week, far
// past any spool (--push.spool.max-bytes holds about a week).
const maxAge = 7 * 24 * time.Hour

// SetAge sets AgeHeader on h for a snapshot collected at collected, now.
// A clock stepped back since (negative age) counts as just collected.
func SetAge(h http.Header, collected, now time.Time) {
	age := min(max(now.Sub(collected), 0), maxAge)
	h.Set(AgeHeader, strconv.FormatFloat(age.Seconds(), 'f', 3, 64))
}

// ParseAge reads AgeHeader from h; ok is false when there is none.
func ParseAge(h http.Header) (age time.Duration, ok bool, err error) {
	v := h.Get(AgeHeader)
	if v == "" {
		return 0, false, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || f < 0 || f > maxAge.Seconds() {
		return 0, false, fmt.Errorf("%s: %q is not a number of seconds from 0 to %v", AgeHeader, v, maxAge.Seconds())
	}
	return time.Duration(f * float64(time.Second)), true, nil
}

// CollectedAt reads the top-level collected_at of an encoded snapshot. It
// stops there: the agent writes it second, after schema_version.
func CollectedAt(plain []byte) (time.Time, bool) {
	dec := json.NewDecoder(bytes.NewReader(plain))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return time.Time{}, false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return time.Time{}, false
		}
		if tok != "collected_at" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return time.Time{}, false
			}
			continue
		}
		var t time.Time
		if err := dec.Decode(&t); err != nil || t.IsZero() {
			return time.Time{}, false
		}
		return t, true
	}
	return time.Time{}, false
}
