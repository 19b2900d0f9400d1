//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prexmon/prexmon/archiver/intake"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// wineFamilies are the SPEC families a Windows exporter serves under Wine 8.
// Wine lacks per-CPU times, swap and disk IO counters, so the cpu, memory
// and disk families are checked separately against their collector's status.
var wineFamilies = []string{
	"host_filesystem_size_bytes", "host_filesystem_free_bytes", "host_filesystem_avail_bytes",
	"host_network_receive_bytes_total", "host_network_transmit_bytes_total", "host_network_receive_packets_total", "host_network_transmit_packets_total",
	"host_network_receive_errors_total", "host_network_transmit_errors_total", "host_network_receive_drops_total", "host_network_transmit_drops_total",
	"host_boot_time_seconds", "host_os_info", "host_users_sessions",
	"host_processes", "host_process_threads", "host_process_group_cpu_seconds_total", "host_process_group_resident_memory_bytes", "host_process_group_processes",
	"host_scrape_collector_duration_seconds", "host_scrape_collector_success", "host_exporter_build_info",
	"go_goroutines", "process_resident_memory_bytes",
	"host_network_up", "host_process_handles",
}

// linuxOnlyFamilies are version 2 families for quantities Windows does not
// have: they must be absent, not zero.
var linuxOnlyFamilies = []string{
	"host_filesystem_files", "host_filesystem_files_free", "host_memory_oom_kills_total",
	"host_filefd_allocated", "host_filefd_maximum", "host_pressure_cpu_waiting_seconds_total", "host_hwmon_temp_celsius",
}

// grepStderr is what a failed command wrote to stderr, if it ran.
func grepStderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}

// wineAbsentFamilies are families a Windows exporter serves only where
// their source exists: Wine 8 has neither the W32Time service nor its
// performance counters, so the time collector succeeds with no series
// rather than a false 0.
var wineAbsentFamilies = []string{"host_time_synced", "host_time_offset_seconds"}

// wineGaps are the collectors Wine 8 cannot serve, with the families each
// would produce. If a newer Wine serves one, its families must then appear.
var wineGaps = map[string][]string{
	"cpu":    {"host_cpu_seconds_total", "host_cpu_logical_cores"},
	"memory": {"host_memory_total_bytes", "host_memory_available_bytes", "host_memory_used_bytes", "host_swap_total_bytes", "host_swap_used_bytes"},
	"disk":   {"host_disk_read_bytes_total", "host_disk_written_bytes_total", "host_disk_reads_completed_total", "host_disk_writes_completed_total", "host_disk_io_time_seconds_total", "host_disk_read_time_seconds_total", "host_disk_write_time_seconds_total"},
}

// TestWine runs Windows builds under Wine in one prefix (wineboot is the
// slow part): the exporter itself, the collector package's Windows-only
// unit tests, and the exporter as a service.
func TestWine(t *testing.T) {
	env := wineEnv(t)
	t.Run("exporter", func(t *testing.T) { wineExporter(t, env) })
	t.Run("windows unit tests", func(t *testing.T) { wineWindowsUnitTests(t, env) })
	t.Run("service", func(t *testing.T) { wineService(t, env) })
	t.Run("service install", func(t *testing.T) { wineServiceInstall(t, env) })
}

