package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func groupsString(gs []processGroup) string { return fmt.Sprint(gs) }

func TestGroupTracker(t *testing.T) {
	proc := func(name string, rss uint64) snapshot.Process { return snapshot.Process{Name: name, RSSBytes: rss} }
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		name   string
		at     time.Time
		procs  []snapshot.Process
		deltas []float64
		want   string
	}{
		{"first collection: busiest names get the two slots, the literal other is folded",
			t0,
			[]snapshot.Process{proc("java", 1000), proc("java", 500), proc("nginx", 10), proc("other", 1), proc("sshd", 5)},
			[]float64{100, 50, 20, 30, 1},
			"[{java 150 1500 2} {nginx 20 10 1} {other 31 6 2}]"},
		{"one java exits: its counter keeps what it had and grows by the survivor's delta",
			t0.Add(time.Minute),
			[]snapshot.Process{proc("java", 1000), proc("nginx", 10), proc("sshd", 5)},
			[]float64{2, 1, 1},
			"[{java 152 1000 1} {nginx 21 10 1} {other 32 5 1}]"},
		{"a new busy name cannot take a slot while both are held: it goes to other",
			t0.Add(2 * time.Minute),
			[]snapshot.Process{proc("java", 1000), proc("postgres", 99)},
			[]float64{0, 500},
			"[{java 152 1000 1} {nginx 21 0 0} {other 532 99 1}]"},
		{"after an hour without nginx its slot is freed and postgres takes it",
			t0.Add(2*time.Minute + groupIdleTTL + time.Second),
			[]snapshot.Process{proc("java", 1000), proc("postgres", 99)},
			[]float64{0, 5},
			"[{java 152 1000 1} {other 537 99 1}]"},
		{"the next collection hands the free slot to postgres",
			t0.Add(3*time.Minute + groupIdleTTL),
			[]snapshot.Process{proc("java", 1000), proc("postgres", 99)},
			[]float64{0, 5},
			"[{java 152 1000 1} {postgres 5 99 1} {other 537 0 0}]"},
	}
	tr := newGroupTracker(3)
	for _, st := range steps {
		got := groupsString(tr.update(st.procs, st.deltas, st.at))
		if got != st.want {
			t.Fatalf("%s:\n got %s\nwant %s", st.name, got, st.want)
		}
	}
}

func TestGroupTrackerCountersNeverDrop(t *testing.T) {
	tr := newGroupTracker(4)
	last := map[string]float64{}
	names := []string{"a", "b", "c", "d", "e", "f"}
	for i := range 50 {
		var procs []snapshot.Process
		var deltas []float64
		for j, n := range names {
			if (i+j)%3 == 0 { // processes come and go
				continue
			}
			procs = append(procs, snapshot.Process{Name: n})
			deltas = append(deltas, float64(j))
		}
		groups := tr.update(procs, deltas, time.Unix(int64(i), 0))
		if len(groups) > 4 {
			t.Fatalf("collection %d: %d groups exceed the bound 4", i, len(groups))
		}
		for _, g := range groups {
			if g.cpuSeconds < last[g.name] {
				t.Fatalf("collection %d: group %s dropped from %v to %v", i, g.name, last[g.name], g.cpuSeconds)
			}
			last[g.name] = g.cpuSeconds
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
