package collector

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestParseOSRelease(t *testing.T) {
	b, err := os.ReadFile("testdata/os-release/usrlib/usr/lib/os-release")
	if err != nil {
		t.Fatal(err)
	}
	got := parseOSRelease(b)
	want := map[string]string{
		"NAME": "Fedora Linux", "VERSION": `40 (Container "Image")`, "ID": "fedora", "VERSION_ID": "40",
		"PRETTY_NAME": "Fedora Linux 40 (Container Image)",
	}
	if len(got) != len(want) {
		t.Fatalf("got %d keys %v, want %v", len(got), got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestHostFactsFromRootfs(t *testing.T) {
	for _, tt := range []struct {
		root, platform, version string
	}{
		{"testdata/root", "debian", "12"},              // /etc/os-release
		{"testdata/os-release/usrlib", "fedora", "40"}, // only /usr/lib/os-release
		{"testdata/os-release/none", "", ""},           // neither: empty, not a failure
	} {
		cfg := DefaultConfig()
		cfg.RootPath = tt.root
		c := &hostCollector{cfg: cfg}
		f, err := c.facts(context.Background())
		if err != nil {
			t.Fatalf("%s: %v", tt.root, err)
		}
		if f.platform != tt.platform || f.version != tt.version || f.kernel == "" {
			t.Errorf("%s: facts %+v, want %s %s and a kernel", tt.root, f, tt.platform, tt.version)
		}
	}
}

// An upgrade rewrites os-release; the facts follow at the next collection.
func TestHostFactsFollowOSReleaseChanges(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "etc", "os-release")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(content string, mtime time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(path, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.RootPath = root
	c := &hostCollector{cfg: cfg}
	t0 := time.Unix(1_700_000_000, 0)
	write("ID=debian\nVERSION_ID=\"11\"\n", t0)
	if f, _ := c.facts(context.Background()); f.version != "11" {
		t.Fatalf("version %q, want 11", f.version)
	}
	write("ID=debian\nVERSION_ID=\"12\"\n", t0.Add(time.Hour))
	if f, _ := c.facts(context.Background()); f.version != "12" {
		t.Fatalf("after the upgrade: version %q, want 12", f.version)
	}
}