// wineExporter runs the Windows build of the exporter: the Windows
// collectors (WTS sessions, the NtQuerySystemInformation process table) run
// for real, and collectors Wine cannot serve must fail alone.
func wineExporter(t *testing.T, env []string) {
	exe := Binary(t, "exporter", "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	// A push target with credentials, on a port nobody listens on: the
	// exporter's own command line then carries a secret to be redacted.
	pushURL := fmt.Sprintf("http://agent:hunter2@127.0.0.1:%d/", FreePort(t, "127.0.0.1"))
	p := StartEnv(t, env, "wine", exe, "--web.listen-address="+addr, "--push.url="+pushURL, "--push.interval=1h")
	base := "http://" + addr
	WaitHTTP(t, p, base+"/healthz")

	// Two scrapes: the second has deltas for CPU percentages.
	Get(t, base+"/metrics")
	code, body := Get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics status %d", code)
	}

	t.Run("metrics clean", func(t *testing.T) {
		promtool := NeedCommand(t, "promtool")
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(body)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	})

	t.Run("families", func(t *testing.T) {
		got := families(body)
		for _, f := range wineFamilies {
			if !got[f] {
				t.Errorf("family %s missing from /metrics", f)
			}
		}
		for _, f := range []string{"host_load1", "host_load5", "host_load15"} {
			if got[f] {
				t.Errorf("%s served on Windows, which has no load average", f)
			}
		}
		for _, f := range linuxOnlyFamilies {
			if got[f] {
				t.Errorf("%s served on Windows, which has no such quantity", f)
			}
		}
		for _, f := range wineAbsentFamilies {
			if got[f] {
				t.Errorf("%s served under Wine, which has no Windows Time service:\n%s", f, grepLines(body, f))
			}
		}
		if !strings.Contains(string(body), `os="windows"`) {
			t.Errorf("host_os_info does not say windows:\n%s", grepLines(body, "host_os_info"))
		}
	})

	t.Run("graceful degradation", func(t *testing.T) {
		for _, c := range []string{"filesystem", "host", "network", "processes", "users", "time"} {
			if !strings.Contains(string(body), fmt.Sprintf(`host_scrape_collector_success{collector=%q} 1`, c)) {
				t.Errorf("collector %s failed under Wine:\n%s", c, grepLines(body, "host_scrape_collector_success"))
			}
		}
		got := families(body)
		failed := 0
		for c, fams := range wineGaps {
			ok := strings.Contains(string(body), fmt.Sprintf(`host_scrape_collector_success{collector=%q} 1`, c))
			if !ok {
				failed++
				if !strings.Contains(string(body), fmt.Sprintf(`host_scrape_collector_success{collector=%q} 0`, c)) {
					t.Errorf("collector %s reports no status", c)
				}
			}
			for _, f := range fams {
				if got[f] != ok {
					t.Errorf("collector %s success=%v but family %s present=%v", c, ok, f, got[f])
				}
			}
		}
		t.Logf("%d of %d collectors with known Wine gaps failed, the rest of /metrics was served", failed, len(wineGaps))
	})

	t.Run("snapshot", func(t *testing.T) {
		code, raw := Get(t, base+"/snapshot")
		if code != http.StatusOK {
			t.Fatalf("/snapshot status %d", code)
		}
		if err := intake.CheckRaw(raw); err != nil {
			t.Fatal(err)
		}
		var s snapshot.Snapshot
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			t.Fatalf("decode snapshot: %v", err)
		}
		if s.Host == nil || s.Host.OS != "windows" || s.Host.BootTime.IsZero() {
			t.Errorf("host section: %+v", s.Host)
		}
		if len(s.Filesystems) == 0 || len(s.Network) == 0 {
			t.Errorf("%d filesystems, %d interfaces", len(s.Filesystems), len(s.Network))
		}
		var self *snapshot.Process
		for i, pr := range s.Processes {
			if pr.Name == "" || pr.StartedAt.IsZero() || pr.Threads < 1 && pr.State != "zombie" {
				t.Errorf("incomplete process %+v", pr)
			}
			if strings.EqualFold(pr.Name, filepath.Base(exe)) {
				self = &s.Processes[i]
			}
		}
		if self == nil {
			t.Fatalf("%s not among %d processes", filepath.Base(exe), len(s.Processes))
		}
		if self.Exe == "" || self.User == "" || self.RSSBytes == 0 || self.CPUSeconds <= 0 {
			t.Errorf("exporter's own process incomplete: %+v", *self)
		}
		// Wine 8.0 lacks ProcessCommandLineInformation (which every Windows Go
		// supports has), so the command line may be empty; never unredacted.
		if strings.Contains(string(raw), "hunter2") ||
			self.Cmdline != "" && (!strings.Contains(self.Cmdline, "--web.listen-address="+addr) || !strings.Contains(self.Cmdline, "agent:***@")) {
			t.Errorf("command line not redacted: %q", self.Cmdline)
		}
		for c := range wineGaps {
			if _, failed := s.Errors[c]; failed && strings.Contains(string(body), fmt.Sprintf(`host_scrape_collector_success{collector=%q} 1`, c)) {
				t.Errorf("snapshot says %s failed but /metrics says it succeeded", c)
			}
		}
	})
}

