package collector

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/exporter/redact"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

func init() { registerCollector("processes", true, newProcessesCollector) }

// otherGroup collects the processes of names beyond --collector.processes.max-groups.
const otherGroup = "other"

var (
	processesDesc    = prometheus.NewDesc("host_processes", "Processes by state.", []string{"state"}, nil)
	threadsDesc      = prometheus.NewDesc("host_process_threads", "Threads of all processes.", nil, nil)
	groupCPUDesc     = prometheus.NewDesc("host_process_group_cpu_seconds_total", "CPU seconds used by the processes of a name group since the exporter started watching them (processes new at start count in full); it never drops when processes exit.", []string{"group"}, nil)
	groupRSSDesc     = prometheus.NewDesc("host_process_group_resident_memory_bytes", "Resident memory of the processes of a name group.", []string{"group"}, nil)
	groupProcessDesc = prometheus.NewDesc("host_process_group_processes", "Processes in a name group.", []string{"group"}, nil)
)

// processReader lists every process in one pass: /proc on Linux, a single
// system snapshot on Windows. CPUPercent is left for the collector; Cmdline
// is raw (unredacted), or empty when command lines are off.
type processReader interface {
	Processes(ctx context.Context) ([]snapshot.Process, error)
}

type processesCollector struct {
	cfg    Config
	reader processReader

	// State carried between collections. The Set never runs two Updates of
	// one collector at once, so no lock is needed.
	lastAt   time.Time
	lastCPU  map[procKey]float64
	redacted map[procKey][2]string // raw → redacted command line
	groups   *groupTracker
}

// procKey tells a process apart from a later one that reuses its PID.
type procKey struct {
	pid   int32
	start int64
}

func newProcessesCollector(cfg Config) (Collector, error) {
	r, err := newProcessReader(cfg)
	if err != nil {
		return nil, err
	}
	return &processesCollector{
		cfg: cfg, reader: r,
		lastCPU: map[procKey]float64{}, redacted: map[procKey][2]string{},
		groups: newGroupTracker(cfg.ProcessMaxGroups),
	}, nil
}

type processesResult struct {
	procs   []snapshot.Process
	states  map[string]int
	threads int64
	groups  []processGroup
}

func (c *processesCollector) Update(ctx context.Context) (Result, error) {
	now := time.Now()
	procs, err := c.reader.Processes(ctx)
	if err != nil {
		return nil, fmt.Errorf("processes: %w", err)
	}
	wall := now.Sub(c.lastAt).Seconds()
	nextCPU := make(map[procKey]float64, len(procs))
	nextRedacted := make(map[procKey][2]string, len(procs))
	deltas := make([]float64, len(procs))
	r := &processesResult{procs: procs, states: map[string]int{}}
	for i := range procs {
		p := &procs[i]
		k := procKey{p.PID, p.StartedAt.UnixMilli()}
		nextCPU[k] = p.CPUSeconds
		prev, seen := c.lastCPU[k]
		switch {
		case !seen:
			// New since the last collection: all its CPU time is new too.
			deltas[i] = p.CPUSeconds
		case p.CPUSeconds >= prev:
			deltas[i] = p.CPUSeconds - prev
			if wall > 0 {
				p.CPUPercent = deltas[i] / wall * 100
			}
		}
		p.Cmdline = c.displayCmdline(k, p.Cmdline, nextRedacted)
		r.states[p.State]++
		r.threads += int64(p.Threads)
	}
	c.lastAt, c.lastCPU, c.redacted = now, nextCPU, nextRedacted
	r.groups = c.groups.update(procs, deltas, now)
	return r, nil
}

// displayCmdline turns the reader's command line (NUL-separated argv on
// Linux) into what the snapshot shows: redacted unless told otherwise, then
// cut to the configured length. Redaction comes first because it needs the
// whole line: a URL cut before its @ no longer shows where its password
// ends, and a cut through a mask only shortens the mask.
func (c *processesCollector) displayCmdline(k procKey, raw string, next map[procKey][2]string) string {
	switch {
	case !c.cfg.ProcessCmdline || raw == "":
		return ""
	case !c.cfg.ProcessRedact:
		return cutCmdline(strings.ReplaceAll(raw, "\x00", " "), c.cfg.ProcessCmdlineMax)
	}
	// A command line rarely changes, so the previous redaction is reused
	// while the raw line is the same (a few µs saved per process per scrape).
	cached, ok := c.redacted[k]
	if !ok || cached[0] != raw {
		cached = [2]string{raw, cutCmdline(redact.Cmdline(raw), c.cfg.ProcessCmdlineMax)}
	}
	next[k] = cached
	return cached[1]
}

// CmdlineCutMark ends a command line that was cut to
// Config.ProcessCmdlineMax.
const CmdlineCutMark = "…[truncated]"

