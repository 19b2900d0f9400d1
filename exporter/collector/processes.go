package collector

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

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
	groupCPUDesc     = prometheus.NewDesc("host_process_group_cpu_seconds_total", "CPU seconds of the live processes of a name group; it drops when processes exit, which rate() treats as a reset.", []string{"group"}, nil)
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
	return &processesCollector{cfg: cfg, reader: r, lastCPU: map[procKey]float64{}, redacted: map[procKey][2]string{}}, nil
}

type processGroup struct {
	name       string
	cpuSeconds float64
	rss        uint64
	count      int
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
	r := &processesResult{procs: procs, states: map[string]int{}}
	for i := range procs {
		p := &procs[i]
		k := procKey{p.PID, p.StartedAt.UnixMilli()}
		nextCPU[k] = p.CPUSeconds
		if prev, ok := c.lastCPU[k]; ok && wall > 0 && p.CPUSeconds >= prev {
			p.CPUPercent = (p.CPUSeconds - prev) / wall * 100
		}
		switch {
		case !c.cfg.ProcessCmdline:
			p.Cmdline = ""
		case c.cfg.ProcessRedact && p.Cmdline != "":
			// Redaction runs regular expressions; a process's command line
			// rarely changes, so reuse the previous answer when it has not.
			cached, ok := c.redacted[k]
			if !ok || cached[0] != p.Cmdline {
				cached = [2]string{p.Cmdline, redact.Cmdline(p.Cmdline)}
			}
			nextRedacted[k] = cached
			p.Cmdline = cached[1]
		}
		r.states[p.State]++
		r.threads += int64(p.Threads)
	}
	c.lastAt, c.lastCPU, c.redacted = now, nextCPU, nextRedacted
	r.groups = groupProcesses(procs, c.cfg.ProcessMaxGroups)
	return r, nil
}

// groupProcesses sums processes by name and keeps the maxGroups names with
// the most CPU time (then memory), folding the rest into "other" so a host
// running thousands of distinct binaries cannot explode cardinality.
func groupProcesses(procs []snapshot.Process, maxGroups int) []processGroup {
	byName := map[string]*processGroup{}
	for _, p := range procs {
		g := byName[p.Name]
		if g == nil {
			g = &processGroup{name: p.Name}
			byName[p.Name] = g
		}
		g.cpuSeconds += p.CPUSeconds
		g.rss += p.RSSBytes
		g.count++
	}
	// A process literally named "other" belongs to the overflow group, so
	// it never produces a duplicate series.
	other := processGroup{name: otherGroup}
	if g, ok := byName[otherGroup]; ok {
		other = *g
		delete(byName, otherGroup)
	}
	groups := make([]processGroup, 0, len(byName)+1)
	for _, g := range byName {
		groups = append(groups, *g)
	}
	slices.SortFunc(groups, func(a, b processGroup) int {
		return cmp.Or(cmp.Compare(b.cpuSeconds, a.cpuSeconds), cmp.Compare(b.rss, a.rss), cmp.Compare(a.name, b.name))
	})
	if maxGroups < 1 {
		maxGroups = 1
	}
	if other.count == 0 && len(groups) <= maxGroups {
		return groups
	}
	if len(groups) > maxGroups-1 {
		for _, g := range groups[maxGroups-1:] {
			other.cpuSeconds += g.cpuSeconds
			other.rss += g.rss
			other.count += g.count
		}
		groups = groups[:maxGroups-1]
	}
	return append(groups, other)
}

func (r *processesResult) Fill(s *snapshot.Snapshot) { s.Processes = r.procs }

func (r *processesResult) Emit(ch chan<- prometheus.Metric) {
	for _, state := range slices.Sorted(maps.Keys(r.states)) {
		ch <- prometheus.MustNewConstMetric(processesDesc, prometheus.GaugeValue, float64(r.states[state]), state)
	}
	ch <- prometheus.MustNewConstMetric(threadsDesc, prometheus.GaugeValue, float64(r.threads))
	for _, g := range r.groups {
		ch <- prometheus.MustNewConstMetric(groupCPUDesc, prometheus.CounterValue, g.cpuSeconds, g.name)
		ch <- prometheus.MustNewConstMetric(groupRSSDesc, prometheus.GaugeValue, float64(g.rss), g.name)
		ch <- prometheus.MustNewConstMetric(groupProcessDesc, prometheus.GaugeValue, float64(g.count), g.name)
	}
}
