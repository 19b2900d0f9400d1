package collector

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/cpu"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func init() { registerCollector("cpu", true, newCPUCollector) }

var (
	cpuSecondsDesc = prometheus.NewDesc("host_cpu_seconds_total",
		"Seconds the CPUs spent in each mode.", []string{"cpu", "mode"}, nil)
	cpuLogicalDesc = prometheus.NewDesc("host_cpu_logical_cores",
		"Number of logical CPUs.", nil, nil)
	loadDescs = [3]*prometheus.Desc{
		prometheus.NewDesc("host_load1", "1-minute load average (absent on Windows, which has none).", nil, nil),
		prometheus.NewDesc("host_load5", "5-minute load average (absent on Windows, which has none).", nil, nil),
		prometheus.NewDesc("host_load15", "15-minute load average (absent on Windows, which has none).", nil, nil),
	}
)

// cpuCollector keeps past times so utilisation is a delta over at least
// Config.CPUMinWindow instead of a sleep inside the request.
type cpuCollector struct {
	cfg Config

	mu       sync.Mutex
	infoRead bool // model and physical cores, retried until a read succeeds
	model    string
	physical int
	prev     []cpu.TimesStat // last reading, to keep counters monotonic
	history  *sampleRing[[]cpu.TimesStat]
}

func newCPUCollector(cfg Config) (Collector, error) {
	c := &cpuCollector{cfg: cfg, history: newSampleRing[[]cpu.TimesStat](cfg.CPUMinWindow)}
	// A first reading at start-up gives the first collection a baseline:
	// until the window has passed, percentages cover the time since start.
	ctx, cancel := context.WithTimeout(cfg.hostContext(context.Background()), time.Second)
	defer cancel()
	if times, err := cpuTimes(ctx, cfg); err == nil && len(times) > 0 {
		c.prev = times
		c.history.add(time.Now(), times)
	}
	return c, nil
}

type cpuResult struct {
	times   []cpu.TimesStat
	section snapshot.CPU
	load    *[3]float64
}

func (c *cpuCollector) Update(ctx context.Context) (Result, error) {
	times, err := cpuTimes(ctx, c.cfg)
	if err != nil {
		return nil, fmt.Errorf("cpu times: %w", err)
	}
	if len(times) == 0 {
		return nil, fmt.Errorf("cpu times: no CPUs reported")
	}
	now := time.Now()
	load, err := loadAverage(ctx)
	if err != nil {
		return nil, fmt.Errorf("load average: %w", err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	c.readInfo(ctx)
	if len(c.prev) == len(times) {
		for i := range times {
			monotonic(&times[i], c.prev[i])
		}
	}
	c.prev = times
	var base []cpu.TimesStat
	if kept := c.history.since(now); len(kept) > 0 {
		base = kept[0].v
	}
	c.history.add(now, times)

	r := &cpuResult{times: times, load: load}
	r.section = snapshot.CPU{
		Model:         c.model,
		LogicalCores:  len(times),
		PhysicalCores: c.physical,
		PerCPUPercent: make([]float64, len(times)),
	}
	if load != nil {
		r.section.Load1, r.section.Load5, r.section.Load15 = &load[0], &load[1], &load[2]
	}

	if len(base) == len(times) {
		var busy, total float64
		for i := range times {
			b, t := cpuDelta(base[i], times[i])
			busy += b
			total += t
			r.section.PerCPUPercent[i] = percent(b, t)
		}
		r.section.UsagePercent = percent(busy, total)
	}
	return r, nil
}

// readInfo reads the model and physical core count, which never change
// while the host runs, until one read succeeds: a read cut short by the
// first request's deadline is tried again by the next.
func (c *cpuCollector) readInfo(ctx context.Context) {
	if c.infoRead {
		return
	}
	infos, err := cpu.InfoWithContext(ctx)
	if err != nil {
		c.cfg.Logger.Debug("cpu info not read yet", "err", err)
		return
	}
	if len(infos) > 0 {
		c.model = strings.TrimSpace(infos[0].ModelName)
	}
	if n, err := cpu.CountsWithContext(ctx, false); err == nil {
		c.physical = n
	}
	c.infoRead = true
}

// monotonic keeps each mode's counter from going backwards: Linux's per-CPU
// iowait can decrease (it is an estimate), and a counter that drops reads
// to rate() as a reset worth all the CPU's history.
func monotonic(t *cpu.TimesStat, prev cpu.TimesStat) {
	for _, f := range []struct {
		cur *float64
		old float64
	}{
		{&t.User, prev.User}, {&t.Nice, prev.Nice}, {&t.System, prev.System}, {&t.Idle, prev.Idle},
		{&t.Iowait, prev.Iowait}, {&t.Irq, prev.Irq}, {&t.Softirq, prev.Softirq}, {&t.Steal, prev.Steal},
	} {
		if *f.cur < f.old {
			*f.cur = f.old
		}
	}
}

// cpuDelta returns busy and total seconds between two readings of one CPU.
// Guest time is already inside user time on Linux, so it is not added.
func cpuDelta(a, b cpu.TimesStat) (busy, total float64) {
	idle := (b.Idle + b.Iowait) - (a.Idle + a.Iowait)
	total = cpuTotal(b) - cpuTotal(a)
	if total <= 0 {
		return 0, 0
	}
	busy = total - idle
	if busy < 0 {
		busy = 0
	}
	return busy, total
}

// cpuTotal sums the modes this OS reports, which partition the CPU's time
// (on Windows kernel time contains idle and interrupt time; cpuModesFor
// takes them apart so nothing is counted twice).
func cpuTotal(t cpu.TimesStat) float64 {
	var total float64
	for _, m := range cpuModesFor(t) {
		total += m.seconds
	}
	return total
}

func percent(part, whole float64) float64 {
	if whole <= 0 {
		return 0
	}
	return part / whole * 100
}

func (r *cpuResult) Fill(s *snapshot.Snapshot) {
	sec := r.section
	s.CPU = &sec
}

func (r *cpuResult) Emit(ch chan<- prometheus.Metric) {
	for _, t := range r.times {
		id := strings.TrimPrefix(t.CPU, "cpu")
		for _, m := range cpuModesFor(t) {
			ch <- prometheus.MustNewConstMetric(cpuSecondsDesc, prometheus.CounterValue, m.seconds, id, m.mode)
		}
	}
	ch <- prometheus.MustNewConstMetric(cpuLogicalDesc, prometheus.GaugeValue, float64(len(r.times)))
	if r.load != nil {
		for i, d := range loadDescs {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, r.load[i])
		}
	}
}

type cpuMode struct {
	mode    string
	seconds float64
}
