package collector

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// readBootTime reads btime from <proc>/stat: one small file, cheap enough to
// read at every collection, so a clock step shows at once. Unlike
// gopsutil's container path (now minus uptime) it does not jitter.
func readBootTime(proc string) (time.Time, error) {
	b, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	return parseBootTime(b)
}

func parseBootTime(stat []byte) (time.Time, error) {
	for line := range bytes.Lines(stat) {
		if v, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			secs, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("boot time: btime %q: %w", bytes.TrimSpace(v), err)
			}
			return time.Unix(secs, 0).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("boot time: no btime line in stat")
}
