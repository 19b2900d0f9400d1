//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// cutMark is how the exporter ends a command line longer than
// --snapshot.cmdline.max-length.
const cutMark = "…[truncated]"

// TestExporterCmdlineMaxLength runs a process whose command line is far
// longer than the limit, with a two-byte character where the cut falls,
// and checks that /snapshot shows it cut at a character boundary, marked
// and within the limit.
func TestExporterCmdlineMaxLength(t *testing.T) {
	const limit = 64
	child := exec.Command("sh", "-c", "while :; do sleep 1; done", "prexmon-e2e-long", strings.Repeat("é", 200))
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })

	base, _ := startExporter(t, fmt.Sprintf("--snapshot.cmdline.max-length=%d", limit))
	code, body := Get(t, base+"/snapshot")
	if code != http.StatusOK {
		t.Fatalf("/snapshot status %d: %s", code, body)
	}
	var s snapshot.Snapshot
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	for _, p := range s.Processes {
		if int(p.PID) != child.Process.Pid {
			continue
		}
		// "sh -c while :; do sleep 1; done prexmon-e2e-long " is 49 bytes
		// and the é after it ends at byte 51: a cut at 64-14 = 50 must
		// step back to 49.
		want := "sh -c while :; do sleep 1; done prexmon-e2e-long " + cutMark
		if p.Cmdline != want || len(p.Cmdline) > limit || !utf8.ValidString(p.Cmdline) {
			t.Fatalf("command line = %q (%d bytes), want %q", p.Cmdline, len(p.Cmdline), want)
		}
		for _, q := range s.Processes {
			if len(q.Cmdline) > limit {
				t.Errorf("process %d: %d-byte command line %q", q.PID, len(q.Cmdline), q.Cmdline)
			}
		}
		return
	}
	t.Fatalf("process %d not in the snapshot", child.Process.Pid)
}

const exposureWarning = "process command lines of every user are served on /snapshot"

// TestExporterWarnsWhenCmdlinesAreExposed checks the start-up warning: there
// without --web.config.file, absent with TLS and basic auth or with command
// lines off.
func TestExporterWarnsWhenCmdlinesAreExposed(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, _ := selfSignedCert(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tlsOnly := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", certFile, keyFile)
	full := webFile("full.yml", tlsOnly+fmt.Sprintf("basic_auth_users:\n  prometheus: %s\n", hash))
	noAuth := webFile("tls-only.yml", tlsOnly)

	bin := Binary(t, "exporter")
	for _, tc := range []struct {
		name    string
		args    []string
		warning string // "" = none
	}{
		{"plain HTTP", nil, "without TLS or authentication (no --web.config.file)"},
		{"TLS without auth", []string{"--web.config.file=" + noAuth}, "without authentication"},
		{"TLS and basic auth", []string{"--web.config.file=" + full}, ""},
		{"command lines off", []string{"--snapshot.cmdline=false"}, ""},
		{"processes collector off", []string{"--no-collector.processes"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
			p := Start(t, bin, append([]string{"--web.listen-address=" + addr}, tc.args...)...)
			// The warning comes before the listener starts.
			WaitFor(t, 20*time.Second, "the listener", func() error {
				if p.Exited() {
					t.Fatalf("exporter exited: %s", p.Output())
				}
				if !strings.Contains(p.Output(), "Listening on") {
					return fmt.Errorf("not listening yet")
				}
				return nil
			})
			out := p.Output()
			if tc.warning == "" {
				if strings.Contains(out, exposureWarning) {
					t.Fatalf("unexpected warning:\n%s", out)
				}
				return
			}
			if !strings.Contains(out, "level=WARN") || !strings.Contains(out, exposureWarning) || !strings.Contains(out, tc.warning) ||
				!strings.Contains(out, "--snapshot.cmdline=false") || !strings.Contains(out, "--web.config.file") {
				t.Fatalf("no warning naming %q and both remedies:\n%s", tc.warning, out)
			}
		})
	}
}
