// Command exporter is the prexmon agent: it serves the host's metrics on
// /metrics for Prometheus and a full JSON picture of the host on /snapshot
// for the archiver, and can push snapshots where the archiver cannot pull.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	webflag "github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"go.yaml.in/yaml/v2"

	"github.com/prexmon/prexmon/exporter/collector"
	"github.com/prexmon/prexmon/exporter/push"
)

const programName = "host_exporter"

// options is everything the command line decides.
type options struct {
	cfg          collector.Config
	version      string // for the snapshot's agent section
	enabled      map[string]*bool
	telemetry    string
	web          *web.FlagConfig
	log          *promslog.Config
	gomaxprocs   int
	timeoutSlack time.Duration
	push         push.Options
}

func parseFlags(args []string) (*options, error) {
	app := kingpin.New("exporter", "prexmon agent: host metrics for Prometheus and JSON snapshots for the archiver.")
	app.Version(version.Print("exporter"))
	app.HelpFlag.Short('h')
	o := &options{cfg: collector.DefaultConfig(), enabled: map[string]*bool{}, log: &promslog.Config{}}
	var spoolMax units.Base2Bytes
	o.web = webflag.AddFlags(app, ":9110")
	promslogflag.AddFlags(app, o.log)
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&o.telemetry)
	app.Flag("runtime.gomaxprocs", "The target number of CPUs Go will run on (GOMAXPROCS); 1 keeps the agent light, as node_exporter does.").
		Envar("GOMAXPROCS").Default("1").IntVar(&o.gomaxprocs)
	app.Flag("scrape.timeout-margin", "Subtracted from X-Prometheus-Scrape-Timeout-Seconds so collectors give up before the scraper does.").
		Default("500ms").DurationVar(&o.timeoutSlack)

	app.Flag("path.procfs", "procfs mountpoint (the host's /proc when running in a container).").Default(o.cfg.ProcPath).StringVar(&o.cfg.ProcPath)
	app.Flag("path.sysfs", "sysfs mountpoint.").Default(o.cfg.SysPath).StringVar(&o.cfg.SysPath)
	app.Flag("path.rootfs", "Where the host's root filesystem is mounted (for mountpoints, /etc/passwd, utmp).").Default(o.cfg.RootPath).StringVar(&o.cfg.RootPath)

	for _, name := range collector.Names() {
		def := "false"
		if collector.EnabledByDefault(name) {
			def = "true"
		}
		o.enabled[name] = app.Flag("collector."+name, fmt.Sprintf("Enable the %s collector (default: %s).", name, def)).Default(def).Bool()
	}
	app.Flag("collector.processes.max-groups", "Process-name groups exposed as host_process_group_*; the rest are summed in group \"other\".").
		Default("30").IntVar(&o.cfg.ProcessMaxGroups)
	app.Flag("collector.disk.device-exclude", "Regexp of block devices to leave out.").
		Default(o.cfg.DiskDeviceExclude).StringVar(&o.cfg.DiskDeviceExclude)
	app.Flag("collector.network.device-exclude", "Regexp of network devices to leave out (e.g. '^(veth|cali|docker).*' on container hosts); empty keeps all.").
		Default(o.cfg.NetworkDeviceExclude).StringVar(&o.cfg.NetworkDeviceExclude)
	app.Flag("collector.filesystem.fs-types-exclude", "Regexp of filesystem types to leave out.").
		Default(o.cfg.FilesystemFSExclude).StringVar(&o.cfg.FilesystemFSExclude)
	app.Flag("collector.filesystem.mount-points-exclude", "Regexp of mountpoints to leave out.").
		Default(o.cfg.FilesystemMountExclude).StringVar(&o.cfg.FilesystemMountExclude)
	app.Flag("collector.filesystem.mount-timeout", "How long to wait for one mount's statfs before reporting it as a device error.").
		Default("5s").DurationVar(&o.cfg.MountTimeout)
	app.Flag("collector.cpu.min-window", "CPU percentages in snapshots (host and per process) are averaged over at least this long, whatever the scrape pattern.").
		Default(o.cfg.CPUMinWindow.String()).DurationVar(&o.cfg.CPUMinWindow)
	app.Flag("snapshot.cmdline", "Include process command lines in snapshots.").Default("true").BoolVar(&o.cfg.ProcessCmdline)
	app.Flag("snapshot.cmdline.redact", "Replace values that look like secrets in command lines with ***.").Default("true").BoolVar(&o.cfg.ProcessRedact)
	app.Flag("snapshot.cmdline.max-length", "Bytes a command line may take in a snapshot; longer ones are cut and end in \""+collector.CmdlineCutMark+"\" (0 = no limit).").
		Default(strconv.Itoa(o.cfg.ProcessCmdlineMax)).IntVar(&o.cfg.ProcessCmdlineMax)

	app.Flag("push.url", "Archiver to push snapshots to (e.g. http://archiver:5000); empty disables push.").StringVar(&o.push.URL)
	app.Flag("push.interval", "Time between pushes; each host pushes at a moment in the interval of its own, stable across restarts.").Default("5m").DurationVar(&o.push.Interval)
	app.Flag("push.once", "Push what the spool holds and one new snapshot, then exit; non-zero exit status unless the new one was acknowledged.").BoolVar(&o.push.Once)
	app.Flag("push.bearer-token-file", "File holding the bearer token for the archiver's push endpoint, read at every push (or authorization in --push.http-config.file, not both).").StringVar(&o.push.BearerTokenFile)
	app.Flag("push.http-config.file", "prometheus/common HTTP client configuration for pushing (tls_config, proxy_url, authorization, basic_auth, oauth2).").StringVar(&o.push.HTTPConfigFile)
	app.Flag("push.timeout", "Timeout of one push request; with --push.once, of the whole run's retries.").Default("30s").DurationVar(&o.push.Timeout)
	app.Flag("push.spool.dir", "Directory where snapshots that could not be pushed wait, across restarts, to be sent in order; empty: only the newest waits, in memory.").StringVar(&o.push.SpoolDir)
	app.Flag("push.spool.max-bytes", "Bytes the spool may hold; past it the oldest snapshots are dropped.").
		Default(units.Base2Bytes(push.DefaultSpoolMaxBytes).String()).BytesVar(&spoolMax)

	if _, err := app.Parse(boolAssignments(app, args)); err != nil {
		return nil, err
	}
	o.push.SpoolMaxBytes = int64(spoolMax)
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.version = version.Version
	if o.version == "" {
		o.version = "dev"
	}
	return o, nil
}

