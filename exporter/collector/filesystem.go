package collector

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/disk"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func init() { registerCollector("filesystem", true, newFilesystemCollector) }

// defaultFSTypeExclude skips pseudo and overlay filesystems whose sizes say
// nothing about disk space.
const defaultFSTypeExclude = `^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs|ramfs|nfsd|CDFS|UDF|udf)$`

// defaultMountExclude skips kernel and container-runtime mountpoints, as
// node_exporter does; container layers would otherwise flood the series.
const defaultMountExclude = `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+|var/lib/kubelet/.+)($|/)`

var (
	fsLabels       = []string{"device", "mountpoint", "fstype"}
	fsSizeDesc     = prometheus.NewDesc("host_filesystem_size_bytes", "Filesystem size.", fsLabels, nil)
	fsFreeDesc     = prometheus.NewDesc("host_filesystem_free_bytes", "Free space, including blocks reserved for root.", fsLabels, nil)
	fsAvailDesc    = prometheus.NewDesc("host_filesystem_avail_bytes", "Space available to unprivileged users.", fsLabels, nil)
	fsReadonlyDesc = prometheus.NewDesc("host_filesystem_readonly", "Whether the filesystem is mounted read-only.", fsLabels, nil)
	fsErrorDesc    = prometheus.NewDesc("host_filesystem_device_error", "1 when the filesystem could not be read, for example a hung network mount.", fsLabels, nil)
	fsFilesDesc    = prometheus.NewDesc("host_filesystem_files", "Inodes of the filesystem (absent on Windows, which has none to report).", fsLabels, nil)
	fsFilesFree    = prometheus.NewDesc("host_filesystem_files_free", "Free inodes of the filesystem.", fsLabels, nil)
)

// fsHasInodes is false where statfs has no inode counts: gopsutil reports
// zero on Windows, which would read as a filesystem out of inodes.
var fsHasInodes = runtime.GOOS != "windows"

// usageFunc is disk.UsageWithContext; a test replaces it to simulate a mount
// whose statfs never returns.
type usageFunc func(ctx context.Context, path string) (*disk.UsageStat, error)

// filesystemCollector never blocks on a hung mount: statfs runs in a worker
// with a timeout, and a mount whose worker has not returned is skipped
// (reported as a device error) until it does, so workers never pile up.
type filesystemCollector struct {
	cfg          Config
	exclude      *regexp.Regexp
	mountExclude *regexp.Regexp
	timeout      time.Duration
	usage        usageFunc

	mu    sync.Mutex
	stuck map[string]bool // mountpoints whose statfs is still running
}

func newFilesystemCollector(cfg Config) (Collector, error) {
	re, err := regexp.Compile(cfg.FilesystemFSExclude)
	if err != nil {
		return nil, fmt.Errorf("--collector.filesystem.fs-types-exclude: %w", err)
	}
	mre, err := regexp.Compile(cfg.FilesystemMountExclude)
	if err != nil {
		return nil, fmt.Errorf("--collector.filesystem.mount-points-exclude: %w", err)
	}
	timeout := cfg.MountTimeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &filesystemCollector{cfg: cfg, exclude: re, mountExclude: mre, timeout: timeout, usage: disk.UsageWithContext, stuck: map[string]bool{}}, nil
}

type fsEntry struct {
	snapshot.Filesystem
	failed bool
}

type filesystemResult struct{ fss []fsEntry }

