package collector

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shirou/gopsutil/v4/disk"
)

// The metric families of SPEC version 2, each read from testdata/root.

func TestFixtureFilesystemInodes(t *testing.T) {
	cfg := fixtureConfig(t)
	c, err := newFilesystemCollector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fc := c.(*filesystemCollector)
	fc.usage = func(_ context.Context, path string) (*disk.UsageStat, error) {
		if path != filepath.Join(cfg.RootPath, "/") {
			return nil, errors.New("no such mount")
		}
		return &disk.UsageStat{Total: 1000, Used: 400, Free: 550, InodesTotal: 65536, InodesFree: 60000}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := fc.Update(cfg.hostContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	coll := &Collection{Results: []Result{res}}
	// /srv failed: no inode series rather than zeros.
	want := `
# HELP host_filesystem_files Inodes of the filesystem (absent on Windows, which has none to report).
# TYPE host_filesystem_files gauge
host_filesystem_files{device="/dev/sda1",fstype="ext4",mountpoint="/"} 65536
# HELP host_filesystem_files_free Free inodes of the filesystem.
# TYPE host_filesystem_files_free gauge
host_filesystem_files_free{device="/dev/sda1",fstype="ext4",mountpoint="/"} 60000
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_filesystem_files", "host_filesystem_files_free"); err != nil {
		t.Fatal(err)
	}
	s := coll.Snapshot("test")
	if len(s.Filesystems) != 1 || s.Filesystems[0].Files == nil || *s.Filesystems[0].Files != 65536 ||
		s.Filesystems[0].FilesFree == nil || *s.Filesystems[0].FilesFree != 60000 {
		t.Fatalf("filesystems = %+v, want / with 65536 inodes, 60000 free", s.Filesystems)
	}
}

func TestFixtureDiskTimes(t *testing.T) {
	coll := collectFixture(t, fixtureConfig(t), "disk")
	// diskstats: sda spent 500 ms on 1000 reads, 1500 ms on 2000 writes.
	want := `
# HELP host_disk_read_time_seconds_total Seconds spent on completed reads; its rate over the reads' is the read latency.
# TYPE host_disk_read_time_seconds_total counter
host_disk_read_time_seconds_total{device="sda"} 0.5
# HELP host_disk_write_time_seconds_total Seconds spent on completed writes; its rate over the writes' is the write latency.
# TYPE host_disk_write_time_seconds_total counter
host_disk_write_time_seconds_total{device="sda"} 1.5
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_disk_read_time_seconds_total", "host_disk_write_time_seconds_total"); err != nil {
		t.Fatal(err)
	}
	d := coll.Snapshot("test").Disks
	if len(d) != 1 || d[0].ReadTimeSeconds != 0.5 || d[0].WriteTimeSeconds != 1.5 || d[0].ReadsCompleted != 1000 {
		t.Fatalf("disks = %+v, want sda with 0.5 s read and 1.5 s write time", d)
	}
}