// validate rejects combinations kingpin cannot see, with a message that
// names the flag instead of a failure deep inside the HTTP stack later.
func (o *options) validate() error {
	switch o.telemetry {
	case "/snapshot", "/healthz":
		return fmt.Errorf("--web.telemetry-path=%s collides with a built-in endpoint", o.telemetry)
	}
	if !strings.HasPrefix(o.telemetry, "/") || strings.ContainsAny(o.telemetry, "{} ") {
		return fmt.Errorf("--web.telemetry-path=%q must be a plain path starting with /", o.telemetry)
	}
	if n := o.cfg.ProcessCmdlineMax; n < 0 || n > 0 && n < minCmdlineMax {
		return fmt.Errorf("--snapshot.cmdline.max-length=%d must be 0 (no limit) or at least %d bytes", n, minCmdlineMax)
	}
	if o.push.Once && o.push.URL == "" {
		return errors.New("--push.once needs --push.url")
	}
	if o.push.URL != "" {
		u, err := url.Parse(o.push.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("--push.url=%q must be an http(s) URL such as http://archiver:5000", o.push.URL)
		}
	}
	if o.push.URL == "" && (o.push.SpoolDir != "" || o.push.HTTPConfigFile != "") {
		return errors.New("--push.spool.dir and --push.http-config.file need --push.url")
	}
	if o.push.SpoolMaxBytes <= 0 {
		return fmt.Errorf("--push.spool.max-bytes=%d must be positive", o.push.SpoolMaxBytes)
	}
	return nil
}

// minCmdlineMax leaves a cut command line room for more than its mark.
const minCmdlineMax = 64

// boolAssignments rewrites --flag=true/false of boolean flags into kingpin's
// --flag / --no-flag, because operators (and SPEC) write
// --snapshot.cmdline=false and kingpin would reject it.
func boolAssignments(app *kingpin.Application, args []string) []string {
	isBool := map[string]bool{}
	for _, f := range app.Model().Flags {
		if f.IsBoolFlag() {
			isBool[f.Name] = true
		}
	}
	out := make([]string, 0, len(args))
	for _, a := range args {
		name, val, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if ok && strings.HasPrefix(a, "--") && isBool[name] {
			switch strings.ToLower(val) {
			case "true", "1":
				a = "--" + name
			case "false", "0":
				a = "--no-" + name
			}
		}
		out = append(out, a)
	}
	return out
}

func (o *options) enabledNames() []string {
	var names []string
	for _, name := range collector.Names() {
		if *o.enabled[name] {
			names = append(names, name)
		}
	}
	return names
}

// Hooks for running under the Windows service control manager, set by
// 0_service_windows.go before main runs; elsewhere they change nothing.
var (
	logWriter    io.Writer                          = os.Stderr // a service has no console: its log file
	serviceActor func() (func() error, func(error))             // stops serve() when the service manager asks
	onExit       = func(code int) {}                            // reports the exit status to the service manager
	// serviceCommand runs `exporter service install|uninstall`; only
	// Windows has it.
	serviceCommand func(args []string) int
)

func main() {
	code := runMain(os.Args[1:])
	onExit(code)
	os.Exit(code)
}

