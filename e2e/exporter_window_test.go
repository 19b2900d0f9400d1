//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// startBusy runs an endless shell loop named name (a copy of /bin/sh, so
// it has a process group of its own) and returns its PID. As root it runs
// at nice -20, so that a loaded machine still gives it most of a core.
func startBusy(t *testing.T, name string) int {
	t.Helper()
	sh := copyExecutable(t, "/bin/sh", t.TempDir(), name)
	args := []string{sh, "-c", "while :; do :; done"}
	if os.Geteuid() == 0 {
		args = append([]string{"nice", "-n", "-20"}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd.Process.Pid
}

func copyExecutable(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(dir, name)
	if err := os.WriteFile(dst, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

func getSnapshot(t *testing.T, base string) *snapshot.Snapshot {
	t.Helper()
	code, body := Get(t, base+"/snapshot")
	if code != http.StatusOK {
		t.Fatalf("/snapshot status %d: %s", code, body)
	}
	var s snapshot.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

func processCPU(s *snapshot.Snapshot, pid int) (float64, bool) {
	for _, p := range s.Processes {
		if int(p.PID) == pid {
			return p.CPUPercent, true
		}
	}
	return 0, false
}

// cpuSecondsOf reads a process's user+system time from /proc, the same
// source the exporter reads, as ground truth.
func cpuSecondsOf(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100
}

// Prometheus scrapes, then the archiver asks five times in quick succession:
// every answer measures the busy loop over the CPU window, not over the
// milliseconds since the previous request. On an idle machine the loop
// gets a whole core; on a loaded one it gets less, so the figures are
// compared with what it got over the same time, read from /proc.
func TestExporterCPUPercentOverWindow(t *testing.T) {
	pid := startBusy(t, "prexbusyloop")
	base, _ := startExporter(t, "--collector.cpu.min-window=2s")
	cpu0, t0 := cpuSecondsOf(t, pid), time.Now()
	if code, _ := Get(t, base+"/metrics"); code != http.StatusOK {
		t.Fatalf("/metrics status %d", code)
	}
	time.Sleep(2200 * time.Millisecond) // the scenario: Prometheus scraped a while ago
	// Each answer is compared with what the loop got from the /metrics
	// scrape (the exporter's baseline, a window ago) to that answer.
	var reported, got []float64
	for i := range 5 {
		if i > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		s := getSnapshot(t, base)
		pct, ok := processCPU(s, pid)
		if !ok {
			t.Fatalf("request %d: busy process %d not in the snapshot", i+1, pid)
		}
		truth := 100 * (cpuSecondsOf(t, pid) - cpu0) / time.Since(t0).Seconds()
		reported, got = append(reported, pct), append(got, truth)
		if truth < 30 {
			t.Fatalf("the machine is too loaded to test: the busy loop got only %.1f %% of a core", truth)
		}
		if pct < truth-10 || pct > truth+10 {
			t.Errorf("request %d: busy loop at %.1f %% of a core, want near the %.1f it got", i+1, pct, truth)
		}
		// The loop alone keeps the host that busy on average.
		if min := 0.8 * truth / float64(len(s.CPU.PerCPUPercent)); s.CPU.UsagePercent < min {
			t.Errorf("request %d: host usage %.1f %%, want at least %.1f", i+1, s.CPU.UsagePercent, min)
		}
	}
	t.Logf("requests 20 ms apart reported %.1f; the busy loop got %.1f", reported, got)
}

var groupSeries = regexp.MustCompile(`(?m)^host_process_group_processes\{group="([^"]*)"\} `)

func groupsOf(t *testing.T, base string) []string {
	t.Helper()
	code, body := Get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics status %d", code)
	}
	var out []string
	for _, m := range groupSeries.FindAllStringSubmatch(string(body), -1) {
		out = append(out, m[1])
	}
	return out
}

// Forty one-shot commands run and exit, then a busy daemon starts: it gets
// a group of its own within three collections instead of being folded
// into "other" behind names that no longer run.
func TestExporterBusyNewcomerGetsAGroup(t *testing.T) {
	const maxGroups = 30
	base, _ := startExporter(t, fmt.Sprintf("--collector.processes.max-groups=%d", maxGroups))
	dir := t.TempDir()
	var oneshots []*exec.Cmd
	for i := range 40 {
		bin := copyExecutable(t, "/bin/sleep", dir, fmt.Sprintf("prexoneshot%02d", i))
		cmd := exec.Command(bin, "1")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		oneshots = append(oneshots, cmd)
	}
	// A collection sees them while they run: every slot is taken.
	groups := groupsOf(t, base)
	if len(groups) != maxGroups {
		t.Fatalf("%d groups while the one-shots run, want every slot (%d) taken: %v", len(groups), maxGroups, groups)
	}
	for _, cmd := range oneshots {
		if err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	busy := startBusy(t, "prexnewdaemon")
	// Busy means it has used some CPU by the time the collections look.
	WaitFor(t, 20*time.Second, "the newcomer to use 0.1 s of CPU", func() error {
		if used := cpuSecondsOf(t, busy); used < 0.1 {
			return fmt.Errorf("%.2f s used", used)
		}
		return nil
	})
	for n := 1; n <= 3; n++ {
		groups = groupsOf(t, base)
		for _, g := range groups {
			if g == "prexnewdaemon" {
				t.Logf("own group at collection %d", n)
				return
			}
		}
	}
	t.Fatalf("after three collections the busy newcomer has no group: %v", groups)
}

// Two tmpfs mounted on one directory in a private mount namespace: the
// filesystem series carry the upper one's device and size, as the kernel
// serves it. The exporter reads /proc/1/mountinfo (the host's mounts when
// it runs in a container), so it runs as PID 1 of its own PID namespace.
func TestExporterStackedMountsTopWins(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("stacked mounts need root (mount in a private namespace)")
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("unshare not installed (util-linux)")
	}
	bin := Binary(t, "exporter")
	port := FreePort(t, "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	mnt := t.TempDir()
	script := `set -e
mount -t tmpfs -o size=1m prexlower "$1"
mount -t tmpfs -o size=2m prexupper "$1"
shift
exec "$@"`
	p := Start(t, unshare, "--mount", "--propagation", "private", "--pid", "--fork", "--mount-proc", "--kill-child",
		"sh", "-c", script, "sh", mnt,
		bin, "--web.listen-address="+addr, "--collector.filesystem.fs-types-exclude=^(proc|sysfs)$")
	base := "http://" + addr
	WaitHTTP(t, p, base+"/healthz")
	code, body := Get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics status %d", code)
	}
	var lines []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(l, "host_filesystem_size_bytes{") && strings.Contains(l, `mountpoint="`+mnt+`"`) {
			lines = append(lines, l)
		}
	}
	want := fmt.Sprintf(`host_filesystem_size_bytes{device="prexupper",fstype="tmpfs",mountpoint=%q} 2.097152e+06`, mnt)
	if len(lines) != 1 || lines[0] != want {
		t.Fatalf("size series of %s:\n%s\nwant\n%s", mnt, strings.Join(lines, "\n"), want)
	}
	s := getSnapshot(t, base)
	for _, fs := range s.Filesystems {
		if fs.Mountpoint == mnt && (fs.Device != "prexupper" || fs.SizeBytes != 2<<20) {
			t.Fatalf("snapshot filesystem %+v, want prexupper of 2 MiB", fs)
		}
	}
}
