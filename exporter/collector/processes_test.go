package collector

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func groupsString(gs []processGroup) string { return fmt.Sprint(gs) }

func TestGroupTracker(t *testing.T) {
	type proc struct {
		name  string
		rss   uint64
		delta float64 // CPU seconds since the previous collection
		rate  float64 // CPUs over the window
	}
	steps := []struct {
		name  string
		procs []proc
		want  string
	}{
		{"first collection: busiest names get the two slots, the literal other is folded",
			[]proc{{"java", 1000, 100, 0.5}, {"java", 500, 50, 0.2}, {"nginx", 10, 20, 0.3}, {"other", 1, 30, 0.9}, {"sshd", 5, 1, 0.01}},
			"[{java 150 1500 2} {nginx 20 10 1} {other 31 6 2}]"},
		{"one java exits: its counter keeps what it had and grows by the survivor's delta",
			[]proc{{"java", 1000, 2, 0.5}, {"nginx", 10, 1, 0.3}, {"sshd", 5, 1, 0.01}},
			"[{java 152 1000 1} {nginx 21 10 1} {other 32 5 1}]"},
		{"a busy newcomer must out-use the least busy holder twice in a row: first time it waits in other",
			[]proc{{"java", 1000, 0, 0.5}, {"nginx", 10, 1, 0.3}, {"postgres", 99, 500, 0.9}},
			"[{java 152 1000 1} {nginx 22 10 1} {other 532 99 1}]"},
		{"second time it displaces nginx, whose series goes",
			[]proc{{"java", 1000, 0, 0.5}, {"nginx", 10, 1, 0.3}, {"postgres", 99, 5, 0.9}},
			"[{java 152 1000 1} {postgres 5 99 1} {other 533 10 1}]"},
		{"nginx, now busier than java but not by the margin, does not take its slot back",
			[]proc{{"java", 1000, 1, 0.5}, {"nginx", 10, 1, 0.7}, {"postgres", 99, 5, 0.9}},
			"[{java 153 1000 1} {postgres 10 99 1} {other 534 10 1}]"},
		{"nor a second time: top names do not flap",
			[]proc{{"java", 1000, 1, 0.5}, {"nginx", 10, 1, 0.7}, {"postgres", 99, 5, 0.9}},
			"[{java 154 1000 1} {postgres 15 99 1} {other 535 10 1}]"},
		{"java exits: its slot is free at once and nginx takes it, its counter starting afresh",
			[]proc{{"nginx", 10, 1, 0.7}, {"postgres", 99, 5, 0.9}},
			"[{nginx 1 10 1} {postgres 20 99 1} {other 535 0 0}]"},
		{"a newcomer that out-uses the holder only once in two collections never gets in",
			[]proc{{"nginx", 10, 1, 0.7}, {"postgres", 99, 5, 0.9}, {"cc1", 50, 1, 2}},
			"[{nginx 2 10 1} {postgres 25 99 1} {other 536 50 1}]"},
		{"(quiet collection)",
			[]proc{{"nginx", 10, 1, 0.7}, {"postgres", 99, 5, 0.9}, {"cc1", 50, 0, 0.5}},
			"[{nginx 3 10 1} {postgres 30 99 1} {other 536 50 1}]"},
		{"(busy again: the count starts over)",
			[]proc{{"nginx", 10, 1, 0.7}, {"postgres", 99, 5, 0.9}, {"cc1", 50, 1, 2}},
			"[{nginx 4 10 1} {postgres 35 99 1} {other 537 50 1}]"},
		{"everything exits: every slot is freed, other keeps its count",
			nil,
			"[{other 537 0 0}]"},
	}
	tr := newGroupTracker(3)
	for _, st := range steps {
		var procs []snapshot.Process
		var deltas, rates []float64
		for _, p := range st.procs {
			procs = append(procs, snapshot.Process{Name: p.name, RSSBytes: p.rss})
			deltas = append(deltas, p.delta)
			rates = append(rates, p.rate)
		}
		got := groupsString(tr.update(procs, deltas, rates))
		if got != st.want {
			t.Fatalf("%s:\n got %s\nwant %s", st.name, got, st.want)
		}
	}
}

// Forty one-shot commands that ran once must not keep a busy newcomer out.
func TestGroupTrackerFreesExitedNames(t *testing.T) {
	tr := newGroupTracker(30)
	var procs []snapshot.Process
	for i := range 40 {
		procs = append(procs, snapshot.Process{Name: fmt.Sprintf("oneshot%02d", i)})
	}
	zeros := make([]float64, len(procs))
	if groups := tr.update(procs, zeros, zeros); len(groups) != 30 {
		t.Fatalf("%d groups, want every slot taken: %v", len(groups), groups)
	}
	groups := tr.update([]snapshot.Process{{Name: "busy"}}, []float64{1}, []float64{1})
	if got := groupsString(groups); got != "[{busy 1 0 1}]" {
		t.Fatalf("after the one-shots exited: %s", got)
	}
}