// runMain returns the exit status so that deferred cleanup runs first.
func runMain(args []string) int {
	if len(args) > 0 && args[0] == "service" {
		if serviceCommand == nil {
			fmt.Fprintf(logWriter, "exporter: the service subcommand exists on Windows only; use the systemd unit (deploy/systemd) elsewhere\n")
			return 2
		}
		return serviceCommand(args[1:])
	}
	o, err := parseFlags(args)
	if err != nil {
		fmt.Fprintf(logWriter, "exporter: %v (try --help)\n", err)
		return 2
	}
	o.log.Writer = logWriter
	logger := promslog.New(o.log)
	o.cfg.Logger = logger
	if o.gomaxprocs > 0 {
		runtime.GOMAXPROCS(o.gomaxprocs)
	}
	if err := validateWebConfig(o.web); err != nil {
		logger.Error("invalid web configuration", "err", err)
		return 1
	}
	logger.Info("starting exporter", "version", version.Info(), "build_context", version.BuildContext(), "collectors", o.enabledNames())
	if msg := cmdlineExposure(o); msg != "" {
		logger.Warn(msg, "protect", "--web.config.file with tls_server_config and basic_auth_users", "disable", "--snapshot.cmdline=false")
	}

	set, err := collector.NewSet(o.cfg, o.enabledNames())
	if err != nil {
		logger.Error("cannot set up collectors", "err", err)
		return 1
	}
	base := prometheus.NewRegistry()
	var pusher *push.Pusher
	if o.push.URL != "" {
		if pusher, err = push.New(o.push, o.version, base, logger); err != nil {
			logger.Error("cannot set up push", "err", err)
			return 1
		}
	}
	if o.push.Once {
		push.Prime(context.Background(), set)
		if err := pusher.Once(context.Background(), set); err != nil {
			logger.Error("push failed", "err", err)
			return 1
		}
		return 0
	}
	if err := serve(o, set, base, pusher, logger); err != nil {
		logger.Error("exporter stopped", "err", err)
		return 1
	}
	return 0
}

// cmdlineExposure says how the command lines /snapshot serves are exposed,
// or "" when they are behind TLS and authentication or not served at all.
// Redaction hides only the secrets it recognises, so an exporter that
// anyone on the network can ask for every user's command lines deserves a
// line in the log.
func cmdlineExposure(o *options) string {
	if !o.cfg.ProcessCmdline || !*o.enabled["processes"] || o.push.Once {
		return ""
	}
	const what = "process command lines of every user are served on /snapshot "
	const why = "; redaction of secrets in them is best effort"
	if o.web.WebConfigFile == nil || *o.web.WebConfigFile == "" {
		return what + "without TLS or authentication (no --web.config.file)" + why
	}
	var c web.Config
	// validateWebConfig has read the file already; this only looks at
	// what it turns on.
	data, err := os.ReadFile(*o.web.WebConfigFile)
	if err != nil || yaml.Unmarshal(data, &c) != nil {
		return ""
	}
	tls := c.TLSConfig.TLSCertPath != "" || c.TLSConfig.TLSCert != ""
	auth := len(c.Users) > 0 || tls && c.TLSConfig.ClientAuth == "RequireAndVerifyClientCert"
	switch {
	case !tls && !auth:
		return what + "without TLS or authentication (--web.config.file sets neither)" + why
	case !auth:
		return what + "without authentication (--web.config.file has no basic_auth_users)" + why
	case !tls:
		return what + "without TLS, so passwords and command lines cross the network in clear" + why
	}
	return ""
}

func validateWebConfig(f *web.FlagConfig) error {
	if f.WebConfigFile == nil || *f.WebConfigFile == "" {
		return nil
	}
	if err := web.Validate(*f.WebConfigFile); err != nil {
		return fmt.Errorf("%s: %w", *f.WebConfigFile, err)
	}
	return nil
}

// serve runs the HTTP server, the optional push loop and signal handling
// as one oklog/run group: when one stops, all stop.
func serve(o *options, set *collector.Set, base *prometheus.Registry, pusher *push.Pusher, logger *slog.Logger) error {
	base.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector(programName),
	)
	h := newHandlers(set, base, o.version, o.timeoutSlack, logger)
	mux, err := h.mux(o.telemetry)
	if err != nil {
		return err
	}
	server := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	var g run.Group
	g.Add(run.SignalHandler(context.Background(), os.Interrupt, syscall.SIGTERM))
	if serviceActor != nil {
		g.Add(serviceActor())
	}
	g.Add(func() error {
		err := web.ListenAndServe(server, o.web, logger)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}, func(error) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = server.Shutdown(ctx)
	})
	if pusher != nil {
		ctx, cancel := context.WithCancel(context.Background())
		g.Add(func() error {
			pusher.Loop(ctx, set)
			return nil
		}, func(error) { cancel() })
	}
	err = g.Run()
	var sig *run.SignalError
	if errors.As(err, &sig) {
		logger.Info("shutting down", "signal", sig.Signal)
		return nil
	}
	return err
}
