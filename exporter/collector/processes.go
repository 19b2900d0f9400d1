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
	readErrorsDesc   = prometheus.NewDesc("host_process_read_errors_total", "Processes left out of a collection because they could not be read (not counting those that exited meanwhile).", nil, nil)
)

// processReader lists every process in one pass: /proc on Linux, a single
// system snapshot on Windows. CPUPercent is left for the collector; Cmdline
// is raw (unredacted), or empty when command lines are off. A process that
// cannot be read is left out and counted in skipped, rather than failing
// the whole list; one that exits while being read is left out uncounted.
type processReader interface {
	Processes(ctx context.Context) (procs []snapshot.Process, skipped int, err error)
}

// keyedReader is a processReader whose start times are no identity, so it
// keys its processes itself (keys[i] is procs[i]'s). Linux shows a start
// time as boot time plus clock ticks since boot, and boot time (btime)
// moves whenever the wall clock is stepped: keyed on the sum, every process
// would look new after an NTP step. Windows and macOS stamp a process's
// creation time once, when it starts, so a step leaves it alone.
type keyedReader interface {
	keyedProcesses(ctx context.Context) (procs []snapshot.Process, keys []procKey, skipped int, err error)
}

// readProcesses lists the processes with their keys.
func readProcesses(ctx context.Context, r processReader) ([]snapshot.Process, []procKey, int, error) {
	if kr, ok := r.(keyedReader); ok {
		return kr.keyedProcesses(ctx)
	}
	procs, skipped, err := r.Processes(ctx)
	keys := make([]procKey, len(procs))
	for i := range procs {
		keys[i] = procKey{procs[i].PID, procs[i].StartedAt.UnixMilli()}
	}
	return procs, keys, skipped, err
}

type processesCollector struct {
	cfg    Config
	reader processReader

	// State carried between collections. The Set never runs two Updates of
	// one collector at once, so no lock is needed.
	lastCPU    map[procKey]float64              // CPU seconds at the previous collection
	history    *sampleRing[map[procKey]float64] // CPU seconds over the window, for cpu_percent
	redacted   map[procKey][2]string            // raw → redacted command line
	groups     *groupTracker
	readErrors uint64
}

// procKey tells a process apart from a later one that reuses its PID.
// start is whatever start stamp the OS keeps fixed for the process's life:
// clock ticks since boot on Linux, milliseconds since the epoch elsewhere.
type procKey struct {
	pid   int32
	start int64
}

func newProcessesCollector(cfg Config) (Collector, error) {
	r, err := newProcessReader(cfg)
	if err != nil {
		return nil, err
	}
	c := &processesCollector{
		cfg: cfg, reader: r,
		lastCPU: map[procKey]float64{}, redacted: map[procKey][2]string{},
		history: newSampleRing[map[procKey]float64](cfg.CPUMinWindow),
		groups:  newGroupTracker(cfg.ProcessMaxGroups),
	}
	// A first reading at start-up gives the first collection a baseline for
	// cpu_percent (the counters still count processes new at start in full).
	ctx, cancel := context.WithTimeout(cfg.hostContext(context.Background()), 5*time.Second)
	defer cancel()
	start := time.Now()
	if procs, keys, _, err := readProcesses(ctx, r); err == nil {
		c.history.add(start.Add(time.Since(start)/2), cpuByProcess(procs, keys))
	}
	return c, nil
}

func cpuByProcess(procs []snapshot.Process, keys []procKey) map[procKey]float64 {
	m := make(map[procKey]float64, len(procs))
	for i := range procs {
		m[keys[i]] = procs[i].CPUSeconds
	}
	return m
}

type processesResult struct {
	procs      []snapshot.Process
	states     map[string]int
	threads    int64
	groups     []processGroup
	readErrors uint64
}

func (c *processesCollector) Update(ctx context.Context) (Result, error) {
	start := time.Now()
	procs, keys, skipped, err := readProcesses(ctx, c.reader)
	if err != nil {
		return nil, fmt.Errorf("processes: %w", err)
	}
	// Reading every process takes a while (longer on a loaded host); the
	// middle of the read is the moment that errs least for all of them.
	now := start.Add(time.Since(start) / 2)
	c.readErrors += uint64(skipped)
	kept := c.history.since(now)
	nextCPU := make(map[procKey]float64, len(procs))
	nextRedacted := make(map[procKey][2]string, len(procs))
	deltas := make([]float64, len(procs))
	rates := make([]float64, len(procs))
	r := &processesResult{procs: procs, states: map[string]int{}}
	for i := range procs {
		p := &procs[i]
		k := keys[i]
		nextCPU[k] = p.CPUSeconds
		// The group counters add what each process used since the previous
		// collection; a process new since then adds all its CPU time.
		if prev, seen := c.lastCPU[k]; !seen {
			deltas[i] = p.CPUSeconds
		} else if p.CPUSeconds >= prev {
			deltas[i] = p.CPUSeconds - prev
		}
		p.CPUPercent = windowPercent(p, k, kept, now)
		rates[i] = p.CPUPercent / 100
		p.Cmdline = c.displayCmdline(k, p.Cmdline, nextRedacted)
		r.states[p.State]++
		r.threads += int64(p.Threads)
	}
	c.lastCPU, c.redacted = nextCPU, nextRedacted
	c.history.add(now, nextCPU)
	r.groups = c.groups.update(procs, deltas, rates)
	r.readErrors = c.readErrors
	return r, nil
}

