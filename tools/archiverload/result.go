package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/prexmon/prexmon/tools/fakeagent/agent"
)

// result is one run's report; JSON field names are stable for scripts.
type result struct {
	Command         string    `json:"command"`
	ArchiverArgs    []string  `json:"archiver_args"`
	Started         time.Time `json:"started"`
	ArchiverRev     string    `json:"archiver_rev"`
	LoadAvg         string    `json:"loadavg_before"`  // /proc/loadavg: other work on the machine skews everything
	OtherArchivers  int       `json:"other_archivers"` // archiver processes not ours at the end of the window
	Agents          int       `json:"agents"`
	Interval        string    `json:"interval"`
	Timeout         string    `json:"timeout"`
	SnapshotBytes   int       `json:"snapshot_bytes"`
	GzipBytes       int       `json:"gzip_bytes"`
	GzipRatio       float64   `json:"gzip_ratio"`
	ZstdBytes       int       `json:"zstd_bytes"`
	ZstdRatio       float64   `json:"zstd_ratio"`
	Identity        bool      `json:"identity"`  // agents ignored Accept-Encoding
	Encodings       string    `json:"encodings"` // what the agents offered
	ServedZstd      int64     `json:"served_zstd"`
	ServedGzip      int64     `json:"served_gzip"`
	ServedPlain     int64     `json:"served_plain"`
	WindowSeconds   float64   `json:"window_seconds"`
	Scheduled       int64     `json:"scheduled"`
	Requested       int64     `json:"requested"` // /snapshot responses the fake agents sent in the window
	Stored          int64     `json:"stored"`    // lines on disk scraped in the window
	StoredPercent   float64   `json:"stored_percent"`
	StoredPerSecond float64   `json:"stored_per_second"`
	StoredMBps      float64   `json:"stored_mb_per_second"` // line bytes in the window / window, MB = 1e6
	AgentsStarved   int       `json:"agents_without_snapshot"`
	Malformed       int64     `json:"malformed_lines"`
	TornFiles       int64     `json:"torn_files"`
	TotalLines      int64     `json:"total_lines"`
	DayFiles        int       `json:"day_files"`

	ScrapesByResult map[string]float64 `json:"scrapes_by_result"` // archiver_scrapes_total delta
	Missed          float64            `json:"scrapes_missed"`
	LagP50          float64            `json:"lag_p50_seconds"` // archiver_scrape_schedule_lag_seconds
	LagP99          float64            `json:"lag_p99_seconds"`
	ArrivalLagP50   float64            `json:"arrival_lag_p50_seconds"` // at the agents, vs the FNV phase
	ArrivalLagP99   float64            `json:"arrival_lag_p99_seconds"`
	ArrivalLagMax   float64            `json:"arrival_lag_max_seconds"`
	JitterP99       float64            `json:"arrival_jitter_p99_seconds"` // schedule-agnostic lower bound
	DurationP50     float64            `json:"scrape_duration_p50_seconds"`
	DurationP99     float64            `json:"scrape_duration_p99_seconds"`
	FsyncP99        float64            `json:"fsync_p99_seconds,omitempty"`

	CPUCores        float64 `json:"cpu_cores"` // archiver CPU seconds / window seconds
	CPUmsPerScrape  float64 `json:"cpu_ms_per_scrape"`
	UserMsPerScrape float64 `json:"user_ms_per_scrape"`
	SysMsPerScrape  float64 `json:"sys_ms_per_scrape"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"` // VmHWM
	MaxFDs          int     `json:"max_fds"`
	MaxThreads      int     `json:"max_threads"`
	DiskWriteMBps   float64 `json:"disk_write_mb_per_second"` // /proc/<pid>/io write_bytes
	WriteCallsPerS  float64 `json:"write_syscalls_per_second"`
	ThreadStates    string  `json:"busy_thread_states"` // sampled "state syscall" of non-idle threads
	BusyThreads     float64 `json:"busy_threads_avg"`
	GCCyclesPerS    float64 `json:"gc_cycles_per_second"`
	HeapMiB         float64 `json:"go_heap_inuse_mib"`
	Goroutines      float64 `json:"goroutines"`
	LoadToolCores   float64 `json:"load_tool_cpu_cores"` // this process: fake agents and measuring

	ShutdownSeconds float64 `json:"shutdown_seconds"`
	CleanExit       bool    `json:"clean_exit"`
	Profile         string  `json:"profile,omitempty"`

	Remote *remoteResult `json:"remote,omitempty"` // with --s3-gateway
}

