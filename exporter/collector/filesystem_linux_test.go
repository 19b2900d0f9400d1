package collector

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shirou/gopsutil/v4/disk"
)

// Two tmpfs stacked on /tmp/x: the kernel serves the upper one, so its
// device goes with the size statfs reads there. On /data an overlay (an
// excluded type) hides the xfs beneath it, so /data is not reported at all.
func TestFilesystemStackedMountsTopWins(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ProcPath = filepath.Join("testdata", "stacked", "proc")
	c, err := newFilesystemCollector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	fc := c.(*filesystemCollector)
	sizes := map[string]uint64{"/": 1 << 30, "/tmp/x": 2 << 20} // what statfs answers on each path
	fc.usage = func(_ context.Context, path string) (*disk.UsageStat, error) {
		return &disk.UsageStat{Total: sizes[path], Free: sizes[path] / 2, Used: sizes[path] / 2}, nil
	}
	res, err := fc.Update(cfg.hostContext(context.Background()))
	if err != nil {
		t.Fatal(err)
	}
	coll := &Collection{Results: []Result{res}}
	want := `
# HELP host_filesystem_size_bytes Filesystem size.
# TYPE host_filesystem_size_bytes gauge
host_filesystem_size_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/"} 1.073741824e+09
host_filesystem_size_bytes{device="upper",fstype="tmpfs",mountpoint="/tmp/x"} 2.097152e+06
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_filesystem_size_bytes"); err != nil {
		t.Fatal(err)
	}
}
