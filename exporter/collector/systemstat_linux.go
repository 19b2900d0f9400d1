package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/shirou/gopsutil/v4/cpu"
)

// systemStat is what the collectors use of <proc>/stat, the kernel's system
// statistics (not the per-process <proc>/PID/stat of procStat).
type systemStat struct {
	cpus []cpu.TimesStat // one per CPU, as listed; shared, never modified
	boot time.Time       // zero when stat has no btime line
}

type systemStatKey struct{ proc string }

// readSystemStat reads <proc>/stat once per collection, however many
// collectors ask: the cpu collector for CPU times, the host and processes
// collectors for boot time. It is one small file, cheap enough to read at
// every collection, so a clock step shows in boot time at once; unlike
// gopsutil's container path (now minus uptime) boot time does not jitter.
func readSystemStat(ctx context.Context, proc string) (*systemStat, error) {
	return shared(ctx, systemStatKey{proc}, func() (*systemStat, error) {
		b, err := os.ReadFile(filepath.Join(proc, "stat"))
		if err != nil {
			return nil, err
		}
		return parseSystemStat(b)
	})
}

// readBootTime is btime from <proc>/stat.
func readBootTime(ctx context.Context, proc string) (time.Time, error) {
	st, err := readSystemStat(ctx, proc)
	if err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	if st.boot.IsZero() {
		return time.Time{}, errors.New("boot time: no btime line in stat")
	}
	return st.boot, nil
}

// parseSystemStat reads the cpuN and btime lines. CPU lines are parsed as
// gopsutil's cpu.Times does, whose figures the cpu collector published
// before: the counters after the name in order, those missing (older
// kernels) as zero, in units of cpu.ClocksPerSec; an unreadable CPU line is
// left out.
func parseSystemStat(b []byte) (*systemStat, error) {
	st := &systemStat{}
	for line := range bytes.Lines(b) {
		switch {
		case len(line) > 3 && bytes.HasPrefix(line, []byte("cpu")) && '0' <= line[3] && line[3] <= '9':
			if t, ok := parseCPULine(line); ok {
				st.cpus = append(st.cpus, t)
			}
		case bytes.HasPrefix(line, []byte("btime ")):
			v := bytes.TrimSpace(line[len("btime "):])
			secs, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("btime %q: %w", v, err)
			}
			st.boot = time.Unix(secs, 0).UTC()
		}
	}
	return st, nil
}

func parseCPULine(line []byte) (cpu.TimesStat, bool) {
	name, rest, _ := bytes.Cut(line, []byte{' '})
	t := cpu.TimesStat{CPU: string(name)}
	counters := [...]*float64{&t.User, &t.Nice, &t.System, &t.Idle, &t.Iowait, &t.Irq, &t.Softirq, &t.Steal, &t.Guest, &t.GuestNice}
	n := 0
	for tok := range bytes.FieldsSeq(rest) {
		if n == len(counters) {
			break
		}
		v, err := strconv.ParseUint(string(tok), 10, 64)
		if err != nil {
			return cpu.TimesStat{}, false
		}
		*counters[n] = float64(v) / cpu.ClocksPerSec
		n++
	}
	// The seven counters present since Linux 2.6 are required.
	return t, n >= 7
}
