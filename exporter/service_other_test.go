//go:build !windows

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestServiceSubcommandWindowsOnly: elsewhere `exporter service ...`
// answers an error instead of starting the exporter with odd arguments.
func TestServiceSubcommandWindowsOnly(t *testing.T) {
	var buf bytes.Buffer
	old := logWriter
	logWriter = &buf
	defer func() { logWriter = old }()
	if code := runMain([]string{"service", "install"}); code != 2 {
		t.Errorf("exit status %d, want 2", code)
	}
	if !strings.Contains(buf.String(), "Windows only") {
		t.Errorf("message %q does not say the subcommand is Windows-only", buf.String())
	}
}
