package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMaintainerScripts runs the package scripts with the arguments dpkg
// and rpm pass them, with stand-ins for the commands that would change
// the host, and a stand-in for /run/systemd/system (systemd is running).
func TestMaintainerScripts(t *testing.T) {
	dir := t.TempDir()
	stubs := filepath.Join(dir, "bin")
	systemd := filepath.Join(dir, "run-systemd-system")
	logFile := filepath.Join(dir, "log")
	for _, d := range []string{stubs, systemd} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range []string{"systemctl", "install", "groupadd", "useradd"} {
		stub := "#!/bin/sh\necho \"" + tool + " $*\" >> \"$SCRIPT_LOG\"\n"
		if err := os.WriteFile(filepath.Join(stubs, tool), []byte(stub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// getent knows the user only when told to.
	getent := "#!/bin/sh\n[ -n \"$USER_EXISTS\" ]\n"
	if err := os.WriteFile(filepath.Join(stubs, "getent"), []byte(getent), 0o755); err != nil {
		t.Fatal(err)
	}

	const unit = "prexmon-exporter.service"
	for _, tc := range []struct {
		script, start string
		args          []string
		userExists    bool
		want          string
	}{
		{"preinstall", "yes", []string{"install"}, false,
			"groupadd --system prexmon\nuseradd --system --gid prexmon --home-dir /var/lib/prexmon --no-create-home --shell /usr/sbin/nologin --comment prexmon monitoring prexmon\n"},
		{"preinstall", "yes", []string{"1"}, true, ""},
		// deb: configure with no previous version is a first install.
		{"postinstall", "yes", []string{"configure", ""}, true,
			"install -d -o prexmon -g prexmon -m 0700 /var/lib/prexmon\nsystemctl daemon-reload\nsystemctl enable --now " + unit + "\n"},
		{"postinstall", "no", []string{"configure", ""}, true,
			"install -d -o prexmon -g prexmon -m 0700 /var/lib/prexmon\nsystemctl daemon-reload\n"},
		{"postinstall", "yes", []string{"configure", "0.1.0-1"}, true,
			"install -d -o prexmon -g prexmon -m 0700 /var/lib/prexmon\nsystemctl daemon-reload\nsystemctl try-restart " + unit + "\n"},
		// rpm: 1 = install, 2 = upgrade.
		{"postinstall", "yes", []string{"1"}, true,
			"install -d -o prexmon -g prexmon -m 0700 /var/lib/prexmon\nsystemctl daemon-reload\nsystemctl enable --now " + unit + "\n"},
		{"postinstall", "yes", []string{"2"}, true,
			"install -d -o prexmon -g prexmon -m 0700 /var/lib/prexmon\nsystemctl daemon-reload\nsystemctl try-restart " + unit + "\n"},
		// Removal stops the unit; an upgrade does not (deb: upgrade, rpm: 1).
		{"preremove", "yes", []string{"remove"}, true, "systemctl disable --now " + unit + "\n"},
		{"preremove", "yes", []string{"0"}, true, "systemctl disable --now " + unit + "\n"},
		{"preremove", "yes", []string{"upgrade", "0.2.0-1"}, true, ""},
		{"preremove", "yes", []string{"1"}, true, ""},
		{"postremove", "yes", []string{"purge"}, true, "systemctl daemon-reload\n"},
	} {
		name := tc.script + " " + strings.Join(tc.args, " ")
		raw, err := scripts.ReadFile("scripts/" + tc.script + ".sh")
		if err != nil {
			t.Fatal(err)
		}
		text := strings.NewReplacer("@UNIT@", unit, "@START@", tc.start, "/run/systemd/system", systemd).Replace(string(raw))
		path := filepath.Join(dir, tc.script)
		if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
		os.Remove(logFile)
		cmd := exec.Command("sh", append([]string{path}, tc.args...)...)
		cmd.Env = append(os.Environ(), "PATH="+stubs+":"+os.Getenv("PATH"), "SCRIPT_LOG="+logFile, "USER_EXISTS=")
		if tc.userExists {
			cmd.Env = append(cmd.Env, "USER_EXISTS=1")
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s (start %s): %v\n%s", name, tc.start, err, out)
			continue
		}
		got, _ := os.ReadFile(logFile)
		if string(got) != tc.want {
			t.Errorf("%s (start %s) ran:\n%swant:\n%s", name, tc.start, got, tc.want)
		}
	}
}
