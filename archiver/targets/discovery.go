package targets

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/archiver/config"
)

// debounce lets an editor or a writer finish a burst of events before the
// files are read, so one save costs one refresh.
const debounce = 100 * time.Millisecond

// Discovery keeps the merged target list of static_configs and
// file_sd_configs current and publishes every change on Updates.
type Discovery struct {
	logger   *slog.Logger
	readErrs prometheus.Counter
	failing  prometheus.Gauge
	nFailing atomic.Int64
	updates  chan []Target
	reconfig chan struct{}
	mu       sync.Mutex
	static   []Group
	fileSD   []*config.FileSDConfig
	// Owned by the Run goroutine.
	byFile    map[string][]Group // last good content of each file
	last      []Target
	published bool
}

// NewDiscovery returns a Discovery with nothing configured; call
// ApplyConfig, then Run.
func NewDiscovery(logger *slog.Logger, reg prometheus.Registerer) *Discovery {
	d := &Discovery{
		logger: logger,
		readErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archiver_sd_file_read_errors_total",
			Help: "Reads of file_sd files that failed; the file's previous targets were kept.",
		}),
		failing: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "archiver_sd_files_failing",
			Help: "file_sd files whose last read failed; their previous targets, if any, stay in use.",
		}),
		updates:  make(chan []Target, 1),
		reconfig: make(chan struct{}, 1),
		byFile:   map[string][]Group{},
	}
	if reg != nil {
		reg.MustRegister(d.readErrs, d.failing)
	}
	return d
}

// Failing is the number of file_sd files whose last read failed.
func (d *Discovery) Failing() int { return int(d.nFailing.Load()) }

// Updates delivers the full target list whenever it changes. Only the
// newest list is kept for a slow reader: intermediate lists are dropped.
func (d *Discovery) Updates() <-chan []Target { return d.updates }

// ApplyConfig switches to the static and file_sd configs of cfg; Run picks
// them up at once.
func (d *Discovery) ApplyConfig(cfg *config.Config) {
	d.mu.Lock()
	d.static = StaticGroups(cfg)
	d.fileSD = cfg.FileSDConfigs
	d.mu.Unlock()
	select {
	case d.reconfig <- struct{}{}:
	default:
	}
}

// Run watches the file_sd files until ctx ends. fsnotify watches their
// directories (so atomic renames and editors' swap files are seen);
// refresh_interval polling covers file systems without notifications.
func (d *Discovery) Run(ctx context.Context) error {
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		d.logger.Warn("file_sd: no file notifications, polling only", "err", err)
	}
	var events chan fsnotify.Event
	var watchErrs chan error
	if watcher != nil {
		defer watcher.Close()
		events, watchErrs = watcher.Events, watcher.Errors
	}
	watched := map[string]bool{}
	poll := time.NewTimer(time.Hour)
	defer poll.Stop()
	settle := time.NewTimer(time.Hour)
	settle.Stop()
	defer settle.Stop()

	for {
		d.mu.Lock()
		fileSD := d.fileSD
		d.mu.Unlock()
		if watcher != nil {
			d.watchDirs(watcher, watched, fileSD)
		}
		d.refresh()
		poll.Reset(pollInterval(fileSD))

	wait:
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-d.reconfig:
				break wait
			case <-poll.C:
				break wait
			case <-settle.C:
				break wait
			case ev := <-events:
				if ev.Op&(fsnotify.Create|fsnotify.Write|fsnotify.Remove|fsnotify.Rename) != 0 && matches(fileSD, ev.Name) {
					settle.Reset(debounce)
				}
			case err := <-watchErrs:
				d.logger.Warn("file_sd: watch error", "err", err)
			}
		}
	}
}

func pollInterval(fileSD []*config.FileSDConfig) time.Duration {
	p := time.Duration(config.DefaultRefreshInterval)
	for _, fc := range fileSD {
		p = min(p, time.Duration(fc.RefreshInterval))
	}
	return p
}

// matches reports whether name could be one of the configured files. A
// directory event (a Kubernetes ConfigMap swapping its ..data link) matches
// too, since the files under it changed.
func matches(fileSD []*config.FileSDConfig, name string) bool {
	for _, fc := range fileSD {
		for _, pat := range fc.Files {
			if filepath.Dir(pat) == filepath.Dir(name) {
				return true
			}
		}
	}
	return false
}

func (d *Discovery) watchDirs(w *fsnotify.Watcher, watched map[string]bool, fileSD []*config.FileSDConfig) {
	want := map[string]bool{}
	for _, fc := range fileSD {
		for _, pat := range fc.Files {
			want[filepath.Dir(pat)] = true
		}
	}
	for dir := range watched {
		if !want[dir] {
			_ = w.Remove(dir)
			delete(watched, dir)
		}
	}
	for dir := range want {
		if watched[dir] {
			continue
		}
		if err := w.Add(dir); err != nil {
			// A directory that does not exist yet is found by polling.
			d.logger.Debug("file_sd: cannot watch directory, polling it", "dir", dir, "err", err)
			continue
		}
		watched[dir] = true
	}
}

// refresh re-reads every matching file. A file that fails to read or parse
// keeps its previous targets; a file that no longer exists or matches loses
// them.
func (d *Discovery) refresh() {
	d.mu.Lock()
	static, fileSD := d.static, d.fileSD
	d.mu.Unlock()

	var files []string
	for _, fc := range fileSD {
		for _, pat := range fc.Files {
			m, err := filepath.Glob(pat)
			if err != nil {
				d.logger.Error("file_sd: bad pattern", "pattern", pat, "err", err)
				continue
			}
			files = append(files, m...)
		}
	}
	slices.Sort(files)
	files = slices.Compact(files)

	next := make(map[string][]Group, len(files))
	failing := 0
	for _, f := range files {
		groups, err := ReadFile(f)
		switch {
		case err == nil:
			next[f] = groups
		case errors.Is(err, fs.ErrNotExist):
			// Removed between Glob and read: it is gone.
		default:
			d.readErrs.Inc()
			failing++
			old, had := d.byFile[f]
			if had {
				next[f] = old
			}
			d.logger.Error("file_sd: file rejected, keeping its previous targets", "file", f, "previous_groups", len(old), "err", err)
		}
	}
	d.failing.Set(float64(failing))
	d.nFailing.Store(int64(failing))
	d.byFile = next

	all := [][]Group{static}
	for _, f := range files {
		if gs, ok := next[f]; ok {
			all = append(all, gs)
		}
	}
	d.publish(Flatten(all...))
}

func (d *Discovery) publish(ts []Target) {
	if d.published && slices.EqualFunc(ts, d.last, Target.Equal) {
		return
	}
	d.published = true
	d.last = ts
	select {
	case <-d.updates:
	default:
	}
	d.updates <- ts
}
