package collector

import (
	"context"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// fixtureConfig points every collector at testdata/root, a miniature host.
func fixtureConfig(t *testing.T) Config {
	t.Helper()
	root, err := filepath.Abs("testdata/root")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ProcPath = filepath.Join(root, "proc")
	cfg.SysPath = filepath.Join(root, "sys")
	cfg.RootPath = root
	return cfg
}

func collectFixture(t *testing.T, cfg Config, names ...string) *Collection {
	t.Helper()
	set, err := NewSet(cfg, names)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	coll, err := set.Collect(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range coll.Statuses {
		if st.Err != nil {
			t.Fatalf("collector %s failed: %v", st.Name, st.Err)
		}
	}
	return coll
}

func TestFixtureMetrics(t *testing.T) {
	tests := []struct {
		collector string
		metrics   []string
		want      string
	}{
		{"memory", []string{"host_memory_total_bytes", "host_memory_available_bytes", "host_memory_used_bytes", "host_swap_total_bytes", "host_swap_used_bytes"}, `
# HELP host_memory_available_bytes Memory available to new work without swapping (MemAvailable on Linux, available physical memory on Windows).
# TYPE host_memory_available_bytes gauge
host_memory_available_bytes 8.318418944e+09
# HELP host_memory_total_bytes Physical memory size.
# TYPE host_memory_total_bytes gauge
host_memory_total_bytes 1.6427147264e+10
# HELP host_memory_used_bytes Memory in use: total minus available, computed the same way on every OS.
# TYPE host_memory_used_bytes gauge
host_memory_used_bytes 8.10872832e+09
# HELP host_swap_total_bytes Swap size (page file on Windows).
# TYPE host_swap_total_bytes gauge
host_swap_total_bytes 2.147479552e+09
# HELP host_swap_used_bytes Swap in use (page file on Windows).
# TYPE host_swap_used_bytes gauge
host_swap_used_bytes 1.073739776e+09
`},
		{"disk", []string{"host_disk_read_bytes_total", "host_disk_io_time_seconds_total"}, `
# HELP host_disk_io_time_seconds_total Seconds the device spent doing IO; its rate is utilisation.
# TYPE host_disk_io_time_seconds_total counter
host_disk_io_time_seconds_total{device="sda"} 2.5
# HELP host_disk_read_bytes_total Bytes read from the device.
# TYPE host_disk_read_bytes_total counter
host_disk_read_bytes_total{device="sda"} 1.048576e+08
`},
		{"network", []string{"host_network_receive_bytes_total", "host_network_receive_drops_total", "host_network_transmit_errors_total"}, `
# HELP host_network_receive_bytes_total Bytes received.
# TYPE host_network_receive_bytes_total counter
host_network_receive_bytes_total{device="eth0"} 9.876543e+06
host_network_receive_bytes_total{device="lo"} 123456
# HELP host_network_receive_drops_total Received packets dropped.
# TYPE host_network_receive_drops_total counter
host_network_receive_drops_total{device="eth0"} 7
host_network_receive_drops_total{device="lo"} 0
# HELP host_network_transmit_errors_total Transmit errors.
# TYPE host_network_transmit_errors_total counter
host_network_transmit_errors_total{device="eth0"} 1
host_network_transmit_errors_total{device="lo"} 0
`},
		{"cpu", []string{"host_cpu_logical_cores", "host_load15"}, `
# HELP host_cpu_logical_cores Number of logical CPUs.
# TYPE host_cpu_logical_cores gauge
host_cpu_logical_cores 2
# HELP host_load15 15-minute load average (absent on Windows, which has none).
# TYPE host_load15 gauge
host_load15 0.75
`},
		{"processes", []string{"host_processes", "host_process_threads", "host_process_group_processes", "host_process_group_cpu_seconds_total"}, `
# HELP host_process_group_cpu_seconds_total CPU seconds used by the processes of a name group since the exporter started watching them (processes new at start count in full); it never drops when processes exit.
# TYPE host_process_group_cpu_seconds_total counter
host_process_group_cpu_seconds_total{group="my (odd) app"} 3
host_process_group_cpu_seconds_total{group="systemd"} 22
# HELP host_process_group_processes Processes in a name group.
# TYPE host_process_group_processes gauge
host_process_group_processes{group="my (odd) app"} 1
host_process_group_processes{group="systemd"} 1
# HELP host_process_threads Threads of all processes.
# TYPE host_process_threads gauge
host_process_threads 5
# HELP host_processes Processes by state.
# TYPE host_processes gauge
host_processes{state="running"} 1
host_processes{state="sleeping"} 1
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

func TestFixtureCPUSeconds(t *testing.T) {
	coll := collectFixture(t, fixtureConfig(t), "cpu")
	// /proc/stat counts ticks of 1/100 s: cpu0 user 1393280 is 13932.8 s.
	want := `
# HELP host_cpu_seconds_total Seconds the CPUs spent in each mode.
# TYPE host_cpu_seconds_total counter
host_cpu_seconds_total{cpu="0",mode="idle"} 133432.92
host_cpu_seconds_total{cpu="0",mode="iowait"} 61.3
host_cpu_seconds_total{cpu="0",mode="irq"} 0
host_cpu_seconds_total{cpu="0",mode="nice"} 329.66
host_cpu_seconds_total{cpu="0",mode="softirq"} 178.75
host_cpu_seconds_total{cpu="0",mode="steal"} 0
host_cpu_seconds_total{cpu="0",mode="system"} 5720.56
host_cpu_seconds_total{cpu="0",mode="user"} 13932.8
host_cpu_seconds_total{cpu="1",mode="idle"} 133817.33
host_cpu_seconds_total{cpu="1",mode="iowait"} 53.93
host_cpu_seconds_total{cpu="1",mode="irq"} 0
host_cpu_seconds_total{cpu="1",mode="nice"} 319.28
host_cpu_seconds_total{cpu="1",mode="softirq"} 42.53
host_cpu_seconds_total{cpu="1",mode="steal"} 0
host_cpu_seconds_total{cpu="1",mode="system"} 5639.45
host_cpu_seconds_total{cpu="1",mode="user"} 13355.15
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_cpu_seconds_total"); err != nil {
		t.Fatal(err)
	}
}

func TestFixtureSnapshotProcesses(t *testing.T) {
	coll := collectFixture(t, fixtureConfig(t), "processes")
	s := coll.Snapshot("test")
	if len(s.Processes) != 2 {
		t.Fatalf("got %d processes, want 2: %+v", len(s.Processes), s.Processes)
	}
	var app snapshot.Process
	for _, p := range s.Processes {
		if p.PID == 4242 {
			app = p
		}
	}
	want := snapshot.Process{
		PID: 4242, PPID: 1, Name: "my (odd) app", User: "bob", State: "running",
		Cmdline: "python3 serve.py --password=*** --port 8080", CPUSeconds: 3, RSSBytes: 2560 * uint64(os.Getpagesize()), Threads: 4,
	}
	app.StartedAt = time.Time{}
	if app != want {
		t.Fatalf("process 4242 =\n%+v\nwant\n%+v", app, want)
	}
}

func TestFixtureCmdlineOff(t *testing.T) {
	cfg := fixtureConfig(t)
	cfg.ProcessCmdline = false
	for _, p := range collectFixture(t, cfg, "processes").Snapshot("test").Processes {
		if p.Cmdline != "" {
			t.Fatalf("process %d has cmdline %q with --snapshot.cmdline=false", p.PID, p.Cmdline)
		}
	}
}

func TestFixtureFilesystemHungOrMissingMount(t *testing.T) {
	coll := collectFixture(t, fixtureConfig(t), "filesystem")
	want := `
# HELP host_filesystem_device_error 1 when the filesystem could not be read, for example a hung network mount.
# TYPE host_filesystem_device_error gauge
host_filesystem_device_error{device="/dev/sda1",fstype="ext4",mountpoint="/"} 0
host_filesystem_device_error{device="/dev/sda2",fstype="ext4",mountpoint="/srv"} 1
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_filesystem_device_error"); err != nil {
		t.Fatal(err)
	}
	s := coll.Snapshot("test")
	if len(s.Filesystems) != 1 || s.Filesystems[0].Mountpoint != "/" || s.Filesystems[0].SizeBytes == 0 {
		t.Fatalf("filesystems = %+v, want only / with a size", s.Filesystems)
	}
}

// utmpRecord builds one Linux utmp record (struct utmp, 384 bytes on the
// 64-bit architectures Go supports).
func utmpRecord(typ int16, user, line, host string, started int32) []byte {
	b := make([]byte, 384)
	binary.LittleEndian.PutUint16(b[0:], uint16(typ))
	binary.LittleEndian.PutUint32(b[4:], 1234)
	copy(b[8:40], line)
	copy(b[44:76], user)
	copy(b[76:332], host)
	binary.LittleEndian.PutUint32(b[340:], uint32(started))
	return b
}

func TestUtmpSessions(t *testing.T) {
	const userProcess, deadProcess = 7, 8
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	// As on current distributions: /var/run is an absolute link to /run,
	// which must not be followed out of the root.
	if err := os.MkdirAll(filepath.Join(root, "var"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/run", filepath.Join(root, "var", "run")); err != nil {
		t.Fatal(err)
	}
	var utmp []byte
	utmp = append(utmp, utmpRecord(userProcess, "alice", "pts/0", "10.1.2.3", 1700000100)...)
	utmp = append(utmp, utmpRecord(userProcess, "alice", "pts/1", "10.1.2.4", 1700000200)...)
	utmp = append(utmp, utmpRecord(deadProcess, "gone", "pts/2", "", 1700000300)...)
	utmp = append(utmp, utmpRecord(userProcess, "bob", "tty1", "", 1700000400)...)
	if err := os.WriteFile(filepath.Join(root, "run", "utmp"), utmp, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.RootPath = root
	coll := collectFixture(t, cfg, "users")
	want := `
# HELP host_user_sessions Logged-in sessions per user.
# TYPE host_user_sessions gauge
host_user_sessions{user="alice"} 2
host_user_sessions{user="bob"} 1
# HELP host_users_sessions Logged-in sessions.
# TYPE host_users_sessions gauge
host_users_sessions 3
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_user_sessions", "host_users_sessions"); err != nil {
		t.Fatal(err)
	}
	users := coll.Snapshot("test").Users
	if users[0].User != "alice" || users[0].Terminal != "pts/0" || users[0].Host != "10.1.2.3" || users[0].StartedAt.Unix() != 1700000100 {
		t.Fatalf("first session = %+v", users[0])
	}
}

func TestNoUtmpIsZeroSessions(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RootPath = t.TempDir()
	coll := collectFixture(t, cfg, "users")
	if err := testutil.CollectAndCompare(coll, strings.NewReader(`
# HELP host_users_sessions Logged-in sessions.
# TYPE host_users_sessions gauge
host_users_sessions 0
`), "host_users_sessions"); err != nil {
		t.Fatal(err)
	}
}

func TestFixtureNetworkDeviceExclude(t *testing.T) {
	for _, tc := range []struct {
		exclude string
		want    []string
	}{
		{"", []string{"eth0", "lo"}},
		{"^lo$", []string{"eth0"}},
		{"^(eth|lo)", nil},
	} {
		cfg := fixtureConfig(t)
		cfg.NetworkDeviceExclude = tc.exclude
		coll := collectFixture(t, cfg, "network")
		var got []string
		for _, n := range coll.Snapshot("test").Network {
			got = append(got, n.Device)
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("exclude %q: snapshot devices %v, want %v", tc.exclude, got, tc.want)
		}
		if n := testutil.CollectAndCount(coll, "host_network_receive_bytes_total"); n != len(tc.want) {
			t.Errorf("exclude %q: %d receive series, want %d", tc.exclude, n, len(tc.want))
		}
	}
	cfg := fixtureConfig(t)
	cfg.NetworkDeviceExclude = "("
	if _, err := NewSet(cfg, []string{"network"}); err == nil || !strings.Contains(err.Error(), "device-exclude") {
		t.Fatalf("bad regexp: %v, want an error naming the flag", err)
	}
}