// cutCmdline returns s when it is at most limit bytes long (or limit is
// 0), and otherwise its start followed by CmdlineCutMark, limit bytes in all. The
// cut falls between two characters, never inside one.
func cutCmdline(s string, limit int) string {
	if limit <= 0 || len(s) <= limit {
		return s
	}
	n := max(0, limit-len(CmdlineCutMark))
	// Step back over at most three continuation bytes to the start of the
	// character the cut would split. Bytes that are not UTF-8 at all (argv
	// holds whatever the process was given) may be cut anywhere: the JSON
	// encoder shows them as U+FFFD either way.
	for back := 0; back < utf8.UTFMax-1 && n > 0 && !utf8.RuneStart(s[n]); back++ {
		n--
	}
	return s[:n] + CmdlineCutMark
}

// groupIdleTTL frees the slot of a group none of whose processes has been
// seen for this long, so a host's slots follow what it runs now.
const groupIdleTTL = time.Hour

type processGroup struct {
	name       string
	cpuSeconds float64
	rss        uint64
	count      int
}

type groupState struct {
	cpuSeconds float64
	lastSeen   time.Time
}

// groupTracker keeps host_process_group_cpu_seconds_total a true counter:
// each group adds the CPU its processes used since the previous collection,
// so processes exiting never make it drop, and group membership is sticky
// (a name keeps its slot while it runs) so series do not flip between a
// name and "other". At most max-1 names get a slot; the rest, and any
// process literally named "other", are summed in "other".
type groupTracker struct {
	max    int
	named  map[string]*groupState
	others groupState
}

func newGroupTracker(maxGroups int) *groupTracker {
	return &groupTracker{max: max(maxGroups, 1), named: map[string]*groupState{}}
}

// groupName is the name a process is counted under.
func groupName(p *snapshot.Process) string {
	if kernelThread(p) {
		return "kernel"
	}
	return strings.TrimSuffix(p.Name, " (deleted)")
}

func (t *groupTracker) update(procs []snapshot.Process, deltas []float64, now time.Time) []processGroup {
	current := map[string]*processGroup{}
	cpuNow := map[string]float64{}
	for i := range procs {
		name := groupName(&procs[i])
		g := current[name]
		if g == nil {
			g = &processGroup{name: name}
			current[name] = g
		}
		g.rss += procs[i].RSSBytes
		g.count++
		cpuNow[name] += deltas[i]
	}
	// Give free slots to the busiest new names first.
	names := make([]string, 0, len(current))
	for n := range current {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(cmp.Compare(cpuNow[b], cpuNow[a]), cmp.Compare(current[b].rss, current[a].rss), cmp.Compare(a, b))
	})
	other := processGroup{name: otherGroup}
	for _, n := range names {
		st, ok := t.named[n]
		if !ok && n != otherGroup && len(t.named) < t.max-1 {
			st = &groupState{}
			t.named[n] = st
			ok = true
		}
		if !ok {
			t.others.cpuSeconds += cpuNow[n]
			other.rss += current[n].rss
			other.count += current[n].count
			continue
		}
		st.cpuSeconds += cpuNow[n]
		st.lastSeen = now
	}
	out := make([]processGroup, 0, len(t.named)+1)
	for n, st := range t.named {
		if now.Sub(st.lastSeen) > groupIdleTTL {
			delete(t.named, n)
			continue
		}
		g := processGroup{name: n, cpuSeconds: st.cpuSeconds}
		if cur := current[n]; cur != nil {
			g.rss, g.count = cur.rss, cur.count
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b processGroup) int { return cmp.Compare(a.name, b.name) })
	if len(t.named) >= t.max-1 || t.others.cpuSeconds > 0 || other.count > 0 {
		other.cpuSeconds = t.others.cpuSeconds
		out = append(out, other)
	}
	return out
}

func (r *processesResult) Fill(s *snapshot.Snapshot) { s.Processes = r.procs }

func (r *processesResult) Emit(ch chan<- prometheus.Metric) {
	for _, state := range slices.Sorted(maps.Keys(r.states)) {
		ch <- prometheus.MustNewConstMetric(processesDesc, prometheus.GaugeValue, float64(r.states[state]), state)
	}
	ch <- prometheus.MustNewConstMetric(threadsDesc, prometheus.GaugeValue, float64(r.threads))
	for _, g := range r.groups {
		ch <- prometheus.MustNewConstMetric(groupCPUDesc, prometheus.CounterValue, g.cpuSeconds, labelValue(g.name))
		ch <- prometheus.MustNewConstMetric(groupRSSDesc, prometheus.GaugeValue, float64(g.rss), labelValue(g.name))
		ch <- prometheus.MustNewConstMetric(groupProcessDesc, prometheus.GaugeValue, float64(g.count), labelValue(g.name))
	}
}