func (r *result) fill(o options, t0, t1 time.Time, p0, p1 procSample, m0, m1 families, f0, f1 agent.Stats, mon *monitor) {
	w := t1.Sub(t0).Seconds()
	r.WindowSeconds = w
	n := int64(math.Round(float64(o.agents) * t1.Sub(t0).Seconds() / o.interval.Seconds()))
	r.Scheduled = n
	r.Requested = f1.Snapshots - f0.Snapshots

	r.ScrapesByResult = map[string]float64{}
	before := m0.counters("archiver_scrapes_total", "result")
	for k, v := range m1.counters("archiver_scrapes_total", "result") {
		if d := v - before[k]; d != 0 {
			r.ScrapesByResult[k] = d
		}
	}
	r.Missed = m1.value("archiver_scrapes_missed_total") - m0.value("archiver_scrapes_missed_total")
	if h1, ok := m1.histogram("archiver_scrape_schedule_lag_seconds"); ok {
		h0, _ := m0.histogram("archiver_scrape_schedule_lag_seconds")
		d := h1.sub(h0)
		r.LagP50, r.LagP99 = d.quantile(.5), d.quantile(.99)
	}
	if h1, ok := m1.histogram("archiver_scrape_duration_seconds"); ok {
		h0, _ := m0.histogram("archiver_scrape_duration_seconds")
		d := h1.sub(h0)
		r.DurationP50, r.DurationP99 = d.quantile(.5), d.quantile(.99)
	}
	for name := range m1 {
		if strings.HasPrefix(name, "archiver_") && strings.Contains(name, "fsync") {
			if h1, ok := m1.histogram(name); ok {
				h0, _ := m0.histogram(name)
				r.FsyncP99 = h1.sub(h0).quantile(.99)
			}
		}
	}
	r.GCCyclesPerS = (gcCount(m1) - gcCount(m0)) / w
	r.HeapMiB = m1.value("go_memstats_heap_inuse_bytes") / (1 << 20)
	r.Goroutines = m1.value("go_goroutines")

	cpu := p1.CPUSeconds - p0.CPUSeconds
	r.CPUCores = cpu / w
	r.PeakRSSMiB = float64(p1.HWMBytes) / (1 << 20)
	r.MaxFDs, r.MaxThreads, _ = mon.peaks()
	r.DiskWriteMBps = float64(p1.WriteBytes-p0.WriteBytes) / 1e6 / w
	r.WriteCallsPerS = float64(p1.SyscW-p0.SyscW) / w
	r.ThreadStates, r.BusyThreads = mon.blockedSummary()
	if ok := r.ScrapesByResult["success"]; ok > 0 {
		r.CPUmsPerScrape = 1000 * cpu / ok
		r.UserMsPerScrape = 1000 * (p1.UserSeconds - p0.UserSeconds) / ok
		r.SysMsPerScrape = 1000 * (p1.SysSeconds - p0.SysSeconds) / ok
	}
}

func gcCount(m families) float64 {
	if mf, ok := m["go_gc_duration_seconds"]; ok && len(mf.GetMetric()) > 0 && mf.GetMetric()[0].Summary != nil {
		return float64(mf.GetMetric()[0].GetSummary().GetSampleCount())
	}
	return 0
}

// fillLags measures lag where the requests arrived: at the fake agents.
func (r *result) fillLags(f *agent.Fleet, t0, t1 time.Time, interval time.Duration) {
	var phase, jitter []time.Duration
	for i, target := range f.Targets() {
		var in []time.Time
		for _, a := range f.Arrivals(i) {
			if !a.Before(t0) && a.Before(t1) {
				in = append(in, a)
			}
		}
		phase = append(phase, phaseLags(target, in, interval)...)
		jitter = append(jitter, relativeLags(in, interval)...)
	}
	sortDurations(phase)
	sortDurations(jitter)
	r.ArrivalLagP50 = percentile(phase, .5).Seconds()
	r.ArrivalLagP99 = percentile(phase, .99).Seconds()
	if len(phase) > 0 {
		r.ArrivalLagMax = phase[len(phase)-1].Seconds()
	}
	r.JitterP99 = percentile(jitter, .99).Seconds()
}

