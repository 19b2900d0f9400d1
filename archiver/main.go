// Command archiver scrapes the snapshots of registered prexmon agents into
// per-IP, per-day JSONL files and serves them back over an HTTP API. main
// wires config → targets → scrape loops → store, and store → api.
package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/oklog/run"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"
	promslogflag "github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"github.com/thanos-io/objstore"

	"github.com/prexmon/prexmon/archiver/api"
	"github.com/prexmon/prexmon/archiver/config"
	"github.com/prexmon/prexmon/archiver/scrape"
	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/archiver/targets"
	page "github.com/prexmon/prexmon/archiver/web"
)

func main() {
	os.Exit(runMain())
}

// runMain returns the exit code, so deferred cleanups run before os.Exit.
func runMain() int {
	app := kingpin.New("archiver", "Archives the snapshots of prexmon agents into per-IP, per-day JSONL files and serves them over HTTP.")
	var (
		configFile = app.Flag("config.file", "Archiver configuration file (YAML).").
				Default("archiver.yml").String()
		storagePath = app.Flag("storage.path", "Directory holding <ip>/<YYYY-MM-DD>.jsonl files.").
				Default("./data").String()
		retention = app.Flag("storage.retention", "How long to keep day files, e.g. 90d or 26w; 0 keeps them for ever.").
				Default("90d").String()
		retentionSize = app.Flag("storage.retention.size", "Largest size of the archive on local disk, e.g. 500GB (base 2); past it the oldest whole days are deleted. 0 = no size limit.").
				Default("0").Bytes()
		compressAfter = app.Flag("storage.compress-after", "Compress a day's files to .jsonl.gz once the UTC day has ended this long ago (at least 1h); 0 = never.").
				Default("2h").String()
		syncInterval = app.Flag("storage.sync-interval", "Longest time written snapshots may stay unsynced to disk.").
				Default("1s").Duration()
		syncMethod = app.Flag("storage.sync-method", "How written day files are made durable: syncfs (the whole storage filesystem once per round; Linux 5.8 or later, else fdatasync) or fdatasync (each written file; better when storage shares a busy filesystem).").
				Default("syncfs").Enum("syncfs", "fdatasync")
		maxOpenFiles = app.Flag("storage.max-open-files", "Day files kept open for appending; idle ones are closed first. 0 = a third of the open-file limit (at most 8192), leaving the rest for agent connections.").
				Default("0").Int()
		autoReload = app.Flag("config.auto-reload-interval", "How often to check the config file for changes; a change is loaded once it has held for one check. 0 reloads only on SIGHUP or POST /-/reload.").
				Default("30s").Duration()
		readTimeout = app.Flag("web.read-timeout", "Maximum duration before timing out read of the request, body included, and closing idle connections.").
				Default("5m").Duration()
		idleTimeout = app.Flag("web.idle-timeout", "How long a kept-alive connection may wait for its next request before it is closed.").
				Default("2m").Duration()
		maxConns = app.Flag("web.max-connections", "Maximum number of simultaneous connections per listen address; further ones wait unaccepted. Lowered at start if the open-file limit cannot hold it beside the day files and scrapes.").
				Default("4096").Int()
		enableLifecycle = app.Flag("web.enable-lifecycle", "Enable reload via HTTP request (POST or PUT /-/reload). SIGHUP always reloads.").
				Default("false").Bool()
		enablePprof = app.Flag("web.enable-pprof", "Serve Go profiles under /debug/pprof/ (behind the read tokens when set).").
				Default("false").Bool()
		remoteConfig = app.Flag("storage.remote.config.file", "Object storage for closed segments, in the Thanos bucket-config format (type: S3|GCS|AZURE|FILESYSTEM|…, config: {…}); empty = local disk only.").
				Default("").String()
		remoteID = app.Flag("storage.remote.id", "This archiver's name in object names, so archivers storing the same agent and day never write the same object (default: the host name).").
				Default("").String()
		segmentMaxAge = app.Flag("storage.segment.max-age", "How long a local segment stays open before it is closed and uploaded (with --storage.remote.config.file).").
				Default("1h").Duration()
		localRetention = app.Flag("storage.local-retention", "How long closed, uploaded segments stay on local disk (with --storage.remote.config.file).").
				Default("48h").Duration()
		remoteRetentionSize = app.Flag("storage.remote.retention.size", "Largest size of the object storage as a whole (every archiver sharing it), e.g. 50TB (base 2); past it the oldest whole days are deleted from it, checked about once a day. 0 = no size limit (with --storage.remote.config.file).").
					Default("0").Bytes()
		shardCount = app.Flag("shard.count", "Number of archivers sharing the target list; each scrapes only the targets whose Prometheus hashmod of the address equals its --shard.index.").
				Default("1").Uint64()
		shardIndex = app.Flag("shard.index", "This archiver's shard, from 0 to --shard.count-1.").
				Default("0").Uint64()
		toolkitFlags = kingpinflag.AddFlags(app, ":5000")
	)
	logConfig := &promslog.Config{}
	promslogflag.AddFlags(app, logConfig)
	app.Version(version.Print("archiver"))
	app.HelpFlag.Short('h')
	if _, err := app.Parse(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "archiver: %v\n", err)
		return 2
	}
	logger := promslog.New(logConfig)
	if os.Getenv("GOGC") == "" {
		// As Prometheus does: most of the heap is short-lived snapshot
		// buffers, so a tighter GC target trades a little CPU for a lot of
		// resident memory with thousands of agents.
		debug.SetGCPercent(75)
	}
	logger.Info("starting archiver", "version", version.Info(), "build_context", version.BuildContext())

	keep, err := model.ParseDuration(*retention)
	if err != nil {
		logger.Error("bad --storage.retention", "err", err)
		return 2
	}
	compress, err := model.ParseDuration(*compressAfter)
	if err != nil {
		logger.Error("bad --storage.compress-after", "err", err)
		return 2
	}
	if *shardCount == 0 || *shardIndex >= *shardCount {
		logger.Error("--shard.index must be below --shard.count, and --shard.count at least 1", "shard_count", *shardCount, "shard_index", *shardIndex)
		return 2
	}
	cfgSum := fileSum(*configFile)
	cfg, err := config.Load(*configFile)
	if err != nil {
		logger.Error("cannot load configuration", "err", err)
		return 1
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("archiver"),
		shardInfo(*shardCount, *shardIndex),
	)

	fdLimit := fileLimit()
	if *maxOpenFiles <= 0 {
		*maxOpenFiles = defaultMaxOpenFiles(fdLimit)
	}
	if *maxConns <= 0 {
		logger.Error("--web.max-connections must be positive")
		return 2
	}
	listeners := 1
	if !*toolkitFlags.WebSystemdSocket {
		listeners = max(1, len(*toolkitFlags.WebListenAddresses))
	}
	if n, lowered := connectionLimit(fdLimit, *maxConns, *maxOpenFiles, listeners); lowered {
		logger.Warn("--web.max-connections lowered to leave descriptors for day files and scrapes; raise the open-file limit (ulimit -n) to allow more",
			"requested", *maxConns, "used", n, "open_file_limit", fdLimit, "max_open_files", *maxOpenFiles)
		*maxConns = n
	}
	wo := webOptions{
		flags:           toolkitFlags,
		readTimeout:     *readTimeout,
		idleTimeout:     *idleTimeout,
		maxConns:        *maxConns,
		enableLifecycle: *enableLifecycle,
		enablePprof:     *enablePprof,
		shardCount:      *shardCount,
		shardIndex:      *shardIndex,
	}
	var bucket objstore.Bucket
	if *remoteConfig != "" {
		conf, err := os.ReadFile(*remoteConfig)
		if err != nil {
			logger.Error("cannot read --storage.remote.config.file", "err", err)
			return 1
		}
		if bucket, err = store.NewBucket(conf, logger.With("component", "objstore")); err != nil {
			logger.Error("cannot open object storage", "file", *remoteConfig, "err", err)
			return 1
		}
		defer bucket.Close()
		// The operators of Thanos and Mimir read the same families (with
		// their own prefix): request counts, failures and latency per
		// operation, so a slow or failing store shows apart from the disk.
		// "Not found" is an expected answer (the retention's shared state
		// before its first run, a day two archivers delete at once), not a
		// failure of the store.
		bucket = objstore.WrapWithMetrics(bucket, prometheus.WrapRegistererWithPrefix("archiver_", reg), bucket.Name()).WithExpectedErrs(bucket.IsObjNotFoundErr)
		if *remoteID == "" {
			if *remoteID, err = os.Hostname(); err != nil {
				logger.Error("no --storage.remote.id and no host name", "err", err)
				return 2
			}
		}
		logger.Info("closed segments go to object storage", "provider", bucket.Provider(), "bucket", bucket.Name(), "remote_id", store.RemoteID(*remoteID))
	}
	st, err := store.Open(*storagePath, store.Options{
		Bucket:         bucket,
		RemoteID:       *remoteID,
		SegmentMaxAge:  *segmentMaxAge,
		LocalRetention: *localRetention,
		SyncInterval:   *syncInterval,
		MaxOpenFiles:   *maxOpenFiles,
		Retention:      time.Duration(keep),
		RetentionSize:  int64(*retentionSize),
		CompressAfter:  time.Duration(compress),
		SyncFiles:      *syncMethod == "fdatasync",
		Logger:         logger.With("component", "store"),
		Registerer:     reg,

		RemoteRetentionSize: int64(*remoteRetentionSize),
	})
	if err != nil {
		logger.Error("cannot open storage", "path", *storagePath, "err", err)
		return 1
	}
	code := serve(logger, reg, st, cfg, cfgSum, *configFile, *autoReload, wo)
	if err := st.Close(); err != nil {
		logger.Error("closing storage", "err", err)
		return 1
	}
	logger.Info("storage closed, exiting")
	return code
}