// windowPercent is a process's CPU use over the window: from the oldest
// kept reading that has it (the baseline, unless the process started
// since); a process none has seen is measured over its whole life.
func windowPercent(p *snapshot.Process, k procKey, kept []sample[map[procKey]float64], now time.Time) float64 {
	for _, s := range kept {
		before, ok := s.v[k]
		if !ok {
			continue
		}
		wall := now.Sub(s.at).Seconds()
		if wall <= 0 || p.CPUSeconds < before {
			return 0
		}
		return (p.CPUSeconds - before) / wall * 100
	}
	// Start times are whole seconds of boot time plus ticks, so a young
	// process's age may read up to a second long: its figure errs low.
	if age := now.Sub(p.StartedAt).Seconds(); age > 0 {
		return p.CPUSeconds / age * 100
	}
	return 0
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

type processGroup struct {
	name       string
	cpuSeconds float64
	rss        uint64
	count      int
}

// A name without a slot takes the slot of the least busy holder once it
// uses more than groupDisplaceRatio times the holder's CPU plus
// groupDisplaceMin (in CPUs, over the window) in groupDisplaceAfter
// consecutive collections, so that two busy names of similar weight do not
// take a slot from each other at every collection.
const (
	groupDisplaceRatio = 1.5
	groupDisplaceMin   = 0.02
	groupDisplaceAfter = 2
)

// groupTracker keeps host_process_group_cpu_seconds_total a true counter:
// each group adds the CPU its processes used since the previous collection,
// so processes exiting never make it drop. At most max-1 names get a slot;
// the rest, and any process literally named "other", are summed in "other".
// Slots follow the work: a name none of whose processes runs any more gives
// its slot up at the next collection, and a busy newcomer displaces the
// least busy holder (see groupDisplaceRatio). A name that loses its slot
// loses its series; if it gets a slot again its counter starts from zero,
// which rate() reads as a counter reset.
type groupTracker struct {
	max         int
	named       map[string]float64 // CPU seconds of each name with a slot
	others      float64
	challengers map[string]int // consecutive collections a newcomer out-used the least busy holder
}

func newGroupTracker(maxGroups int) *groupTracker {
	return &groupTracker{max: max(maxGroups, 1), named: map[string]float64{}, challengers: map[string]int{}}
}

// groupName is the name a process is counted under.
func groupName(p *snapshot.Process) string {
	if kernelThread(p) {
		return "kernel"
	}
	return strings.TrimSuffix(p.Name, " (deleted)")
}

// update takes each process's CPU seconds since the previous collection
// (deltas) and its CPU use over the window in CPUs (rates).
func (t *groupTracker) update(procs []snapshot.Process, deltas, rates []float64) []processGroup {
	current := map[string]*processGroup{}
	cpuNow := map[string]float64{}
	rate := map[string]float64{}
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
		rate[name] += rates[i]
	}
	busier := func(a, b string) int { // busiest first
		return cmp.Or(cmp.Compare(rate[b], rate[a]), cmp.Compare(current[b].rss, current[a].rss), cmp.Compare(a, b))
	}
	for n := range t.named {
		if current[n] == nil {
			delete(t.named, n)
		}
	}
	var newcomers []string
	for n := range current {
		if _, held := t.named[n]; !held && n != otherGroup {
			newcomers = append(newcomers, n)
		}
	}
	slices.SortFunc(newcomers, busier)
	challengers := map[string]int{}
	holder := "" // the least busy name holding a slot, once the slots are full
	for _, n := range newcomers {
		if len(t.named) < t.max-1 {
			t.named[n] = 0
			continue
		}
		if len(t.named) == 0 {
			break // max-groups 1: everything is "other"
		}
		if holder == "" {
			holder = slices.MaxFunc(slices.Collect(maps.Keys(t.named)), busier)
		}
		if rate[n] <= rate[holder]*groupDisplaceRatio+groupDisplaceMin {
			break // newcomers come busiest first: none after n can pass either
		}
		challengers[n] = t.challengers[n] + 1
		if challengers[n] >= groupDisplaceAfter {
			delete(t.named, holder)
			delete(challengers, n)
			t.named[n] = 0
			holder = ""
		}
	}
	t.challengers = challengers

	other := processGroup{name: otherGroup}
	for n, g := range current {
		if _, held := t.named[n]; held {
			t.named[n] += cpuNow[n]
			continue
		}
		t.others += cpuNow[n]
		other.rss += g.rss
		other.count += g.count
	}
	out := make([]processGroup, 0, len(t.named)+1)
	for n, cpu := range t.named {
		g := current[n]
		out = append(out, processGroup{name: n, cpuSeconds: cpu, rss: g.rss, count: g.count})
	}
	slices.SortFunc(out, func(a, b processGroup) int { return cmp.Compare(a.name, b.name) })
	if len(t.named) >= t.max-1 || t.others > 0 || other.count > 0 {
		other.cpuSeconds = t.others
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
	ch <- prometheus.MustNewConstMetric(readErrorsDesc, prometheus.CounterValue, float64(r.readErrors))
}