func (r *result) fillDisk(d diskCount, window time.Duration) {
	r.Stored = d.InWindow
	if r.Scheduled > 0 {
		r.StoredPercent = 100 * float64(d.InWindow) / float64(r.Scheduled)
	}
	r.StoredPerSecond = float64(d.InWindow) / window.Seconds()
	r.StoredMBps = float64(d.WindowBytes) / 1e6 / window.Seconds()
	r.Malformed, r.TornFiles, r.TotalLines, r.DayFiles = d.Malformed, d.Torn, d.Lines, d.Files
	starved := r.Agents - len(d.PerIP)
	for _, n := range d.PerIP {
		if n == 0 {
			starved++
		}
	}
	r.AgentsStarved = starved
}

func (r *result) print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, a...)...) }
	p("archiver", "built from %s", r.ArchiverRev)
	p("machine load before", "%s; other archiver processes: %d", r.LoadAvg, r.OtherArchivers)
	p("run", "%d agents every %s (timeout %s), window %.1fs", r.Agents, r.Interval, r.Timeout, r.WindowSeconds)
	if r.Identity {
		p("snapshot", "%d B, served as plain JSON (--identity)", r.SnapshotBytes)
	} else {
		p("snapshot", "%d B, zstd %d B (%.2fx), gzip %d B (%.2fx); agents offer %s", r.SnapshotBytes, r.ZstdBytes, r.ZstdRatio, r.GzipBytes, r.GzipRatio, r.Encodings)
	}
	p("scheduled scrapes", "%d", r.Scheduled)
	p("served by agents", "%d (zstd %d, gzip %d, plain %d)", r.Requested, r.ServedZstd, r.ServedGzip, r.ServedPlain)
	p("stored (on disk)", "%d  = %.2f%% of scheduled", r.Stored, r.StoredPercent)
	p("stored/s", "%.0f", r.StoredPerSecond)
	p("stored MB/s", "%.1f (line bytes); disk writes %.1f MB/s, %.0f write calls/s", r.StoredMBps, r.DiskWriteMBps, r.WriteCallsPerS)
	p("agents w/o snapshot", "%d", r.AgentsStarved)
	p("scrape results", "%s  missed %.0f", fmtResults(r.ScrapesByResult), r.Missed)
	p("schedule lag p50/p99", "%s / %s (archiver histogram)", secs(r.LagP50), secs(r.LagP99))
	p("arrival lag p50/p99/max", "%s / %s / %s (at agents vs FNV phase); jitter p99 %s", secs(r.ArrivalLagP50), secs(r.ArrivalLagP99), secs(r.ArrivalLagMax), secs(r.JitterP99))
	p("scrape duration p50/p99", "%s / %s", secs(r.DurationP50), secs(r.DurationP99))
	if r.FsyncP99 > 0 {
		p("fsync p99", "%s", secs(r.FsyncP99))
	}
	p("archiver CPU", "%.2f cores; %.3f ms/scrape (user %.3f, sys %.3f)", r.CPUCores, r.CPUmsPerScrape, r.UserMsPerScrape, r.SysMsPerScrape)
	p("peak RSS (VmHWM)", "%.0f MiB; Go heap in use %.0f MiB; GC %.1f/s", r.PeakRSSMiB, r.HeapMiB, r.GCCyclesPerS)
	p("load tool CPU", "%.2f cores (fake agents, beside the archiver)", r.LoadToolCores)
	p("max fds / threads", "%d / %d; goroutines %.0f", r.MaxFDs, r.MaxThreads, r.Goroutines)
	p("busy threads", "%.2f avg: %s", r.BusyThreads, r.ThreadStates)
	p("lines on disk", "%d in %d files; malformed %d; torn %d", r.TotalLines, r.DayFiles, r.Malformed, r.TornFiles)
	p("shutdown", "%.2fs, clean=%v", r.ShutdownSeconds, r.CleanExit)
	if r.Remote != nil {
		r.Remote.print(p)
	}
	if r.Profile != "" {
		p("profile", "%s", r.Profile)
	}
	tw.Flush()
}

func secs(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return fmt.Sprintf("%.1fms", s*1000)
}

func fmtResults(m map[string]float64) string {
	var parts []string
	for _, k := range []string{"success", "timeout", "connection", "http_status", "too_large", "invalid", "store_error"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%.0f", k, v))
		}
	}
	for k, v := range m {
		if !strings.Contains("success timeout connection http_status too_large invalid store_error", k) {
			parts = append(parts, fmt.Sprintf("%s=%.0f", k, v))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