// defaultMaxOpenFiles keeps one day file open per agent for fleets that fit
// in the descriptor limit (each agent also holds a kept-alive connection),
// so appends do not reopen files.
func defaultMaxOpenFiles(limit uint64) int {
	if limit == 0 {
		return 1024
	}
	return int(min(max(limit/3, 64), 8192))
}

// webOptions are the HTTP server's flags.
type webOptions struct {
	flags           *web.FlagConfig
	readTimeout     time.Duration
	idleTimeout     time.Duration
	maxConns        int
	enableLifecycle bool
	enablePprof     bool
	shardCount      uint64
	shardIndex      uint64
}

// shardInfo exposes the flags, so a dashboard can check that every index of
// a sharded fleet is running exactly once.
func shardInfo(count, index uint64) prometheus.Collector {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "archiver_shard_info",
		Help: "Constant 1, labelled with this archiver's --shard.count and --shard.index.",
		ConstLabels: prometheus.Labels{
			"count": strconv.FormatUint(count, 10),
			"index": strconv.FormatUint(index, 10),
		},
	})
	g.Set(1)
	return g
}

// serve runs scraping, discovery and the HTTP server until a signal or a
// failure, and returns once no scrape or push can write any more.
func serve(logger *slog.Logger, reg *prometheus.Registry, st *store.Store, cfg *config.Config, cfgSum [sha256.Size]byte, configFile string, autoReload time.Duration, wo webOptions) int {
	mgr := scrape.NewManager(scrape.Options{
		Appender:   st,
		Logger:     logger.With("component", "scrape"),
		Registerer: reg,
	})
	disc := targets.NewDiscovery(logger.With("component", "discovery"), reg)
	rl := newReloader(configFile, mgr, disc, logger, reg)
	if err := rl.apply(cfg); err != nil {
		logger.Error("cannot apply configuration", "file", configFile, "err", err)
		mgr.Stop()
		return 1
	}
	rl.succeeded()
	rl.lastSum = cfgSum

	landing, err := page.Handler(page.Options{
		Version: version.Version,
		Links: []page.Link{
			{Address: "/api/v1/agents", Text: "Agents (JSON)"},
			{Address: "/api/v1/files", Text: "Files (JSON)"},
			{Address: "/metrics", Text: "Metrics"},
			{Address: "/readyz", Text: "Ready"},
			{Address: "/healthz", Text: "Healthy"},
		},
	})
	if err != nil {
		logger.Error("web page", "err", err)
		mgr.Stop()
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	handler := api.New(api.Options{
		Store:               st,
		Agents:              mgr.Agents,
		Ready:               rl.ready,
		Reload:              rl.reload,
		WriteTokens:         func() []string { return rl.current().API.WriteTokens },
		ReadTokens:          func() []string { return rl.current().API.ReadTokens },
		PushAllowed:         func(a netip.Addr) bool { return rl.current().API.PushAllowedFrom(a) },
		TrustedProxies:      func() []netip.Prefix { return rl.current().API.Proxies },
		MaxBodyBytes:        func() int64 { return int64(rl.current().BodySizeLimit) },
		MaxConcurrentPushes: func() int { return rl.current().API.MaxConcurrentPushes },
		// Room for at least one push at the body limit (sent, decoded, and
		// copied into its line), whatever a reload sets the limit to.
		PushMemory: func() int64 { return api.PushMemoryFor(int64(rl.current().BodySizeLimit)) },
		PushRateLimit: func() (float64, int) {
			l := rl.current().API.PushRateLimit
			return l.Rate, l.Burst
		},
		Metrics:         promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}),
		Landing:         landing,
		EnableLifecycle: wo.enableLifecycle,
		EnablePprof:     wo.enablePprof,
		Logger:          logger.With("component", "api"),
		Registerer:      reg,
		Context:         ctx,
	})
	listeners, err := listen(wo.flags, wo.maxConns, logger)
	if err != nil {
		logger.Error("web server", "err", err)
		mgr.Stop()
		return 1
	}

	var g run.Group
	{
		term := make(chan os.Signal, 1)
		signal.Notify(term, os.Interrupt, syscall.SIGTERM)
		done := make(chan struct{})
		g.Add(func() error {
			select {
			case s := <-term:
				logger.Info("received signal, stopping", "signal", s)
			case <-done:
			}
			return nil
		}, func(error) { close(done) })
	}
	{
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		done := make(chan struct{})
		g.Add(func() error {
			for {
				select {
				case <-hup:
					_ = rl.reload()
				case <-done:
					return nil
				}
			}
		}, func(error) { close(done) })
	}
	if autoReload > 0 {
		done := make(chan struct{})
		g.Add(func() error {
			rl.watch(autoReload, done)
			return nil
		}, func(error) { close(done) })
	}
	g.Add(func() error { return disc.Run(ctx) }, func(error) { cancel() })
	g.Add(func() error {
		// Scraping stops once the group ends; Stop waits for snapshots
		// already being written, so nothing fully received is lost.
		defer mgr.Stop()
		for {
			select {
			case ts := <-disc.Updates():
				mgr.Sync(targets.Shard(ts, wo.shardCount, wo.shardIndex))
				rl.synced()
			case <-ctx.Done():
				return nil
			}
		}
	}, func(error) { cancel() })
	{
		srv := &http.Server{
			Handler:           handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       wo.readTimeout,
			IdleTimeout:       wo.idleTimeout,
		}
		g.Add(func() error {
			if err := web.ServeMultiple(listeners, srv, wo.flags, logger); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("web server: %w", err)
			}
			return nil
		}, func(error) {
			// Shutdown waits for pushes being stored before returning.
			sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
			closeAll(listeners) // in case serving never started
		})
	}
	if err := g.Run(); err != nil {
		logger.Error("archiver failed", "err", err)
		return 1
	}
	return 0
}
