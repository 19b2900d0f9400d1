package deploy

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// cloudInit reads the EC2 user data as cloud-init would.
func cloudInit(t *testing.T) (files map[string]string, runcmd [][]string) {
	t.Helper()
	raw, err := os.ReadFile("ec2/user-data.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "#cloud-config\n") {
		t.Fatal("user data must start with #cloud-config or cloud-init ignores it")
	}
	var cfg struct {
		WriteFiles []struct {
			Path, Permissions, Content string
		} `yaml:"write_files"`
		Runcmd [][]string `yaml:"runcmd"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("parse user data: %v", err)
	}
	files = map[string]string{}
	for _, f := range cfg.WriteFiles {
		files[f.Path] = f.Content
	}
	return files, cfg.Runcmd
}

// TestCloudInit checks the EC2 user data runs its install script, which
// stops at the first error and verifies the package before installing it.
func TestCloudInit(t *testing.T) {
	files, runcmd := cloudInit(t)
	if len(runcmd) != 1 || strings.Join(runcmd[0], " ") != "/usr/local/sbin/prexmon-install" {
		t.Errorf("runcmd %v, want the install script alone", runcmd)
	}
	script := files["/usr/local/sbin/prexmon-install"]
	if !strings.HasPrefix(script, "#!/bin/sh\n") || !strings.Contains(script, "\nset -eu\n") {
		t.Errorf("the install script must be a sh script with set -eu:\n%s", script)
	}
	verify := strings.Index(script, "sha256sum -c")
	for _, install := range []string{"dpkg -i", "rpm -U", "systemctl enable"} {
		if i := strings.Index(script, install); i < 0 || verify < 0 || i < verify {
			t.Errorf("%q is missing or comes before the checksum is verified", install)
		}
	}
	if !strings.Contains(files["/etc/default/prexmon-install"], "PREXMON_RELEASE_URL=") {
		t.Error("/etc/default/prexmon-install does not say where the release is")
	}
}

// TestCloudInitInstall runs the install script against a fake release
// with stand-ins for curl, dpkg, rpm and systemctl: a good package is
// installed and started, a tampered or unlisted one leaves the host alone.
func TestCloudInitInstall(t *testing.T) {
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		t.Skip("the install script runs on Linux amd64 and arm64")
	}
	for _, tool := range []string{"sh", "sha256sum", "awk", "mktemp", "sed"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("SKIPPED: %s not installed", tool)
		}
	}
	files, _ := cloudInit(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "prexmon-install")
	settings := filepath.Join(dir, "settings")
	release := filepath.Join(dir, "release")
	stubs := filepath.Join(dir, "bin")
	logFile := filepath.Join(dir, "installed.log")
	for _, d := range []string{release, stubs} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(path, text string, mode os.FileMode) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
	}
	write(script, files["/usr/local/sbin/prexmon-install"], 0o755)
	write(settings, "PREXMON_VERSION=1.2.3\nPREXMON_RELEASE_URL=https://releases.invalid/v1.2.3\n", 0o644)
	// curl copies from the fake release; the rest record what they were asked.
	write(filepath.Join(stubs, "curl"), `#!/bin/sh
out= url=
while [ $# -gt 0 ]; do
  case "$1" in
  -o) out=$2; shift 2 ;;
  --retry) shift 2 ;;
  -*) shift ;;
  *) url=$1; shift ;;
  esac
done
cp "$FAKE_RELEASE/${url##*/}" "$out"
`, 0o755)
	for _, tool := range []string{"dpkg", "rpm", "systemctl"} {
		write(filepath.Join(stubs, tool), "#!/bin/sh\necho \""+tool+" $*\" >> \"$INSTALL_LOG\"\n", 0o755)
	}
	pkg := "prexmon-exporter_1.2.3-1_" + runtime.GOARCH + ".deb"
	sum := func(data string) string { h := sha256.Sum256([]byte(data)); return hex.EncodeToString(h[:]) }

	for _, tc := range []struct {
		name, pkgData, sums string
		ok                  bool
	}{
		{"genuine", "package", sum("package") + "  " + pkg + "\n" + sum("other") + "  prexmon-1.2.3.linux-amd64.tar.gz\n", true},
		{"tampered", "package with a backdoor", sum("package") + "  " + pkg + "\n", false},
		{"unlisted", "package", sum("package") + "  x" + pkg + "\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(logFile)
			write(filepath.Join(release, pkg), tc.pkgData, 0o644)
			write(filepath.Join(release, "sha256sums.txt"), tc.sums, 0o644)
			cmd := exec.Command("sh", script, settings)
			cmd.Env = append(os.Environ(), "PATH="+stubs+":"+os.Getenv("PATH"), "FAKE_RELEASE="+release, "INSTALL_LOG="+logFile)
			out, err := cmd.CombinedOutput()
			installed, _ := os.ReadFile(logFile)
			if !tc.ok {
				if err == nil || len(installed) > 0 {
					t.Errorf("install went ahead (err %v), did:\n%s\noutput:\n%s", err, installed, out)
				}
				return
			}
			want := "dpkg -i " + pkg + "\nsystemctl enable --now prexmon-exporter.service\n"
			if err != nil || string(installed) != want {
				t.Errorf("err %v, did:\n%swant:\n%s\noutput:\n%s", err, installed, want, out)
			}
		})
	}
}

// TestSystemdUnits checks the units start the installed binaries and are
// enabled for boot; the e2e tests run their command lines for real.
func TestSystemdUnits(t *testing.T) {
	for _, tc := range []struct{ file, exec string }{
		{"systemd/prexmon-exporter.service", "ExecStart=/usr/local/bin/prexmon-exporter "},
		{"systemd/prexmon-archiver.service", "ExecStart=/usr/local/bin/prexmon-archiver "},
	} {
		raw, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		for _, want := range []string{tc.exec, "\n[Install]\nWantedBy=multi-user.target\n", "\nRestart=on-failure\n", "\nNoNewPrivileges=yes\n"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", tc.file, strings.TrimSpace(want))
			}
		}
	}
}