// wineWindowsUnitTests runs the collector package's Windows-only tests
// (process table layout against x/sys/windows, the real process table and
// WTS calls), so CI on Linux exercises them on every change.
func wineWindowsUnitTests(t *testing.T, env []string) {
	bin := filepath.Join(t.TempDir(), "collector.test.exe")
	build := exec.Command("go", "test", "-c", "-o", bin, "./exporter/collector")
	build.Dir = RepoRoot()
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build Windows test binary: %v\n%s", err, out)
	}
	p := StartEnv(t, env, "wine", bin, "-test.v", "-test.count=1",
		"-test.run", "^(TestProcessTableLayout|TestProcessesFindsItself|TestSessionsCall|TestCPUModesPartitionTime|TestDiskIOTimesCall|TestPerformanceInformationLayout|TestProcessHandles|TestWindowsNetLink|TestPDHQuery|TestTimeCollectorSeries|TestW32TimeCall)$")
	if err := p.Wait(t, time.Minute); err != nil {
		t.Fatalf("Windows unit tests failed under Wine: %v\n%s", err, p.Output())
	}
	for _, name := range []string{"TestProcessTableLayout", "TestProcessesFindsItself", "TestSessionsCall", "TestCPUModesPartitionTime", "TestDiskIOTimesCall", "TestPerformanceInformationLayout", "TestProcessHandles", "TestWindowsNetLink", "TestPDHQuery", "TestTimeCollectorSeries", "TestW32TimeCall"} {
		if !strings.Contains(p.Output(), "--- PASS: "+name) {
			t.Errorf("%s did not pass:\n%s", name, p.Output())
		}
	}
}

// wineService installs the exporter as a service with Wine's sc.exe and
// checks the handshake with the service control manager: the service
// reaches RUNNING and serves, `sc stop` stops it cleanly (exit code 0, the
// process gone, the port closed), its log goes to %ProgramData%\prexmon,
// and a start that fails (a bad flag) ends STOPPED with the program's exit
// status as service-specific exit code, which is what recovery acts on.
func wineService(t *testing.T, env []string) {
	exe := windowsPath(Binary(t, "exporter", "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0"))
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	const name = "prexmon-exporter"
	install := func(args string) {
		t.Helper()
		_, _ = wineCmd(t, env, "sc", "delete", name)
		if out, err := wineCmd(t, env, "sc", "create", name, "binpath=", exe+" "+args, "start=", "demand"); err != nil {
			t.Fatalf("sc create: %v\n%s", err, out)
		}
	}
	waitState := func(want, wantExit string) {
		t.Helper()
		WaitFor(t, 30*time.Second, "service "+want, func() error {
			state, code, err := serviceQuery(t, env, name)
			if err != nil {
				return err
			}
			if state != want || wantExit != "" && code != wantExit {
				return fmt.Errorf("state %s, service exit code %s", state, code)
			}
			return nil
		})
	}

	install("--web.listen-address=" + addr)
	if out, err := wineCmd(t, env, "sc", "start", name); err != nil {
		t.Fatalf("sc start: %v\n%s", err, out)
	}
	WaitHTTP(t, nil, "http://"+addr+"/healthz")
	waitState("RUNNING", "")
	if code, body := Get(t, "http://"+addr+"/metrics"); code != http.StatusOK || !bytes.Contains(body, []byte("host_processes")) {
		t.Errorf("/metrics from the service: status %d", code)
	}

	if out, err := wineCmd(t, env, "sc", "stop", name); err != nil {
		t.Fatalf("sc stop: %v\n%s", err, out)
	}
	waitState("STOPPED", "0")
	WaitFor(t, 15*time.Second, "port closed", func() error {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return fmt.Errorf("still serving after stop")
		}
		return nil
	})
	log, err := serviceLog(env)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`msg="starting exporter"`, "stop requested by the service control manager", "exit status 0"} {
		if !strings.Contains(log, want) {
			t.Errorf("service log lacks %q:\n%s", want, log)
		}
	}

	install("--no-such-flag")
	_, _ = wineCmd(t, env, "sc", "start", name)
	waitState("STOPPED", "2")
	WaitFor(t, 10*time.Second, "flag error in the log", func() error {
		log, err := serviceLog(env)
		if err != nil {
			return err
		}
		if !strings.Contains(log, "no-such-flag") || !strings.Contains(log, "exit status 2") {
			return fmt.Errorf("log lacks the flag error:\n%s", log)
		}
		return nil
	})
}

