// Command archiverload measures one archiver process against the issue's
// target (5,000 agents every 5 s): it serves fake agents in-process on
// loopback, runs the real archiver binary as a child, and reports stored
// versus scheduled snapshots, schedule lag, CPU per scrape, RSS and fds.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/prexmon/prexmon/tools/fakeagent/agent"
	"github.com/prexmon/prexmon/tools/s3gateway"
)

// options are the command-line flags.
type options struct {
	agents       int
	first        string
	port         int
	interval     time.Duration
	timeout      time.Duration
	duration     time.Duration
	warmup       time.Duration
	archiverBin  string
	archiverArgs []string
	storage      string
	keep         bool
	jsonOut      string
	profile      string
	variants     int
	gzipLevel    int
	identity     bool
	encodings    []string
	s3Gateway    string
	segmentAge   time.Duration
}

func main() {
	var o options
	var encodings string
	app := kingpin.New("archiverload", "Run one archiver against many fake agents on loopback for a bounded time and report what it sustained.")
	app.Flag("agents", "Number of fake agents.").Default("5000").IntVar(&o.agents)
	app.Flag("first", "Address of the first agent (the rest follow consecutively, loopback only).").Default("127.0.0.2").StringVar(&o.first)
	app.Flag("port", "Port of every agent.").Default("9110").IntVar(&o.port)
	app.Flag("interval", "scrape_interval written into the archiver config.").Default("5s").DurationVar(&o.interval)
	app.Flag("timeout", "scrape_timeout (0 = the smaller of interval and 10s).").Default("0").DurationVar(&o.timeout)
	app.Flag("duration", "Whole run, warm-up included; the measured window is the largest whole number of intervals after the warm-up.").Default("60s").DurationVar(&o.duration)
	app.Flag("warmup", "Time before the measured window (0 = one interval + 3s, so every agent has had its first scrape).").Default("0").DurationVar(&o.warmup)
	app.Flag("archiver-bin", "Archiver binary (empty = go build ./archiver into the work directory).").StringVar(&o.archiverBin)
	app.Flag("archiver-arg", "Extra archiver flag, repeatable (e.g. --archiver-arg=--storage.sync-interval=2s).").StringsVar(&o.archiverArgs)
	app.Flag("storage", "Storage directory (empty = a new temporary one).").StringVar(&o.storage)
	app.Flag("keep", "Keep the work directory (config, log, data) instead of deleting it.").BoolVar(&o.keep)
	app.Flag("json", "Also write the results as JSON to this file.").StringVar(&o.jsonOut)
	app.Flag("profile", "Record a CPU profile of the archiver over the window with perf into this file (perf.data); a text report is written beside it.").StringVar(&o.profile)
	app.Flag("variants", "Distinct fake machines.").Default("16").IntVar(&o.variants)
	app.Flag("gzip-level", "gzip level of the fake agents' bodies.").Default("1").IntVar(&o.gzipLevel)
	app.Flag("identity", "Fake agents send plain JSON even when compression is asked for (what skipping decoding saves).").BoolVar(&o.identity)
	app.Flag("encodings", "Content codings the fake agents offer, in order of preference: zstd,gzip like the real exporter, or gzip like older agents.").Default("zstd,gzip").StringVar(&encodings)
	app.Flag("s3-gateway", "Upload closed segments to object storage: run this versitygw binary on loopback as the bucket (\"auto\" = ~/.cache/prexmon/versitygw-v1.8.0, built by scripts/build-versitygw.sh); empty = local disk only.").StringVar(&o.s3Gateway)
	app.Flag("segment-max-age", "With --s3-gateway: --storage.segment.max-age of the archiver, short so segments close and upload during the run.").Default("20s").DurationVar(&o.segmentAge)
	kingpin.MustParse(app.Parse(os.Args[1:]))
	var err error
	if o.encodings, err = agent.ParseEncodings(encodings); err != nil {
		app.Fatalf("--encodings: %v", err)
	}

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := run(ctx, logger, o)
	if res != nil {
		res.print(os.Stdout)
		if o.jsonOut != "" {
			if err := writeJSON(o.jsonOut, res); err != nil {
				logger.Error("write json", "err", err)
			}
		}
	}
	if err != nil {
		logger.Error("archiverload failed", "err", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, logger *slog.Logger, o options) (*result, error) {
	if o.timeout <= 0 {
		o.timeout = min(o.interval, 10*time.Second)
	}
	if o.warmup <= 0 {
		o.warmup = o.interval + 3*time.Second
	}
	windowIntervals := int((o.duration - o.warmup) / o.interval)
	if windowIntervals < 1 {
		return nil, fmt.Errorf("duration %s leaves no whole interval after the %s warm-up", o.duration, o.warmup)
	}
	work, err := os.MkdirTemp("", "archiverload-")
	if err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	if o.keep {
		logger.Info("keeping work directory", "dir", work)
	} else {
		defer os.RemoveAll(work)
	}
	if o.storage == "" {
		o.storage = filepath.Join(work, "data")
	}
	rev := "prebuilt"
	if o.archiverBin == "" {
		if o.archiverBin, rev, err = buildArchiver(ctx, work); err != nil {
			return nil, err
		}
	}

	addrs, err := agent.Consecutive(o.first, o.agents)
	if err != nil {
		return nil, err
	}
	fleet, err := agent.Start(agent.Options{Addrs: addrs, Port: o.port, Variants: o.variants, GzipLevel: o.gzipLevel, Identity: o.identity, Encodings: o.encodings, Record: true, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("start fake agents: %w", err)
	}
	defer fleet.Close()
	body := fleet.Bodies()[0]

	listen, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	cfgPath, err := writeConfig(work, fleet.Targets(), o.interval, o.timeout)
	if err != nil {
		return nil, err
	}
	args := []string{"--config.file=" + cfgPath, "--storage.path=" + o.storage, "--web.listen-address=" + listen}
	if !hasFlag(o.archiverArgs, "--log.level") {
		args = append(args, "--log.level=warn")
	}
	var gw *s3gateway.Gateway
	if o.s3Gateway != "" {
		var bucketConf string
		if gw, bucketConf, err = startGateway(o.s3Gateway, work); err != nil {
			return nil, err
		}
		defer gw.Stop()
		// Local copies stay for the whole run, so every stored line is
		// counted on disk and the bucket is checked against them.
		args = append(args, "--storage.remote.config.file="+bucketConf, "--storage.segment.max-age="+o.segmentAge.String(), "--storage.local-retention=24h")
	}
	args = append(args, o.archiverArgs...)
	arch, err := startArchiver(o.archiverBin, args, filepath.Join(work, "archiver.log"))
	if err != nil {
		return nil, err
	}
	defer arch.kill()
	base := "http://" + listen
	if err := waitReady(ctx, base+"/readyz", 30*time.Second, arch); err != nil {
		return nil, err
	}
	logger.Info("archiver ready", "pid", arch.cmd.Process.Pid, "agents", o.agents, "interval", o.interval,
		"window", time.Duration(windowIntervals)*o.interval, "storage", o.storage)

	res := &result{
		Command: strings.Join(os.Args, " "), ArchiverArgs: args, Agents: o.agents, Interval: o.interval.String(),
		Timeout: o.timeout.String(), SnapshotBytes: len(body.JSON), GzipBytes: len(body.Gzip), GzipRatio: body.Ratio(), ZstdBytes: len(body.Zstd), ZstdRatio: body.ZstdRatio(), Identity: o.identity,
		Encodings: strings.Join(o.encodings, ","),
		Started:   time.Now().UTC(), LoadAvg: loadAvg(), ArchiverRev: rev,
	}
	mon := startMonitor(arch.cmd.Process.Pid)
	defer mon.stop()

	if err := sleepCtx(ctx, o.warmup); err != nil {
		return nil, err
	}
	t0 := time.Now()
	p0, err := sampleProc(arch.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	m0, err := scrapeMetrics(base + "/metrics")
	if err != nil {
		return nil, err
	}
	f0 := fleet.Stats()
	self0, _ := sampleProc(os.Getpid())
	var gw0 procSample
	if gw != nil {
		gw0, _ = sampleProc(gw.Pid())
	}
	window := time.Duration(windowIntervals) * o.interval
	var prof *profiler
	if o.profile != "" {
		prof = startProfile(arch.cmd.Process.Pid, o.profile, window, logger)
	}
	if err := sleepCtx(ctx, time.Until(t0.Add(window))); err != nil {
		return nil, err
	}
	t1 := time.Now()
	p1, err := sampleProc(arch.cmd.Process.Pid)
	if err != nil {
		return nil, err
	}
	m1, err := scrapeMetrics(base + "/metrics")
	if err != nil {
		return nil, err
	}
	f1 := fleet.Stats()
	res.ServedZstd, res.ServedGzip, res.ServedPlain = f1.ZstdSnapshots-f0.ZstdSnapshots, f1.GzipSnapshots-f0.GzipSnapshots, f1.PlainSnapshots-f0.PlainSnapshots
	self1, _ := sampleProc(os.Getpid())
	res.LoadToolCores = (self1.CPUSeconds - self0.CPUSeconds) / t1.Sub(t0).Seconds()
	if gw != nil {
		gw1, _ := sampleProc(gw.Pid())
		res.Remote = &remoteResult{GatewayCores: (gw1.CPUSeconds - gw0.CPUSeconds) / t1.Sub(t0).Seconds()}
	}
	if prof != nil {
		res.Profile = prof.wait()
	}
	mon.stop()
	res.OtherArchivers = otherArchivers(arch.cmd.Process.Pid)

	// Scrapes started before t1 may still be storing; give them the sync
	// interval, then stop the archiver cleanly so everything is flushed.
	if err := sleepCtx(ctx, 2*time.Second); err != nil {
		return nil, err
	}
	stopStart := time.Now()
	exitErr := arch.terminate(30 * time.Second)
	res.ShutdownSeconds = time.Since(stopStart).Seconds()
	res.CleanExit = exitErr == nil
	fleet.Close()

	res.fill(o, t0, t1, p0, p1, m0, m1, f0, f1, mon)
	res.fillLags(fleet, t0, t1, o.interval)
	disk, err := countStored(o.storage, t0, t1)
	if err != nil {
		return res, err
	}
	res.fillDisk(disk, t1.Sub(t0))
	if gw != nil {
		b, err := countBucket(gw.Dir)
		if err != nil {
			return res, err
		}
		res.Remote.fill(m0, m1, t1.Sub(t0), b, disk)
	}
	if exitErr != nil {
		return res, fmt.Errorf("archiver did not exit cleanly: %w (log: %s)", exitErr, tail(filepath.Join(work, "archiver.log")))
	}
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(max(d, 0))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("interrupted: %w", ctx.Err())
	case <-t.C:
		return nil
	}
}

// buildArchiver compiles ./archiver of the module the tool runs in and
// returns the binary and the commit it was built from ("+dirty" when
// archiver/ has uncommitted changes).
func buildArchiver(ctx context.Context, work string) (bin, rev string, err error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "", "", fmt.Errorf("not inside the prexmon module (go env GOMOD: %q, %v): pass --archiver-bin", out, err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	bin = filepath.Join(work, "archiver")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./archiver")
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build ./archiver: %w: %s", err, msg)
	}
	rev = "unknown"
	if h, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output(); err == nil {
		rev = strings.TrimSpace(string(h))
		if st, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--", "archiver", "exporter/snapshot").Output(); err == nil && len(st) > 0 {
			rev += "+dirty"
		}
	}
	return bin, rev, nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// writeConfig writes a file_sd targets file (JSON) and the archiver config
// that reads it.
func writeConfig(dir string, targets []string, interval, timeout time.Duration) (string, error) {
	sd, err := json.Marshal([]map[string]any{{"targets": targets, "labels": map[string]string{"job": "archiverload"}}})
	if err != nil {
		return "", fmt.Errorf("encode targets: %w", err)
	}
	sdPath := filepath.Join(dir, "targets.json")
	if err := os.WriteFile(sdPath, sd, 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", sdPath, err)
	}
	cfg := fmt.Sprintf("scrape_interval: %s\nscrape_timeout: %s\nfile_sd_configs:\n  - files: [%q]\n    refresh_interval: 1m\n",
		interval, timeout, sdPath)
	path := filepath.Join(dir, "archiver.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return "", fmt.Errorf("write %s: %w", path, err)
	}
	return path, nil
}

// child is the archiver process.
type child struct {
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

func startArchiver(bin string, args []string, logPath string) (*child, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", logPath, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		logf.Close()
		close(c.done)
	}()
	return c, nil
}

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// terminate asks the archiver to stop (SIGTERM) and kills it after grace.
func (c *child) terminate(grace time.Duration) error {
	if c.exited() {
		return fmt.Errorf("archiver exited early: %v", c.err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return fmt.Errorf("signal archiver: %w", err)
	}
	select {
	case <-c.done:
		return c.err
	case <-time.After(grace):
		c.kill()
		return fmt.Errorf("archiver still running %s after SIGTERM, killed", grace)
	}
}

func (c *child) kill() {
	if !c.exited() {
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

func waitReady(ctx context.Context, url string, limit time.Duration, c *child) error {
	deadline := time.Now().Add(limit)
	client := http.Client{Timeout: time.Second}
	for {
		resp, err := client.Get(url)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if c.exited() {
			return fmt.Errorf("archiver exited before becoming ready: %v", c.err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("archiver not ready at %s after %s (last error %v)", url, limit, err)
		}
		if err := sleepCtx(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// otherArchivers counts archiver processes besides ours: a second load run
// on the same machine halves what either measures.
func otherArchivers(ours int) int {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	n := 0
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || pid == ours {
			continue
		}
		if comm, err := os.ReadFile("/proc/" + p.Name() + "/comm"); err == nil && strings.TrimSpace(string(comm)) == "archiver" {
			n++
		}
	}
	return n
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// tail returns the last lines of a log for error messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-5):], " | ")
}

func writeJSON(path string, r *result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

var errNoPerf = errors.New("perf not found")

// profiler records the archiver with perf over the window.
type profiler struct {
	path   string
	cmd    *exec.Cmd
	err    error
	logger *slog.Logger
}

func startProfile(pid int, path string, window time.Duration, logger *slog.Logger) *profiler {
	p := &profiler{path: path, logger: logger}
	perf, err := exec.LookPath("perf")
	if err != nil {
		p.err = errNoPerf
		return p
	}
	secs := strconv.Itoa(max(1, int(window.Seconds())-1))
	p.cmd = exec.Command(perf, "record", "-F", "499", "-g", "-p", strconv.Itoa(pid), "-o", path, "--", "sleep", secs)
	p.cmd.Stdout, p.cmd.Stderr = io.Discard, io.Discard
	p.err = p.cmd.Start()
	return p
}

// wait finishes the recording and writes a flat text report beside it.
func (p *profiler) wait() string {
	if p.err == nil {
		p.err = p.cmd.Wait()
	}
	if p.err != nil {
		p.logger.Warn("no profile", "err", p.err)
		return ""
	}
	report := p.path + ".txt"
	out, err := exec.Command("perf", "report", "-i", p.path, "--stdio", "--no-children", "--sort", "symbol", "--percent-limit", "0.5", "-g", "none").Output()
	if err != nil {
		p.logger.Warn("perf report", "err", err)
		return p.path
	}
	if err := os.WriteFile(report, out, 0o644); err != nil {
		p.logger.Warn("write profile report", "err", err)
		return p.path
	}
	return report
}

// hasFlag says args set flag (as --flag=value or --flag value).
func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}
