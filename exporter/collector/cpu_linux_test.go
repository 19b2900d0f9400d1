package collector

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// A model read that fails (here: no cpuinfo yet; in the field, a read cut
// short by the first request's deadline) is tried again at the next
// collection instead of leaving the model empty for good.
func TestCPUModelRetriedUntilRead(t *testing.T) {
	cfg := fixtureConfig(t)
	proc := t.TempDir()
	for _, f := range []string{"stat", "loadavg"} {
		b, err := os.ReadFile(filepath.Join(cfg.ProcPath, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proc, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg.ProcPath = proc
	c, err := newCPUCollector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	model := func() string {
		t.Helper()
		r, err := c.Update(cfg.hostContext(context.Background()))
		if err != nil {
			t.Fatal(err)
		}
		var s snapshot.Snapshot
		r.Fill(&s)
		return s.CPU.Model
	}
	if got := model(); got != "" {
		t.Fatalf("model %q without cpuinfo", got)
	}
	info := "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Test CPU @ 2.00GHz\n\n"
	if err := os.WriteFile(filepath.Join(proc, "cpuinfo"), []byte(info), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := model(); got != "Test CPU @ 2.00GHz" {
		t.Fatalf("model %q after cpuinfo appeared, want it read", got)
	}
}