func TestGroupTrackerCountersNeverDrop(t *testing.T) {
	tr := newGroupTracker(4)
	last := map[string]float64{}
	names := []string{"a", "b", "c", "d", "e", "f"}
	for i := range 200 {
		var procs []snapshot.Process
		var deltas, rates []float64
		for j, n := range names {
			if (i+j)%3 == 0 { // processes come and go
				continue
			}
			procs = append(procs, snapshot.Process{Name: n})
			deltas = append(deltas, float64(j))
			rates = append(rates, float64((i*7+j*3)%5)) // busy ones change
		}
		groups := tr.update(procs, deltas, rates)
		if len(groups) > 4 {
			t.Fatalf("collection %d: %d groups exceed the bound 4", i, len(groups))
		}
		present := map[string]bool{}
		for _, g := range groups {
			present[g.name] = true
			if g.cpuSeconds < last[g.name] {
				t.Fatalf("collection %d: group %s dropped from %v to %v", i, g.name, last[g.name], g.cpuSeconds)
			}
			last[g.name] = g.cpuSeconds
		}
		// A series that went away may come back from zero (a new series).
		for n := range last {
			if !present[n] {
				delete(last, n)
			}
		}
	}
}

func TestCutCmdline(t *testing.T) {
	long := strings.Repeat("x", 100)
	for _, tt := range []struct {
		name  string
		in    string
		limit int
		want  string
	}{
		{"short", "sleep 30", 64, "sleep 30"},
		{"exactly the limit", long[:64], 64, long[:64]},
		{"no cap", long, 0, long},
		{"ascii", long, 64, long[:64-len(CmdlineCutMark)] + CmdlineCutMark},
		{"cut inside é steps back", "ab" + strings.Repeat("é", 40), 33, "ab" + strings.Repeat("é", 8) + CmdlineCutMark},
	} {
		if got := cutCmdline(tt.in, tt.limit); got != tt.want {
			t.Errorf("%s: cutCmdline(%q, %d) = %q, want %q", tt.name, tt.in, tt.limit, got, tt.want)
		}
	}
	// Every cut point through characters of every width: the result is
	// valid UTF-8, within the limit, a prefix of the input plus the mark,
	// and loses no more than the split character.
	in := strings.Repeat("aé€🙂", 30)
	for limit := len(CmdlineCutMark); limit < len(in); limit++ {
		got := cutCmdline(in, limit)
		kept, ok := strings.CutSuffix(got, CmdlineCutMark)
		if !ok || !utf8.ValidString(got) || len(got) > limit || len(got) < limit-(utf8.UTFMax-1) || !strings.HasPrefix(in, kept) {
			t.Fatalf("cutCmdline(…, %d) = %q (%d bytes)", limit, got, len(got))
		}
	}
	// argv that is not UTF-8 is still cut within the limit.
	if got := cutCmdline(strings.Repeat("\x80", 100), 64); len(got) > 64 || !strings.HasSuffix(got, CmdlineCutMark) {
		t.Errorf("invalid UTF-8: %q", got)
	}
}

// TestCmdlineRedactedBeforeCut checks the order: a password that straddles
// the cut must not show its first half.
func TestCmdlineRedactedBeforeCut(t *testing.T) {
	const secret = "Zq9xK2vLw7Pf3Hm8Rt1Y"
	raw := strings.Join([]string{"worker", "--dsn", "postgres://bob:" + secret + "@db:5432/app", "--verbose"}, "\x00")
	for limit := 30; limit <= 80; limit++ {
		cfg := DefaultConfig()
		cfg.ProcessCmdlineMax = limit
		c := &processesCollector{cfg: cfg, redacted: map[procKey][2]string{}}
		got := c.displayCmdline(procKey{pid: 1}, raw, map[procKey][2]string{})
		if strings.Contains(got, secret[:3]) || len(got) > limit {
			t.Fatalf("limit %d: %q", limit, got)
		}
	}
	// Without redaction the cap still applies.
	cfg := DefaultConfig()
	cfg.ProcessRedact, cfg.ProcessCmdlineMax = false, 40
	c := &processesCollector{cfg: cfg, redacted: map[procKey][2]string{}}
	if got := c.displayCmdline(procKey{pid: 1}, raw, map[procKey][2]string{}); len(got) != 40 || !strings.HasSuffix(got, CmdlineCutMark) {
		t.Errorf("unredacted: %q", got)
	}
}