// wineServiceInstall has the exporter install and remove itself through
// the service control manager: winsvc's Windows test installs, upgrades,
// reads the registration back from the manager and uninstalls; then the
// real `exporter service install` registers a service that starts and
// serves, `exporter service uninstall` stops and removes it while it runs,
// and an install with a flag the exporter refuses, or with an account whose
// SID cannot be looked up, registers nothing.
func wineServiceInstall(t *testing.T, env []string) {
	bin := filepath.Join(t.TempDir(), "winsvc.test.exe")
	build := exec.Command("go", "test", "-c", "-o", bin, "./exporter/winsvc")
	build.Dir = RepoRoot()
	build.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build Windows test binary: %v\n%s", err, out)
	}
	p := StartEnv(t, append(env, "PREXMON_SERVICE_TEST=1"), "wine", bin, "-test.v", "-test.count=1", "-test.run", "^(TestInstallUninstall|TestLookupAccountSID)$")
	if err := p.Wait(t, time.Minute); err != nil {
		t.Fatalf("winsvc tests under Wine: %v\n%s", err, p.Output())
	}
	for _, name := range []string{"TestInstallUninstall", "TestLookupAccountSID"} {
		if !strings.Contains(p.Output(), "--- PASS: "+name) {
			t.Fatalf("winsvc.%s did not pass under Wine:\n%s", name, p.Output())
		}
	}

	exe := Binary(t, "exporter", "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	const name = "prexmon-exporter"
	_, _ = wineCmd(t, env, "sc", "delete", name)
	if out, err := wineCmd(t, env, exe, "service", "install", "--", "--web.listen-address="+addr); err != nil {
		t.Fatalf("exporter service install: %v\n%s", err, out)
	}
	if state, _, err := serviceQuery(t, env, name); err != nil || state != "STOPPED" {
		t.Fatalf("after install: state %q, %v; want a registered, stopped service", state, err)
	}
	if out, err := wineCmd(t, env, "sc", "start", name); err != nil {
		t.Fatalf("sc start: %v\n%s", err, out)
	}
	WaitHTTP(t, nil, "http://"+addr+"/healthz")

	if out, err := wineCmd(t, env, exe, "service", "uninstall"); err != nil {
		t.Fatalf("exporter service uninstall: %v\n%s", err, out)
	}
	if state, _, err := serviceQuery(t, env, name); err == nil {
		t.Errorf("after uninstall the service is still registered (%s)", state)
	}
	WaitFor(t, 15*time.Second, "port closed", func() error {
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			return fmt.Errorf("still serving after uninstall")
		}
		return nil
	})

	out, err := wineCmd(t, env, exe, "service", "install", "--", "--no-such-flag")
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Errorf("install with a bad exporter flag: %v, want exit status 2\n%s", err, out)
	}
	if state, _, err := serviceQuery(t, env, name); err == nil {
		t.Errorf("install with a bad exporter flag registered the service (%s)", state)
	}

	// The log folder's ACL needs the account's SID: an account that does
	// not resolve is refused before anything is registered.
	out, err = wineCmd(t, env, exe, "service", "install", `--account=PREXMON-NO-SUCH-DOMAIN\nobody`)
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(ee.Stderr), "cannot resolve its SID") {
		t.Errorf("install with an unknown account: %v, want exit status 1 naming the SID lookup\n%s", err, grepStderr(err))
	}
	if state, _, err := serviceQuery(t, env, name); err == nil {
		t.Errorf("install with an unknown account registered the service (%s)", state)
	}
}
