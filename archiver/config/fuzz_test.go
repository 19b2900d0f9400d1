package config

import (
	"testing"
	"time"
)

// FuzzParse: any config text either fails with an error or yields a config
// that keeps the invariants scraping relies on.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"scrape_interval: 5s\nscrape_timeout: 2s\n",
		"static_configs:\n  - targets: [\"10.0.0.5:9110\"]\n    labels: {env: prod}\n",
		"file_sd_configs:\n  - files: [\"t/*.yml\"]\n    refresh_interval: 1m\n",
		"http_client:\n  basic_auth: {username: a, password: b}\n",
		"api:\n  push_allowed_cidrs: [\"10.0.0.0/8\"]\nbody_size_limit: 1MiB\n",
		"scrape_interval: -5s\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg, err := Parse(b)
		if err != nil {
			return
		}
		if cfg.ScrapeInterval <= 0 || cfg.ScrapeTimeout <= 0 || cfg.ScrapeTimeout > cfg.ScrapeInterval {
			t.Fatalf("interval %s timeout %s accepted", cfg.ScrapeInterval, cfg.ScrapeTimeout)
		}
		if cfg.BodySizeLimit <= 0 || cfg.EnableCompression == nil {
			t.Fatalf("defaults not applied: %+v", cfg)
		}
		for _, fc := range cfg.FileSDConfigs {
			if time.Duration(fc.RefreshInterval) <= 0 {
				t.Fatalf("refresh_interval %s accepted", fc.RefreshInterval)
			}
		}
		for _, sc := range cfg.StaticConfigs {
			for _, tg := range sc.Targets {
				if err := CheckTarget(tg); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