func (c *filesystemCollector) Update(ctx context.Context) (Result, error) {
	// all=true: gopsutil otherwise drops every "nodev" filesystem, among
	// them NFS, CIFS and FUSE, the very mounts that hang; the exclude
	// expressions decide instead, as in node_exporter.
	parts, err := disk.PartitionsWithContext(ctx, true)
	if err != nil {
		return nil, fmt.Errorf("partitions: %w", err)
	}
	r := &filesystemResult{}
	// With filesystems stacked on one directory the kernel serves the one
	// mounted last, which mountinfo lists last: that one is reported, and
	// the ones beneath it, hidden, are not (statfs would read the top one).
	top := make(map[string]int, len(parts))
	for i, p := range parts {
		top[p.Mountpoint] = i
	}
	for i, p := range parts {
		if top[p.Mountpoint] != i || c.exclude.MatchString(p.Fstype) || c.mountExclude.MatchString(p.Mountpoint) {
			continue
		}
		r.fss = append(r.fss, fsEntry{Filesystem: snapshot.Filesystem{
			Device:     p.Device,
			Mountpoint: p.Mountpoint,
			FSType:     p.Fstype,
			ReadOnly:   slices.Contains(p.Opts, "ro"),
		}})
	}
	// statfs all mounts at once: two hung mounts cost one timeout, not two.
	var wg sync.WaitGroup
	for i := range r.fss {
		wg.Add(1)
		go func(e *fsEntry) {
			defer wg.Done()
			u, err := c.statfs(ctx, c.hostPath(e.Mountpoint))
			if err != nil {
				c.cfg.Logger.Debug("statfs failed", "mountpoint", e.Mountpoint, "err", err)
				e.failed = true
				return
			}
			// gopsutil's Free is what unprivileged users may still write
			// (f_bavail); free including root's reserve is Total-Used.
			e.SizeBytes, e.AvailBytes = u.Total, u.Free
			if u.Total >= u.Used {
				e.FreeBytes = u.Total - u.Used
			}
			e.UsedPercent = u.UsedPercent
			if fsHasInodes {
				files, free := u.InodesTotal, u.InodesFree
				e.Files, e.FilesFree = &files, &free
			}
		}(&r.fss[i])
	}
	wg.Wait()
	return r, nil
}

// hostPath maps a mountpoint of the host to where this process sees it
// when the host's root is mounted at --path.rootfs.
func (c *filesystemCollector) hostPath(mountpoint string) string {
	if c.cfg.RootPath == "" || c.cfg.RootPath == "/" {
		return mountpoint
	}
	return filepath.Join(c.cfg.RootPath, mountpoint)
}

func (c *filesystemCollector) statfs(ctx context.Context, path string) (*disk.UsageStat, error) {
	c.mu.Lock()
	if c.stuck[path] {
		c.mu.Unlock()
		return nil, fmt.Errorf("statfs %s: still hung from an earlier collection", path)
	}
	c.stuck[path] = true
	c.mu.Unlock()

	type answer struct {
		u   *disk.UsageStat
		err error
	}
	done := make(chan answer, 1)
	go func() {
		u, err := c.usage(context.WithoutCancel(ctx), path)
		c.mu.Lock()
		delete(c.stuck, path)
		c.mu.Unlock()
		done <- answer{u, err}
	}()
	timer := time.NewTimer(c.timeout)
	defer timer.Stop()
	select {
	case a := <-done:
		return a.u, a.err
	case <-timer.C:
		c.cfg.Logger.Warn("statfs timed out; skipping mount until it answers", "mountpoint", path, "timeout", c.timeout)
		return nil, fmt.Errorf("statfs %s: timed out after %s", path, c.timeout)
	case <-ctx.Done():
		return nil, fmt.Errorf("statfs %s: %w", path, ctx.Err())
	}
}

func (r *filesystemResult) Fill(s *snapshot.Snapshot) {
	for _, e := range r.fss {
		if !e.failed {
			s.Filesystems = append(s.Filesystems, e.Filesystem)
		}
	}
}

func (r *filesystemResult) Emit(ch chan<- prometheus.Metric) {
	for _, e := range r.fss {
		labels := []string{labelValue(e.Device), labelValue(e.Mountpoint), labelValue(e.FSType)}
		if e.failed {
			ch <- prometheus.MustNewConstMetric(fsErrorDesc, prometheus.GaugeValue, 1, labels...)
			continue
		}
		ch <- prometheus.MustNewConstMetric(fsErrorDesc, prometheus.GaugeValue, 0, labels...)
		ch <- prometheus.MustNewConstMetric(fsSizeDesc, prometheus.GaugeValue, float64(e.SizeBytes), labels...)
		ch <- prometheus.MustNewConstMetric(fsFreeDesc, prometheus.GaugeValue, float64(e.FreeBytes), labels...)
		ch <- prometheus.MustNewConstMetric(fsAvailDesc, prometheus.GaugeValue, float64(e.AvailBytes), labels...)
		ro := 0.0
		if e.ReadOnly {
			ro = 1
		}
		ch <- prometheus.MustNewConstMetric(fsReadonlyDesc, prometheus.GaugeValue, ro, labels...)
		if e.Files != nil && e.FilesFree != nil {
			ch <- prometheus.MustNewConstMetric(fsFilesDesc, prometheus.GaugeValue, float64(*e.Files), labels...)
			ch <- prometheus.MustNewConstMetric(fsFilesFree, prometheus.GaugeValue, float64(*e.FilesFree), labels...)
		}
	}
}
