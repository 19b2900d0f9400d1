//go:build linux

package e2e

import (
	"context"
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
