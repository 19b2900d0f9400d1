//go:build linux

package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// wineEnv prepares a fresh Wine prefix with tools/wine/setup.sh (wineboot
// and the ProcessPrng stand-in) and returns the environment that runs
// Windows programs in it. A persistent wineserver is started with its
// output discarded, so Wine's helper processes never hold the test's
// output pipes open; it is killed when the test ends.
func wineEnv(t *testing.T) []string {
	t.Helper()
	NeedCommand(t, "wine")
	wineserver := NeedCommand(t, "wineserver")
	NeedCommand(t, "x86_64-w64-mingw32-gcc")

	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join(RepoRoot(), "tools", "wine", "setup.sh"), dir).Output()
	if err != nil {
		t.Fatalf("tools/wine/setup.sh: %v\n%s", err, out)
	}
	lines := strings.Fields(strings.TrimSpace(string(out)))
	if len(lines) == 0 {
		t.Fatal("tools/wine/setup.sh printed no prefix")
	}
	prefix := lines[len(lines)-1]
	t.Logf("wine prefix ready in %v", time.Since(start).Round(time.Millisecond))
	env := []string{"WINEPREFIX=" + prefix, "WINEDEBUG=-all", "DISPLAY=", "WINEDLLOVERRIDES=mscoree,mshtml="}

	t.Cleanup(func() {
		kill := exec.Command(wineserver, "-k")
		kill.Env = append(os.Environ(), env...)
		_ = kill.Run()
	})
	// A persistent server, then Wine's own services, all with stdio on
	// /dev/null (a nil Stdout).
	for _, args := range [][]string{{wineserver, "-p"}, {"wine", "cmd", "/c", "exit"}} {
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), env...)
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
	}
	return env
}

// wineCmd runs a Windows command in the prefix and returns its standard
// output (Wine's own warnings go to stderr and are dropped).
func wineCmd(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "wine", args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	return string(out), err
}

// windowsPath is where Wine's Z: drive (the Linux root) shows a file.
func windowsPath(p string) string { return `Z:` + strings.ReplaceAll(p, "/", `\`) }

// serviceQuery returns the STATE and SERVICE_EXIT_CODE lines' values of
// `sc query`, e.g. "RUNNING" and "0".
func serviceQuery(t *testing.T, env []string, name string) (state, exitCode string, err error) {
	t.Helper()
	out, err := wineCmd(t, env, "sc", "query", name)
	if err != nil {
		return "", "", fmt.Errorf("sc query %s: %w\n%s", name, err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 4 && f[0] == "STATE":
			state = f[3]
		case len(f) >= 3 && f[0] == "SERVICE_EXIT_CODE":
			exitCode = f[2]
		}
	}
	if state == "" {
		return "", "", fmt.Errorf("no STATE in sc query output:\n%s", out)
	}
	return state, exitCode, nil
}

// serviceLog returns the exporter's service log from the prefix, wherever
// Wine's %ProgramData% points (C:\users\Public in Wine 8).
func serviceLog(env []string) (string, error) {
	var prefix string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "WINEPREFIX="); ok {
			prefix = v
		}
	}
	matches, err := filepath.Glob(filepath.Join(prefix, "drive_c", "*", "*", "prexmon", "exporter.log"))
	if err != nil {
		return "", err
	}
	more, _ := filepath.Glob(filepath.Join(prefix, "drive_c", "*", "prexmon", "exporter.log"))
	matches = append(matches, more...)
	if len(matches) == 0 {
		return "", fmt.Errorf("no prexmon\\exporter.log under %s/drive_c", prefix)
	}
	b, err := os.ReadFile(matches[0])
	return string(b), err
}
