//go:build linux

package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/prexmon/prexmon/archiver/intake"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// specFamilies are the metric families SPEC.md promises on a Linux host.
var specFamilies = []string{
	"host_cpu_seconds_total", "host_cpu_logical_cores", "host_load1", "host_load5", "host_load15",
	"host_memory_total_bytes", "host_memory_available_bytes", "host_memory_used_bytes", "host_swap_total_bytes", "host_swap_used_bytes",
	"host_filesystem_size_bytes", "host_filesystem_free_bytes", "host_filesystem_avail_bytes",
	"host_disk_read_bytes_total", "host_disk_written_bytes_total", "host_disk_reads_completed_total", "host_disk_writes_completed_total", "host_disk_io_time_seconds_total",
	"host_network_receive_bytes_total", "host_network_transmit_bytes_total", "host_network_receive_packets_total", "host_network_transmit_packets_total",
	"host_network_receive_errors_total", "host_network_transmit_errors_total", "host_network_receive_drops_total", "host_network_transmit_drops_total",
	"host_boot_time_seconds", "host_os_info", "host_users_sessions",
	"host_processes", "host_process_threads", "host_process_group_cpu_seconds_total", "host_process_group_resident_memory_bytes", "host_process_group_processes",
	"host_scrape_collector_duration_seconds", "host_scrape_collector_success", "host_exporter_build_info",
	"go_goroutines", "process_resident_memory_bytes",
	// Version 2.
	"host_filesystem_files", "host_filesystem_files_free", "host_memory_oom_kills_total",
	"host_time_synced", "host_time_offset_seconds", "host_filefd_allocated", "host_filefd_maximum",
	"host_disk_read_time_seconds_total", "host_disk_write_time_seconds_total", "host_network_up",
}

// hostHasFamilies are version 2 families a Linux host serves when the
// kernel or hardware has the quantity: when a file matching path reads as
// a value valid accepts.
var hostHasFamilies = []struct {
	family, path string
	valid        func(string) bool
}{
	{"host_pressure_cpu_waiting_seconds_total", "/proc/pressure/cpu", isPSI},
	{"host_pressure_memory_waiting_seconds_total", "/proc/pressure/memory", isPSI},
	{"host_pressure_io_waiting_seconds_total", "/proc/pressure/io", isPSI},
	{"host_network_speed_bytes", "/sys/class/net/*/speed", func(v string) bool { n, err := strconv.Atoi(v); return err == nil && n > 0 }},
	{"host_hwmon_temp_celsius", "/sys/class/hwmon/*/temp*_input", func(v string) bool { _, err := strconv.Atoi(v); return err == nil }},
}

func isPSI(v string) bool { return strings.HasPrefix(v, "some ") }

// startExporter runs the exporter on a free loopback port and waits until
// it serves; it returns the base URL.
func startExporter(t *testing.T, args ...string) (string, *Proc) {
	t.Helper()
	bin := Binary(t, "exporter")
	port := FreePort(t, "127.0.0.1")
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p := Start(t, bin, append([]string{"--web.listen-address=" + addr}, args...)...)
	base := "http://" + addr
	WaitHTTP(t, p, base+"/healthz")
	return base, p
}

func families(metrics []byte) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(string(metrics), "\n") {
		if strings.HasPrefix(line, "# TYPE ") {
			out[strings.Fields(line)[2]] = true
		}
	}
	return out
}

func TestExporterMetricsAreCleanAndComplete(t *testing.T) {
	promtool := NeedCommand(t, "promtool")
	base, _ := startExporter(t)
	code, body := Get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics status %d", code)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
	got := families(body)
	for _, f := range specFamilies {
		if !got[f] {
			t.Errorf("family %s missing from /metrics", f)
		}
	}
	for _, h := range hostHasFamilies {
		if want := hostHas(h.path, h.valid); got[h.family] != want {
			t.Errorf("family %s served=%v, but this host has %s: %v", h.family, got[h.family], h.path, want)
		}
	}
	if !strings.Contains(string(body), `host_scrape_collector_success{collector="processes"} 1`) {
		t.Errorf("processes collector did not succeed:\n%s", grepLines(body, "host_scrape_collector"))
	}
}

// hostHas reports whether a file matching pattern holds a valid value.
func hostHas(pattern string, valid func(string) bool) bool {
	matches, _ := filepath.Glob(pattern)
	for _, m := range matches {
		if b, err := os.ReadFile(m); err == nil && valid(strings.TrimSpace(string(b))) {
			return true
		}
	}
	return false
}

