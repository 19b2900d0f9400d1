package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/shirou/gopsutil/v4/disk"
	"golang.org/x/sys/unix"
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

func TestFixtureProcMetrics(t *testing.T) {
	tests := []struct {
		collector string
		metrics   []string
		want      string
	}{
		{"vmstat", []string{"host_memory_oom_kills_total"}, `
# HELP host_memory_oom_kills_total Processes the kernel's OOM killer has killed since boot (absent before Linux 4.13).
# TYPE host_memory_oom_kills_total counter
host_memory_oom_kills_total 3
`},
		{"filefd", []string{"host_filefd_allocated", "host_filefd_maximum"}, `
# HELP host_filefd_allocated File handles the kernel has allocated (first field of /proc/sys/fs/file-nr).
# TYPE host_filefd_allocated gauge
host_filefd_allocated 1856
# HELP host_filefd_maximum Most file handles the kernel will allocate (fs.file-max).
# TYPE host_filefd_maximum gauge
host_filefd_maximum 9.223372036854776e+18
`},
		// PSI counts microseconds; only the "some" line counts.
		{"pressure", []string{"host_pressure_cpu_waiting_seconds_total", "host_pressure_io_waiting_seconds_total", "host_pressure_memory_waiting_seconds_total"}, `
# HELP host_pressure_cpu_waiting_seconds_total Seconds in which at least one task waited for a CPU (PSI "some").
# TYPE host_pressure_cpu_waiting_seconds_total counter
host_pressure_cpu_waiting_seconds_total 123.456789
# HELP host_pressure_io_waiting_seconds_total Seconds in which at least one task stalled on IO (PSI "some").
# TYPE host_pressure_io_waiting_seconds_total counter
host_pressure_io_waiting_seconds_total 0.098765
# HELP host_pressure_memory_waiting_seconds_total Seconds in which at least one task stalled on memory (PSI "some").
# TYPE host_pressure_memory_waiting_seconds_total counter
host_pressure_memory_waiting_seconds_total 2.5
`},
	}
	for _, tt := range tests {
		t.Run(tt.collector, func(t *testing.T) {
			coll := collectFixture(t, fixtureConfig(t), tt.collector)
			if err := testutil.CollectAndCompare(coll, strings.NewReader(tt.want), tt.metrics...); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A kernel without PSI or without oom_kill has no series, and the
// collector still succeeds; an unreadable file-nr fails filefd alone.
func TestProcMetricsAbsent(t *testing.T) {
	cfg := fixtureConfig(t)
	cfg.ProcPath = t.TempDir()
	if err := os.WriteFile(filepath.Join(cfg.ProcPath, "vmstat"), []byte("nr_free_pages 1\npgfault 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	coll := collectFixture(t, cfg, "pressure", "vmstat")
	if n := testutil.CollectAndCount(coll, "host_pressure_cpu_waiting_seconds_total", "host_memory_oom_kills_total"); n != 0 {
		t.Fatalf("%d series without /proc/pressure and oom_kill, want none", n)
	}
	set, err := NewSet(cfg, []string{"filefd", "vmstat"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	coll, err = set.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP host_scrape_collector_success Whether a collector succeeded in the last collection (1) or failed or timed out (0).
# TYPE host_scrape_collector_success gauge
host_scrape_collector_success{collector="filefd"} 0
host_scrape_collector_success{collector="vmstat"} 1
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_scrape_collector_success"); err != nil {
		t.Fatal(err)
	}
}

func TestTimeSynced(t *testing.T) {
	tests := []struct {
		name   string
		state  int
		tx     unix.Timex
		synced float64
		offset float64
	}{
		{"ntp in microseconds", 0, unix.Timex{Status: 0x0001, Offset: -1500}, 1, -0.0015},
		{"chrony in nanoseconds", 0, unix.Timex{Status: 0x2001, Offset: 250000}, 1, 0.00025},
		{"never synchronised", timexTimeError, unix.Timex{Status: 0x0040}, 0, 0},
		{"unsync flag with a stale ok state", 0, unix.Timex{Status: 0x0041, Offset: 7}, 0, 0.000007},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := timeCollector{adjtimex: func(tx *unix.Timex) (int, error) {
				if tx.Modes != 0 {
					t.Fatalf("adjtimex called with modes %#x: it must only read", tx.Modes)
				}
				*tx = tt.tx
				return tt.state, nil
			}}
			res, err := c.Update(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf(`
# HELP host_time_offset_seconds Offset between the kernel clock and the reference its synchronisation daemon last gave it.
# TYPE host_time_offset_seconds gauge
host_time_offset_seconds %g
# HELP host_time_synced 1 when the kernel considers its clock synchronised (NTP, PTP, chrony), 0 when not.
# TYPE host_time_synced gauge
host_time_synced %g
`, tt.offset, tt.synced)
			if err := testutil.CollectAndCompare(&Collection{Results: []Result{res}}, strings.NewReader(want)); err != nil {
				t.Fatal(err)
			}
		})
	}
	c := timeCollector{adjtimex: func(*unix.Timex) (int, error) { return 0, unix.EPERM }}
	if _, err := c.Update(context.Background()); err == nil {
		t.Fatal("a failed adjtimex reported success")
	}
}

func TestFixtureNetworkLink(t *testing.T) {
	coll := collectFixture(t, fixtureConfig(t), "network")
	// eth0: operstate up, 1000 Mbit/s; lo: operstate unknown, speed -1.
	want := `
# HELP host_network_speed_bytes Link speed in bytes per second, where the link reports one.
# TYPE host_network_speed_bytes gauge
host_network_speed_bytes{device="eth0"} 1.25e+08
# HELP host_network_up 1 when the link's operational state is up, 0 otherwise (down, dormant, unknown as for lo).
# TYPE host_network_up gauge
host_network_up{device="eth0"} 1
host_network_up{device="lo"} 0
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_network_up", "host_network_speed_bytes"); err != nil {
		t.Fatal(err)
	}
	ifs := coll.Snapshot("test").Network
	if len(ifs) != 2 || ifs[0].Device != "eth0" || ifs[0].Up == nil || !*ifs[0].Up || ifs[0].SpeedBytes != 125000000 ||
		ifs[1].Up == nil || *ifs[1].Up || ifs[1].SpeedBytes != 0 {
		t.Fatalf("network = %+v, want eth0 up at 125000000 B/s, lo not up without speed", ifs)
	}

	// A device sysfs does not know (gone, or sysfs not mounted): no series.
	cfg := fixtureConfig(t)
	cfg.SysPath = t.TempDir()
	coll = collectFixture(t, cfg, "network")
	if n := testutil.CollectAndCount(coll, "host_network_up", "host_network_speed_bytes"); n != 0 {
		t.Fatalf("%d link series without sysfs, want none", n)
	}
	if ifs := coll.Snapshot("test").Network; ifs[0].Up != nil {
		t.Fatalf("eth0 up = %v without sysfs, want absent", *ifs[0].Up)
	}
}

func TestFixtureHwmon(t *testing.T) {
	coll := collectFixture(t, fixtureConfig(t), "hwmon")
	// hwmon0: a second "Core 0" label falls back to its file name;
	// hwmon1, hwmon2: two chips named nvme, told apart by their device;
	// hwmon3: an unlabelled sensor, and one that cannot be read now;
	// hwmon4: an old driver with its files in device/.
	want := `
# HELP host_hwmon_temp_celsius Temperature a hardware sensor reports (absent where there are none, as in most VMs).
# TYPE host_hwmon_temp_celsius gauge
host_hwmon_temp_celsius{chip="acpitz",sensor="temp1"} -5.5
host_hwmon_temp_celsius{chip="coretemp",sensor="Core 0"} 43.5
host_hwmon_temp_celsius{chip="coretemp",sensor="Package id 0"} 45
host_hwmon_temp_celsius{chip="coretemp",sensor="temp10"} 44
host_hwmon_temp_celsius{chip="it87",sensor="temp1"} 31
host_hwmon_temp_celsius{chip="nvme_nvme0",sensor="Composite"} 38.85
host_hwmon_temp_celsius{chip="nvme_nvme1",sensor="Composite"} 40.85
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_hwmon_temp_celsius"); err != nil {
		t.Fatal(err)
	}

	// A VM has no /sys/class/hwmon: no series, and no failure.
	cfg := fixtureConfig(t)
	cfg.SysPath = t.TempDir()
	if n := testutil.CollectAndCount(collectFixture(t, cfg, "hwmon"), "host_hwmon_temp_celsius"); n != 0 {
		t.Fatalf("%d temperatures without hwmon, want none", n)
	}
}

func TestPSISomeTotal(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"some avg10=0.00 avg60=0.00 avg300=0.00 total=42\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n", 42, true},
		{"full avg10=0.00 avg60=0.00 avg300=0.00 total=7\nsome avg10=0.00 avg60=0.00 avg300=0.00 total=9", 9, true},
		{"some avg10=0.00 avg60=0.00 avg300=0.00\n", 0, false},
		{"some total=-1\n", 0, false},
		{"", 0, false},
	} {
		got, err := psiSomeTotal([]byte(tc.in))
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("psiSomeTotal(%q) = %d, %v; want %d, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func TestVMStatField(t *testing.T) {
	b := []byte("oom_kill_other 5\noom_kill 17\npgfault 3\n")
	if v, ok, err := vmstatField(b, "oom_kill"); v != 17 || !ok || err != nil {
		t.Fatalf("oom_kill = %d, %v, %v; want 17", v, ok, err)
	}
	if _, ok, err := vmstatField(b, "missing"); ok || err != nil {
		t.Fatalf("missing field: ok %v, err %v; want absent without error", ok, err)
	}
	if _, _, err := vmstatField([]byte("oom_kill x\n"), "oom_kill"); err == nil {
		t.Fatal("a malformed value parsed")
	}
}
