package collector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// copyFixtureProc copies testdata/root/proc's process table, stat and
// loadavg into a temporary directory a test may rewrite.
func copyFixtureProc(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	src := "testdata/root/proc"
	for _, f := range []string{"stat", "loadavg", "1/stat", "1/status", "1/cmdline", "4242/stat", "4242/status", "4242/cmdline"} {
		b, err := os.ReadFile(filepath.Join(src, f))
		if err != nil {
			t.Fatal(err)
		}
		writeProcFile(t, dst, f, string(b))
	}
	return dst
}

func writeProcFile(t *testing.T, proc, name, data string) {
	t.Helper()
	p := filepath.Join(proc, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// setBtime rewrites the btime line of <proc>/stat, as the kernel does when
// the wall clock is stepped.
func setBtime(t *testing.T, proc, btime string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(proc, "stat"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "btime ") {
			line = "btime " + btime
		}
		out = append(out, line)
	}
	writeProcFile(t, proc, "stat", strings.Join(out, "\n"))
}

// A clock step moves btime, and with it every start time shown; it must not
// make every process look new: the group counters would add each
// process's whole CPU time again and cpu_percent would restart.
func TestProcessIdentitySurvivesClockStep(t *testing.T) {
	proc := copyFixtureProc(t)
	cfg := fixtureConfig(t)
	cfg.ProcPath = proc
	c, err := newProcessesCollector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	pc := c.(*processesCollector)
	ctx := context.Background()
	if _, err := pc.Update(ctx); err != nil {
		t.Fatal(err)
	}
	before := groupCPU(t, pc, "my (odd) app")

	// The process runs one more CPU second (utime 250 → 350 ticks) while
	// NTP steps the clock an hour forward.
	setBtime(t, proc, "1700003600")
	writeProcFile(t, proc, "4242/stat", "4242 (my (odd) app) R 1 4242 4242 0 -1 4194560 500 0 0 0 350 50 0 0 20 0 4 0 5000 500000000 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0")
	res, err := pc.Update(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := groupCPU(t, pc, "my (odd) app") - before; got != 1 {
		t.Errorf("group counter grew %v CPU seconds over the step, want the 1 the process used", got)
	}
	for _, p := range res.(*processesResult).procs {
		if p.PID != 4242 {
			continue
		}
		// Shown start times follow the clock: btime plus 5000 ticks.
		if want := time.Unix(1700003600+50, 0).UTC(); !p.StartedAt.Equal(want) {
			t.Errorf("started_at = %v, want %v", p.StartedAt, want)
		}
		// Measured from the kept reading, one CPU second in a moment is
		// far above 1%; measured over its life (years, by the fixture's
		// btime) it would be far below.
		if p.CPUPercent < 1 {
			t.Errorf("cpu_percent = %v after the step, want measured from the kept reading", p.CPUPercent)
		}
	}
}

func groupCPU(t *testing.T, c *processesCollector, name string) float64 {
	t.Helper()
	cpu, ok := c.groups.named[name]
	if !ok {
		t.Fatalf("no group %q among %v", name, c.groups.named)
	}
	return cpu
}