func TestExporterSnapshotHasOurProcessRedacted(t *testing.T) {
	const secret = "s3cr3tvalue"
	child := exec.Command("sh", "-c", "while :; do sleep 1; done", "prexmon-e2e-marker", "--token", secret, "password="+secret)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	base, _ := startExporter(t)
	code, body := Get(t, base+"/snapshot")
	if code != http.StatusOK {
		t.Fatalf("/snapshot status %d: %s", code, body)
	}
	var s snapshot.Snapshot
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("snapshot does not match the schema: %v", err)
	}
	if s.SchemaVersion != snapshot.SchemaVersion || s.CollectedAt.IsZero() || s.Host == nil || s.CPU == nil || s.Memory == nil ||
		len(s.Filesystems) == 0 || len(s.Network) == 0 || s.Users == nil || len(s.Processes) < 2 || len(s.Errors) != 0 {
		t.Fatalf("snapshot incomplete: version %d, host %v, cpu %v, memory %v, %d filesystems, %d interfaces, %d processes, errors %v",
			s.SchemaVersion, s.Host, s.CPU, s.Memory, len(s.Filesystems), len(s.Network), len(s.Processes), s.Errors)
	}
	if strings.Contains(string(body), secret) {
		t.Fatalf("the secret %q leaked into the snapshot", secret)
	}
	for _, p := range s.Processes {
		if int(p.PID) != child.Process.Pid {
			continue
		}
		if !strings.Contains(p.Cmdline, "prexmon-e2e-marker --token *** password=***") || p.Name != "sh" || p.PPID != int32(os.Getpid()) || p.StartedAt.IsZero() {
			t.Fatalf("our process = %+v", p)
		}
		return
	}
	t.Fatalf("process %d not in the snapshot", child.Process.Pid)
}

func TestExporterCmdlineOff(t *testing.T) {
	base, _ := startExporter(t, "--snapshot.cmdline=false")
	_, body := Get(t, base+"/snapshot")
	var s snapshot.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Processes {
		if p.Cmdline != "" {
			t.Fatalf("process %d has a command line with --snapshot.cmdline=false: %q", p.PID, p.Cmdline)
		}
	}
	if len(s.Processes) == 0 {
		t.Fatal("no processes")
	}
}

func TestExporterNoCollectorRemovesItsMetrics(t *testing.T) {
	base, _ := startExporter(t, "--no-collector.processes", "--no-collector.disk")
	_, body := Get(t, base+"/metrics")
	got := families(body)
	for _, f := range []string{"host_processes", "host_process_group_processes", "host_disk_read_bytes_total"} {
		if got[f] {
			t.Errorf("%s still present with its collector disabled", f)
		}
	}
	if !got["host_memory_total_bytes"] {
		t.Error("memory collector should still run")
	}
	if strings.Contains(string(body), `collector="processes"`) {
		t.Error("a disabled collector still reports a scrape status")
	}
	_, body = Get(t, base+"/snapshot")
	var s snapshot.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	if s.Processes != nil || s.Disks != nil {
		t.Errorf("disabled sections present in snapshot: %d processes, %d disks", len(s.Processes), len(s.Disks))
	}
}

func TestExporterCompression(t *testing.T) {
	base, _ := startExporter(t)
	for _, tc := range []struct{ path, accept, want string }{
		{"/snapshot", "gzip", "gzip"},
		{"/snapshot", snapshot.AcceptEncoding, "zstd"}, // what the archiver asks for
		{"/metrics", "gzip", "gzip"},
	} {
		req, _ := http.NewRequest(http.MethodGet, base+tc.path, nil)
		req.Header.Set("Accept-Encoding", tc.accept)
		resp, err := http.DefaultTransport.RoundTrip(req) // the transport would decompress silently
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Content-Encoding"); got != tc.want {
			t.Fatalf("%s, Accept-Encoding %q: Content-Encoding %q, want %q", tc.path, tc.accept, got, tc.want)
		}
		plain, err := intake.Decode(nil, tc.want, raw, 64<<20)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if tc.path == "/snapshot" && intake.CheckRaw(plain) != nil {
			t.Fatalf("%s snapshot is not valid: %v", tc.want, intake.CheckRaw(plain))
		}
		if len(raw)*3 >= len(plain) {
			t.Fatalf("%s: %s body %d bytes is not a third of plain %d", tc.path, tc.want, len(raw), len(plain))
		}
	}
}

func TestExporterUnknownPathIs404(t *testing.T) {
	base, _ := startExporter(t)
	for _, path := range []string{"/nope", "/metrics/extra", "/snapshot/../../etc/passwd"} {
		if code, _ := Get(t, base+path); code != http.StatusNotFound {
			t.Errorf("GET %s = %d, want 404", path, code)
		}
	}
	if code, body := Get(t, base+"/"); code != http.StatusOK || !strings.Contains(string(body), "/snapshot") {
		t.Errorf("landing page: %d %s", code, body)
	}
}

