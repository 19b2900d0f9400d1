package main

import (
	"crypto/sha256"
	"errors"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/archiver/config"
	"github.com/prexmon/prexmon/archiver/scrape"
	"github.com/prexmon/prexmon/archiver/targets"
)

// reloader applies configuration files to the running parts. A file that
// fails to load or apply changes nothing: the old configuration keeps
// running and archiver_config_last_reload_successful drops to 0.
type reloader struct {
	file   string
	mgr    *scrape.Manager
	disc   *targets.Discovery
	logger *slog.Logger

	mu          sync.Mutex // one reload at a time; guards lastSum
	lastSum     [sha256.Size]byte
	cfg         atomic.Pointer[config.Config]
	targetsSeen atomic.Bool
	configOK    atomic.Bool
	success     prometheus.GaugeFunc
	successTime prometheus.Gauge
}

func newReloader(file string, mgr *scrape.Manager, disc *targets.Discovery, logger *slog.Logger, reg prometheus.Registerer) *reloader {
	r := &reloader{
		file:   file,
		mgr:    mgr,
		disc:   disc,
		logger: logger,
		successTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "archiver_config_last_reload_success_timestamp_seconds",
			Help: "Timestamp of the last successful configuration reload.",
		}),
	}
	// A rejected file_sd file counts as a failed reload too: either way the
	// archiver runs on registrations older than the files say.
	r.success = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "archiver_config_last_reload_successful",
		Help: "Whether the last configuration reload attempt was successful and every file_sd file was accepted.",
	}, func() float64 {
		if r.configOK.Load() && disc.Failing() == 0 {
			return 1
		}
		return 0
	})
	reg.MustRegister(r.success, r.successTime)
	return r
}

// apply hands cfg to the scrape manager first, because building its HTTP
// client is the step that can still fail; discovery cannot.
func (r *reloader) apply(cfg *config.Config) error {
	err := r.mgr.ApplyConfig(scrape.Config{
		Interval:      time.Duration(cfg.ScrapeInterval),
		Timeout:       time.Duration(cfg.ScrapeTimeout),
		BodySizeLimit: int64(cfg.BodySizeLimit),
		Scheme:        cfg.Scheme,
		Path:          cfg.SnapshotPath,
		Compression:   *cfg.EnableCompression,
		HTTPClient:    cfg.HTTPClient,
	})
	if err != nil {
		return err
	}
	r.disc.ApplyConfig(cfg)
	r.cfg.Store(cfg)
	return nil
}

func (r *reloader) succeeded() {
	r.configOK.Store(true)
	r.successTime.SetToCurrentTime()
}

// reload re-reads the config file, for SIGHUP and POST /-/reload.
func (r *reloader) reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The checksum is taken before loading: if the file changes in between,
	// the next poll sees a new sum and loads again.
	r.lastSum = fileSum(r.file)
	cfg, err := config.Load(r.file)
	if err == nil {
		err = r.apply(cfg)
	}
	if err != nil {
		r.configOK.Store(false)
		r.logger.Error("reload failed, keeping the previous configuration", "file", r.file, "err", err)
		return err
	}
	r.succeeded()
	r.logger.Info("configuration reloaded", "file", r.file)
	return nil
}

func (r *reloader) current() *config.Config { return r.cfg.Load() }

// watch reloads whenever the config file's content changes, checked every
// interval, so an edit applies without a signal. A change must hold for one
// more check before it is loaded, so a file caught halfway through being
// rewritten in place (empty, or cut short yet valid YAML) is never applied;
// a broken edit is rejected once, not at every check.
func (r *reloader) watch(interval time.Duration, done <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending [sha256.Size]byte
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		sum := fileSum(r.file)
		r.mu.Lock()
		changed := sum != r.lastSum
		r.mu.Unlock()
		switch {
		case !changed:
			pending = [sha256.Size]byte{}
		case sum != pending:
			pending = sum
		default:
			r.logger.Info("configuration file changed, reloading", "file", r.file)
			_ = r.reload()
			pending = [sha256.Size]byte{}
		}
	}
}

// fileSum is the SHA-256 of path's content, zero if it cannot be read (a
// file being replaced); the reload that follows reports the real error.
func fileSum(path string) [sha256.Size]byte {
	b, err := os.ReadFile(path)
	if err != nil {
		return [sha256.Size]byte{}
	}
	return sha256.Sum256(b)
}

func (r *reloader) synced() { r.targetsSeen.Store(true) }

// ready is /readyz's config check: a config is loaded (always, once main
// runs) and the first target list reached the scrape manager.
func (r *reloader) ready() error {
	if !r.targetsSeen.Load() {
		return errors.New("targets not discovered yet")
	}
	return nil
}
