package config

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
)

func TestParseDefaults(t *testing.T) {
	cfg, err := Parse([]byte("static_configs:\n  - targets: [\"10.0.0.5:9110\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ScrapeInterval != model.Duration(time.Minute) || cfg.ScrapeTimeout != model.Duration(10*time.Second) {
		t.Errorf("interval %s timeout %s, want 1m 10s", cfg.ScrapeInterval, cfg.ScrapeTimeout)
	}
	if cfg.BodySizeLimit != 16*units.MiB || cfg.Scheme != "http" || cfg.SnapshotPath != "/snapshot" {
		t.Errorf("limit %d scheme %q path %q", cfg.BodySizeLimit, cfg.Scheme, cfg.SnapshotPath)
	}
	if !*cfg.EnableCompression {
		t.Error("enable_compression should default to true")
	}
	if !cfg.HTTPClient.FollowRedirects {
		t.Error("http_client defaults not applied")
	}
	if cfg.API.MaxConcurrentPushes != 16 || *cfg.API.PushRateLimit != (RateLimit{Rate: 1, Burst: 10}) {
		t.Errorf("max_concurrent_pushes %d, push_rate_limit %+v, want 16 and {1 10}", cfg.API.MaxConcurrentPushes, *cfg.API.PushRateLimit)
	}
}

func TestParseFull(t *testing.T) {
	cfg, err := Parse([]byte(`
scrape_interval: 5s
scrape_timeout: 2s
body_size_limit: 1MiB
enable_compression: false
static_configs:
  - targets: ["10.0.0.5:9110", "host.example:9110", "[::1]:9110"]
    labels: {env: prod}
file_sd_configs:
  - files: ["targets/*.yml"]
http_client:
  basic_auth: {username: a, password: b}
api:
  push_allowed_cidrs: ["10.0.0.0/8", "192.168.1.1"]
  trusted_proxies: ["127.0.0.1/32"]
  max_concurrent_pushes: 4
  push_rate_limit: {rate: 0.5, burst: 3}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ScrapeInterval != model.Duration(5*time.Second) || cfg.BodySizeLimit != units.MiB {
		t.Errorf("interval %s limit %d", cfg.ScrapeInterval, cfg.BodySizeLimit)
	}
	if *cfg.EnableCompression {
		t.Error("enable_compression: false ignored")
	}
	if cfg.API.MaxConcurrentPushes != 4 || *cfg.API.PushRateLimit != (RateLimit{Rate: 0.5, Burst: 3}) {
		t.Errorf("max_concurrent_pushes %d, push_rate_limit %+v", cfg.API.MaxConcurrentPushes, *cfg.API.PushRateLimit)
	}
	if cfg.FileSDConfigs[0].RefreshInterval != DefaultRefreshInterval {
		t.Errorf("refresh_interval %s, want default", cfg.FileSDConfigs[0].RefreshInterval)
	}
	for addr, want := range map[string]bool{"10.1.2.3": true, "192.168.1.1": true, "192.168.1.2": false, "::ffff:10.0.0.1": true} {
		if got := cfg.API.PushAllowedFrom(netip.MustParseAddr(addr)); got != want {
			t.Errorf("PushAllowedFrom(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, want string
	}{
		{"unknown key", "scrape_intervall: 5s\n", "field scrape_intervall not found"},
		{"unknown nested key", "api:\n  write_token_file: x\n", "field write_token_file not found"},
		{"unknown http_client key", "http_client:\n  tls: {}\n", "field tls not found"},
		{"timeout over interval", "scrape_interval: 5s\nscrape_timeout: 10s\n", "greater than scrape_interval"},
		{"bad duration", "scrape_interval: 5 seconds\n", "duration"},
		{"target with scheme", "static_configs:\n  - targets: [\"http://a:1\"]\n", "target"},
		{"target without port", "static_configs:\n  - targets: [\"10.0.0.1\"]\n", "missing port"},
		{"target bad port", "static_configs:\n  - targets: [\"10.0.0.1:99999\"]\n", "bad port"},
		{"bad label", "static_configs:\n  - targets: [\"a:1\"]\n    labels: {\"a-b\": x}\n", "invalid label name"},
		{"file_sd bad extension", "file_sd_configs:\n  - files: [\"t/*.txt\"]\n", "must end in"},
		{"file_sd bad glob", "file_sd_configs:\n  - files: [\"t/[.yml\"]\n", "bad pattern"},
		{"bad cidr", "api:\n  push_allowed_cidrs: [\"10.0.0.0/33\"]\n", "push_allowed_cidrs"},
		{"bad scheme", "scheme: ftp\n", "scheme"},
		{"negative push concurrency", "api:\n  max_concurrent_pushes: -1\n", "max_concurrent_pushes"},
		{"rate without burst", "api:\n  push_rate_limit: {rate: 2}\n", "push_rate_limit"},
		{"negative rate", "api:\n  push_rate_limit: {rate: -1, burst: 1}\n", "push_rate_limit"},
		{"nan rate", "api:\n  push_rate_limit: {rate: .nan, burst: 1}\n", "push_rate_limit"},
		{"bad http_client", "http_client:\n  bearer_token: a\n  bearer_token_file: b\n", "at most one of bearer_token"},
		{"syntax error has line", "scrape_interval: 5s\nstatic_configs: [\n", "line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadResolvesPathsAndTokens(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("write.tokens", "# push tokens\nalpha\n\n beta \n")
	write("archiver.yml", "file_sd_configs:\n  - files: [\"targets/*.yml\"]\napi:\n  write_tokens_file: write.tokens\n")
	cfg, err := Load(filepath.Join(dir, "archiver.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.FileSDConfigs[0].Files[0], filepath.Join(dir, "targets/*.yml"); got != want {
		t.Errorf("file_sd path %q, want %q", got, want)
	}
	if strings.Join(cfg.API.WriteTokens, ",") != "alpha,beta" || cfg.API.ReadTokens != nil {
		t.Errorf("tokens write %q read %q", cfg.API.WriteTokens, cfg.API.ReadTokens)
	}

	write("archiver.yml", "api:\n  read_tokens_file: missing.tokens\n")
	if _, err := Load(filepath.Join(dir, "archiver.yml")); err == nil || !strings.Contains(err.Error(), "missing.tokens") {
		t.Errorf("missing tokens file: error %v", err)
	}
	write("empty.tokens", "# nothing\n")
	write("archiver.yml", "api:\n  read_tokens_file: empty.tokens\n")
	if _, err := Load(filepath.Join(dir, "archiver.yml")); err == nil || !strings.Contains(err.Error(), "no token") {
		t.Errorf("empty tokens file: error %v", err)
	}
	write("archiver.yml", "scrape_interval: 5s\nbogus: 1\n")
	if _, err := Load(filepath.Join(dir, "archiver.yml")); err == nil || !strings.Contains(err.Error(), "archiver.yml") || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %v should name the file and line 2", err)
	}
}