func TestExporterBadFlagsExitNonZero(t *testing.T) {
	bin := Binary(t, "exporter")
	dir := t.TempDir()
	unreadable := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(unreadable, []byte("tls_server_config: [this is: not valid"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"--no-such-flag"}, "unknown long flag"},
		{"unknown collector", []string{"--collector.nope"}, "unknown long flag"},
		{"missing web config", []string{"--web.config.file=" + filepath.Join(dir, "missing.yml")}, "missing.yml"},
		{"invalid web config", []string{"--web.config.file=" + unreadable}, "web.yml"},
		{"bad regexp", []string{"--collector.disk.device-exclude=("}, "device-exclude"},
		{"bad network regexp", []string{"--collector.network.device-exclude=["}, "network.device-exclude"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			port := FreePort(t, "127.0.0.1")
			p := Start(t, bin, append([]string{fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port)}, tt.args...)...)
			err := p.Wait(t, 20*time.Second)
			var exit *exec.ExitError
			if err == nil || !errors.As(err, &exit) || exit.ExitCode() == 0 {
				t.Fatalf("exit = %v, want a non-zero status; output:\n%s", err, p.Output())
			}
			if !strings.Contains(p.Output(), tt.want) {
				t.Fatalf("output does not mention %q:\n%s", tt.want, p.Output())
			}
		})
	}
}

func TestExporterTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSignedCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("right-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webCfg := filepath.Join(dir, "web.yml")
	cfg := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  prometheus: %s\n", certFile, keyFile, hash)
	if err := os.WriteFile(webCfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := Binary(t, "exporter")
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	p := Start(t, bin, "--web.listen-address="+addr, "--web.config.file="+webCfg)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(user, pass string) int {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/metrics", nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	WaitFor(t, 20*time.Second, "TLS listener", func() error {
		if p.Exited() {
			t.Fatalf("exporter exited: %s", p.Output())
		}
		if code := get("prometheus", "right-password"); code != http.StatusOK {
			return fmt.Errorf("status %d", code)
		}
		return nil
	})
	if code := get("prometheus", "wrong"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", code)
	}
	if code := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("no credentials: status %d, want 401", code)
	}
	// Plain HTTP to the TLS port must not serve metrics.
	resp, err := http.Get("http://" + addr + "/metrics")
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK && bytes.Contains(body, []byte("host_")) {
			t.Error("plain HTTP served metrics on the TLS port")
		}
	}
}

func TestExporterCollectorDeadline(t *testing.T) {
	// A copy of the collector fixture whose loadavg is a FIFO without a
	// writer: opening it blocks forever, like a read from a hung mount.
	root := t.TempDir()
	src := filepath.Join(RepoRoot(), "exporter", "collector", "testdata", "root")
	if out, err := exec.Command("cp", "-r", src+"/.", root).CombinedOutput(); err != nil {
		t.Fatalf("copy fixture: %v %s", err, out)
	}
	loadavg := filepath.Join(root, "proc", "loadavg")
	if err := os.Remove(loadavg); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(loadavg, 0o600); err != nil {
		t.Fatal(err)
	}
	base, _ := startExporter(t, "--path.procfs="+filepath.Join(root, "proc"), "--path.rootfs="+root)

	scrape := func() ([]byte, time.Duration) {
		req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
		req.Header.Set("X-Prometheus-Scrape-Timeout-Seconds", "2")
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		return body, time.Since(start)
	}
	for i := range 2 { // the second scrape must not wait for the still-hung read
		body, took := scrape()
		if !strings.Contains(string(body), `host_scrape_collector_success{collector="cpu"} 0`) {
			t.Fatalf("scrape %d: cpu collector not reported failed:\n%s", i, grepLines(body, "host_scrape_collector_success"))
		}
		for _, c := range []string{"memory", "network", "processes"} {
			if !strings.Contains(string(body), fmt.Sprintf(`host_scrape_collector_success{collector=%q} 1`, c)) {
				t.Fatalf("scrape %d: collector %s should still be served:\n%s", i, c, grepLines(body, "host_scrape_collector_success"))
			}
		}
		if !strings.Contains(string(body), "host_memory_total_bytes 1.6427147264e+10") {
			t.Fatalf("scrape %d: fixture memory missing", i)
		}
		t.Logf("scrape %d took %v", i, took)
		// The collection deadline is 1.5 s (2 s minus the margin). A second
		// scrape that took that long waited for the hung read again.
		if i == 1 && took >= 1500*time.Millisecond {
			t.Fatalf("second scrape took %v: it waited for the collector that is still hung", took)
		}
	}
}

func grepLines(body []byte, substr string) string {
	var out []string
	for _, l := range strings.Split(string(body), "\n") {
		if strings.Contains(l, substr) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// selfSignedCert writes a certificate for 127.0.0.1 and returns the files
// and a pool trusting it.
func selfSignedCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "prexmon-e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestExporterSIGTERMExitsCleanly(t *testing.T) {
	_, p := startExporter(t)
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.Wait(t, 15*time.Second); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.Output())
	}
	if !strings.Contains(p.Output(), "shutting down") {
		t.Fatalf("no shutdown log line:\n%s", p.Output())
	}
}
