package api

import (
	"fmt"
	"net/url"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
)

// dayFields reads ?fields= of the day query. "scraped_at" answers each
// snapshot as {"scraped_at":…} only: a time picker lists a day's moments
// without downloading 100 KB per snapshot. Absent means whole lines.
func dayFields(v url.Values) (timesOnly bool, err error) {
	vals, ok := v["fields"]
	if !ok {
		return false, nil
	}
	if len(vals) != 1 || vals[0] != "scraped_at" {
		return false, fmt.Errorf("invalid fields %q: the only one supported is scraped_at", truncate(vals[0]))
	}
	return true, nil
}

// appendTimeOnly appends the scraped_at-only object of a stored line, or
// reports false for a line without a readable time.
func appendTimeOnly(dst, line []byte) ([]byte, bool) {
	t, ok := store.LineTime(line)
	if !ok {
		return dst, false
	}
	dst = append(dst, `{"scraped_at":"`...)
	dst = t.UTC().AppendFormat(dst, time.RFC3339Nano)
	return append(dst, `"}`...), true
}
