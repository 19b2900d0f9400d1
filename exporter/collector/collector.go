// Package collector gathers facts about the host. Each collector lives in
// its own file, registers itself from init, and turns what it read into
// both Prometheus metrics and its part of the JSON snapshot, so /metrics and
// /snapshot always agree and can share a single collection.
package collector

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/common"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

const namespace = "host"

// Result is what one collector read in one collection. It is immutable once
// returned, so the HTTP handlers may render it concurrently.
type Result interface {
	// Fill writes this collector's section of the snapshot.
	Fill(s *snapshot.Snapshot)
	// Emit sends this collector's metrics.
	Emit(ch chan<- prometheus.Metric)
}

// Collector reads one area of the host. Update must return promptly once ctx
// is done; if it cannot (a hung mount, a blocked read), the Set abandons it
// and reports the collector as failed rather than delaying the scrape.
type Collector interface {
	Update(ctx context.Context) (Result, error)
}

// Config is what collectors need from the command line. Paths exist so the
// exporter can run in a container and read the host through bind mounts.
type Config struct {
	ProcPath string // host's /proc
	SysPath  string // host's /sys
	RootPath string // host's /, for mountpoints, /etc and /var
	Logger   *slog.Logger

	ProcessMaxGroups       int           // bound on host_process_group_* cardinality
	ProcessCmdline         bool          // include command lines in the snapshot
	ProcessRedact          bool          // redact secrets in command lines
	ProcessCmdlineMax      int           // bytes a command line may take in the snapshot, mark included; 0 = no cap
	DiskDeviceExclude      string        // regexp of block devices to skip
	NetworkDeviceExclude   string        // regexp of network devices to skip ("" = none)
	FilesystemFSExclude    string        // regexp of filesystem types to skip
	FilesystemMountExclude string        // regexp of mountpoints to skip
	MountTimeout           time.Duration // per-mount statfs bound
	CPUMinWindow           time.Duration // CPU percentages cover at least this long
}

// DefaultConfig returns the settings used when no flag changes them.
func DefaultConfig() Config {
	return Config{
		ProcPath:               "/proc",
		SysPath:                "/sys",
		RootPath:               "/",
		Logger:                 slog.New(slog.DiscardHandler),
		ProcessMaxGroups:       30,
		ProcessCmdline:         true,
		ProcessRedact:          true,
		ProcessCmdlineMax:      4096,
		DiskDeviceExclude:      defaultDiskDeviceExclude,
		FilesystemFSExclude:    defaultFSTypeExclude,
		FilesystemMountExclude: defaultMountExclude,
		MountTimeout:           5 * time.Second,
		CPUMinWindow:           DefaultCPUMinWindow,
	}
}

// hostContext passes the configured paths to gopsutil, which reads them from
// the context before falling back to HOST_PROC and friends.
func (c Config) hostContext(ctx context.Context) context.Context {
	return context.WithValue(ctx, common.EnvKey, common.EnvMap{
		common.HostProcEnvKey: c.ProcPath,
		common.HostSysEnvKey:  c.SysPath,
		common.HostEtcEnvKey:  joinRoot(c.RootPath, "/etc"),
		common.HostVarEnvKey:  joinRoot(c.RootPath, "/var"),
		common.HostRunEnvKey:  joinRoot(c.RootPath, "/run"),
		common.HostDevEnvKey:  joinRoot(c.RootPath, "/dev"),
		common.HostRootEnvKey: c.RootPath,
	})
}

// labelValue makes a value read from the host safe as a label value:
// client_golang rejects invalid UTF-8, and the kernel cuts process names at
// 15 bytes, which can split a multi-byte character.
func labelValue(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

type factory func(Config) (Collector, error)

type registration struct {
	enabledByDefault bool
	newCollector     factory
}

var registry = map[string]registration{}

// registerCollector is called from each collector's init.
func registerCollector(name string, enabledByDefault bool, f factory) {
	if _, dup := registry[name]; dup {
		panic(fmt.Sprintf("collector %q registered twice", name))
	}
	registry[name] = registration{enabledByDefault: enabledByDefault, newCollector: f}
}

// Names lists every collector compiled in, sorted.
func Names() []string {
	return slices.Sorted(maps.Keys(registry))
}

// EnabledByDefault reports the default of --collector.<name>.
func EnabledByDefault(name string) bool {
	return registry[name].enabledByDefault
}

// newCollectors builds the named collectors, failing on unknown names.
func newCollectors(cfg Config, names []string) (map[string]Collector, error) {
	out := make(map[string]Collector, len(names))
	sort.Strings(names)
	for _, n := range names {
		r, ok := registry[n]
		if !ok {
			return nil, fmt.Errorf("unknown collector %q (known: %v)", n, Names())
		}
		c, err := r.newCollector(cfg)
		if err != nil {
			return nil, fmt.Errorf("collector %s: %w", n, err)
		}
		out[n] = c
	}
	return out, nil
}
