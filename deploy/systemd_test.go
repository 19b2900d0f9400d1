package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// maxExposure is the highest "overall exposure level" systemd-analyze
// security may give a unit, times ten (its --threshold unit).
const maxExposure = 20

var units = []string{"systemd/prexmon-exporter.service", "systemd/prexmon-archiver.service"}

// TestSystemdSandbox scores each unit with systemd-analyze security, which
// exits non-zero when the exposure passes the threshold.
func TestSystemdSandbox(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the units' sandboxing is not scored")
	}
	score := regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)
	for _, unit := range units {
		abs, err := filepath.Abs(unit)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "security", "--offline=true", "--threshold="+strconv.Itoa(maxExposure), "--no-pager", abs)
		out, err := cmd.CombinedOutput()
		m := score.FindSubmatch(out)
		if m == nil {
			t.Errorf("%s: no exposure level in the output of %v (%v):\n%s", unit, cmd.Args, err, out)
			continue
		}
		t.Logf("%s: exposure %s", unit, m[1])
		if err != nil {
			t.Errorf("%s: exposure %s, want at most %d.%d (%v); the ✗ lines:\n%s", unit, m[1], maxExposure/10, maxExposure%10, err, failing(out))
		}
	}
}

func failing(out []byte) string {
	var b strings.Builder
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "✗") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestSystemdCredentials checks secrets reach the services as systemd
// credentials, not as files their user reads at rest: each unit loads its
// tokens with LoadCredential=, and the documented paths are the
// credentials directory's.
func TestSystemdCredentials(t *testing.T) {
	for unit, creds := range map[string][]string{
		"systemd/prexmon-exporter.service": {"push.token"},
		"systemd/prexmon-archiver.service": {"write.tokens", "read.tokens"},
	} {
		raw, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Base(unit)
		for _, id := range creds {
			if !regexp.MustCompile(`(?m)^LoadCredential=` + regexp.QuoteMeta(id) + `:`).Match(raw) {
				t.Errorf("%s: no LoadCredential=%s:...", unit, id)
			}
			path := "/run/credentials/" + name + "/" + id
			if !strings.Contains(string(raw), path) {
				t.Errorf("%s: does not tell where %s appears (%s)", unit, id, path)
			}
		}
	}
	readme, err := os.ReadFile("systemd/README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--push.bearer-token-file=%d/push.token",
		"write_tokens_file: /run/credentials/prexmon-archiver.service/write.tokens",
	} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("systemd/README.md does not show %q", want)
		}
	}
}
