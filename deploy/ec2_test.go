package deploy

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestCloudInit checks the EC2 user data is cloud-config, installs the very
// unit file of deploy/systemd, verifies the download and enables the unit.
func TestCloudInit(t *testing.T) {
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
	unit, err := os.ReadFile("systemd/prexmon-exporter.service")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, f := range cfg.WriteFiles {
		files[f.Path] = f.Content
	}
	if files["/etc/systemd/system/prexmon-exporter.service"] != string(unit) {
		t.Error("the unit embedded in user-data.yaml differs from deploy/systemd/prexmon-exporter.service")
	}
	var script []string
	for _, c := range cfg.Runcmd {
		script = append(script, strings.Join(c, " "))
	}
	all := strings.Join(script, "\n")
	for _, want := range []string{
		"sha256sum -c",
		"/usr/local/bin/prexmon-exporter",
		"systemctl daemon-reload",
		"systemctl enable --now prexmon-exporter.service",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("runcmd lacks %q:\n%s", want, all)
		}
	}
	if strings.Index(all, "sha256sum -c") > strings.Index(all, "install -m 0755") {
		t.Error("the binary is installed before its checksum is verified")
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
