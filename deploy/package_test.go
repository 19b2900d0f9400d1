package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/prexmon/prexmon/archiver/config"
)

// TestPackagedConfigs loads the archiver configuration the packages install
// as /etc/prexmon/archiver.yml, laid out as installed, and checks its
// file_sd glob finds the installed targets/agents.yml.
func TestPackagedConfigs(t *testing.T) {
	etc := t.TempDir()
	for src, dst := range map[string]string{
		"package/archiver.yml": "archiver.yml",
		"package/agents.yml":   "targets/agents.yml",
	} {
		raw, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(etc, dst)), 0o755)
		if err := os.WriteFile(filepath.Join(etc, dst), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(filepath.Join(etc, "archiver.yml"))
	if err != nil {
		t.Fatalf("the archiver rejects the packaged archiver.yml: %v", err)
	}
	var matched []string
	for _, sd := range cfg.FileSDConfigs {
		for _, pattern := range sd.Files {
			m, _ := filepath.Glob(pattern)
			matched = append(matched, m...)
		}
	}
	agents := filepath.Join(etc, "targets", "agents.yml")
	if !slices.Contains(matched, agents) {
		t.Errorf("file_sd reads %v, want %s", matched, agents)
	}
	var groups []struct{ Targets []string }
	raw, _ := os.ReadFile(agents)
	if err := yaml.Unmarshal(raw, &groups); err != nil || len(groups) == 0 || len(groups[0].Targets) == 0 {
		t.Errorf("targets/agents.yml: %v, %v", groups, err)
	}
	for _, f := range []string{"package/prexmon-exporter.default", "package/prexmon-archiver.default"} {
		raw, err := os.ReadFile(f)
		if err != nil || !slices.Contains(strings.Split(string(raw), "\n"), `ARGS=""`) {
			t.Errorf("%s must set ARGS=\"\" for the unit's $ARGS (%v)", f, err)
		}
	}
}
