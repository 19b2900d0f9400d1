// Package config loads the archiver's YAML configuration: which agents to
// scrape, how often, and how the API authenticates. Loading is strict (unknown
// keys are errors) so a typo never silently changes what is archived.
package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/alecthomas/units"
	commoncfg "github.com/prometheus/common/config"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v2"
)

// Defaults applied to keys the file leaves out; they match SPEC.md.
const (
	DefaultScrapeInterval  = model.Duration(60 * time.Second)
	DefaultScrapeTimeout   = model.Duration(10 * time.Second)
	DefaultRefreshInterval = model.Duration(5 * time.Minute)
	DefaultBodySizeLimit   = 16 * units.MiB
	DefaultScheme          = "http"
	DefaultSnapshotPath    = "/snapshot"
)

// Config is the whole archiver configuration file.
type Config struct {
	ScrapeInterval model.Duration `yaml:"scrape_interval,omitempty"`
	// ScrapeTimeout bounds one scrape, sent to the agent as
	// X-Prometheus-Scrape-Timeout-Seconds; it must not exceed ScrapeInterval
	// so one agent never has two scrapes in flight.
	ScrapeTimeout model.Duration `yaml:"scrape_timeout,omitempty"`
	// BodySizeLimit caps a snapshot after decompression, so a broken or
	// hostile agent cannot make the archiver buffer gigabytes.
	BodySizeLimit units.Base2Bytes `yaml:"body_size_limit,omitempty"`
	// EnableCompression asks agents for zstd, or gzip from agents without
	// it (default true), as Prometheus' option of the same name: a fifth of
	// the bytes on the wire for about 0.1 ms of CPU per 100 KB snapshot to
	// decode (0.5 ms for gzip). Turn it off when the archiver is CPU-bound
	// and the network is not.
	EnableCompression *bool `yaml:"enable_compression,omitempty"`
	// Scheme and SnapshotPath build the URL scraped on each target.
	Scheme        string          `yaml:"scheme,omitempty"`
	SnapshotPath  string          `yaml:"snapshot_path,omitempty"`
	StaticConfigs []*StaticConfig `yaml:"static_configs,omitempty"`
	FileSDConfigs []*FileSDConfig `yaml:"file_sd_configs,omitempty"`
	// HTTPClient configures TLS, basic auth and bearer tokens towards agents.
	HTTPClient commoncfg.HTTPClientConfig `yaml:"http_client,omitempty"`
	API        APIConfig                  `yaml:"api,omitempty"`
}

// StaticConfig is a group of agents listed in the config file itself.
type StaticConfig struct {
	Targets []string          `yaml:"targets"`
	Labels  map[string]string `yaml:"labels,omitempty"`
}

// FileSDConfig names files in Prometheus' file_sd format, so the archiver
// and Prometheus can share one list of agents.
type FileSDConfig struct {
	Files           []string       `yaml:"files"`
	RefreshInterval model.Duration `yaml:"refresh_interval,omitempty"`
}

// APIConfig holds who may push and query.
type APIConfig struct {
	// WriteTokensFile lists bearer tokens allowed to push, one per line;
	// empty disables push.
	WriteTokensFile string `yaml:"write_tokens_file,omitempty"`
	// ReadTokensFile lists bearer tokens allowed to query; empty leaves
	// queries open.
	ReadTokensFile string `yaml:"read_tokens_file,omitempty"`
	// PushAllowedCIDRs, when set, restricts pushes to these networks.
	PushAllowedCIDRs []string `yaml:"push_allowed_cidrs,omitempty"`
	// TrustedProxies are the only peers whose X-Forwarded-For is believed.
	TrustedProxies []string `yaml:"trusted_proxies,omitempty"`
	// MaxConcurrentPushes bounds the pushes received, decoded and waiting
	// for their fsync at once (default 16); more are answered 503.
	MaxConcurrentPushes int `yaml:"max_concurrent_pushes,omitempty"`
	// PushRateLimit bounds the pushes each client address may make
	// (default 1 a second, bursts of 10); more are answered 429. A rate of
	// 0 turns the limit off.
	PushRateLimit *RateLimit `yaml:"push_rate_limit,omitempty"`

	// Parsed forms, filled by Load.
	PushAllowed []netip.Prefix `yaml:"-"`
	Proxies     []netip.Prefix `yaml:"-"`
	WriteTokens []string       `yaml:"-"`
	ReadTokens  []string       `yaml:"-"`
}

// RateLimit is a token bucket: Rate tokens a second, at most Burst saved up.
type RateLimit struct {
	Rate  float64 `yaml:"rate"`
	Burst int     `yaml:"burst"`
}

// Push intake defaults, as SPEC.md gives them.
const DefaultMaxConcurrentPushes = 16

// DefaultPushRateLimit is a snapshot a second, ten at once after a pause
// (an agent sending what it spooled while the archiver was away).
var DefaultPushRateLimit = RateLimit{Rate: 1, Burst: 10}

// Load reads, parses and validates filename. Relative paths inside the file
// (file_sd globs, token files, TLS files) are resolved against the file's
// directory, as Prometheus does, so the config means the same from any
// working directory.
func Load(filename string) (*Config, error) {
	b, err := os.ReadFile(filename)
	if err != nil {
		return nil, fmt.Errorf("read config %s: %w", filename, err)
	}
	cfg, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", filename, err)
	}
	dir, _ := filepath.Abs(filepath.Dir(filename))
	cfg.setDirectory(dir)
	if err := cfg.loadTokens(); err != nil {
		return nil, fmt.Errorf("config %s: %w", filename, err)
	}
	return cfg, nil
}

// Parse parses and validates a config held in memory; relative paths stay
// relative to the working directory and token files are not read.
func Parse(b []byte) (*Config, error) {
	cfg := &Config{HTTPClient: commoncfg.DefaultHTTPClientConfig}
	if err := yaml.UnmarshalStrict(b, cfg); err != nil {
		return nil, err
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func (c *Config) validate() error {
	if c.ScrapeInterval == 0 {
		c.ScrapeInterval = DefaultScrapeInterval
	}
	if c.ScrapeTimeout == 0 {
		c.ScrapeTimeout = min(DefaultScrapeTimeout, c.ScrapeInterval)
	}
	if c.ScrapeInterval < 0 || c.ScrapeTimeout < 0 {
		return errors.New("scrape_interval and scrape_timeout must be positive")
	}
	if c.ScrapeTimeout > c.ScrapeInterval {
		return fmt.Errorf("scrape_timeout %s is greater than scrape_interval %s", c.ScrapeTimeout, c.ScrapeInterval)
	}
	if c.BodySizeLimit == 0 {
		c.BodySizeLimit = DefaultBodySizeLimit
	}
	if c.BodySizeLimit < 0 {
		return errors.New("body_size_limit must be positive")
	}
	if c.EnableCompression == nil {
		on := true
		c.EnableCompression = &on
	}
	if c.Scheme == "" {
		c.Scheme = DefaultScheme
	}
	if c.Scheme != "http" && c.Scheme != "https" {
		return fmt.Errorf("scheme %q: must be http or https", c.Scheme)
	}
	if c.SnapshotPath == "" {
		c.SnapshotPath = DefaultSnapshotPath
	}
	if !strings.HasPrefix(c.SnapshotPath, "/") {
		return fmt.Errorf("snapshot_path %q must start with /", c.SnapshotPath)
	}
	for i, sc := range c.StaticConfigs {
		if sc == nil {
			return fmt.Errorf("static_configs[%d] is empty", i)
		}
		for _, t := range sc.Targets {
			if err := CheckTarget(t); err != nil {
				return fmt.Errorf("static_configs[%d]: %w", i, err)
			}
		}
		if err := CheckLabels(sc.Labels); err != nil {
			return fmt.Errorf("static_configs[%d]: %w", i, err)
		}
	}
	for i, fc := range c.FileSDConfigs {
		if fc == nil {
			return fmt.Errorf("file_sd_configs[%d] is empty", i)
		}
		if len(fc.Files) == 0 {
			return fmt.Errorf("file_sd_configs[%d]: files is empty", i)
		}
		if fc.RefreshInterval == 0 {
			fc.RefreshInterval = DefaultRefreshInterval
		}
		if fc.RefreshInterval < 0 {
			return fmt.Errorf("file_sd_configs[%d]: refresh_interval must be positive", i)
		}
		for _, f := range fc.Files {
			if _, err := filepath.Match(filepath.Base(f), ""); err != nil {
				return fmt.Errorf("file_sd_configs[%d]: bad pattern %q: %w", i, f, err)
			}
			switch filepath.Ext(f) {
			case ".json", ".yml", ".yaml":
			default:
				return fmt.Errorf("file_sd_configs[%d]: %q must end in .json, .yml or .yaml", i, f)
			}
		}
	}
	if err := c.HTTPClient.Validate(); err != nil {
		return fmt.Errorf("http_client: %w", err)
	}
	if c.API.MaxConcurrentPushes == 0 {
		c.API.MaxConcurrentPushes = DefaultMaxConcurrentPushes
	}
	if c.API.MaxConcurrentPushes < 0 {
		return errors.New("api.max_concurrent_pushes must be positive")
	}
	if c.API.PushRateLimit == nil {
		rl := DefaultPushRateLimit
		c.API.PushRateLimit = &rl
	}
	if rl := c.API.PushRateLimit; math.IsNaN(rl.Rate) || rl.Rate < 0 || rl.Burst < 0 || (rl.Rate > 0 && rl.Burst == 0) {
		return fmt.Errorf("api.push_rate_limit: rate must be >= 0 and burst >= 1 (got rate %v, burst %d)", rl.Rate, rl.Burst)
	}
	var err error
	if c.API.PushAllowed, err = parsePrefixes(c.API.PushAllowedCIDRs); err != nil {
		return fmt.Errorf("api.push_allowed_cidrs: %w", err)
	}
	if c.API.Proxies, err = parsePrefixes(c.API.TrustedProxies); err != nil {
		return fmt.Errorf("api.trusted_proxies: %w", err)
	}
	return nil
}

func (c *Config) setDirectory(dir string) {
	for _, fc := range c.FileSDConfigs {
		for i, f := range fc.Files {
			fc.Files[i] = commoncfg.JoinDir(dir, f)
		}
	}
	c.HTTPClient.SetDirectory(dir)
	c.API.WriteTokensFile = commoncfg.JoinDir(dir, c.API.WriteTokensFile)
	c.API.ReadTokensFile = commoncfg.JoinDir(dir, c.API.ReadTokensFile)
}

func (c *Config) loadTokens() error {
	var err error
	if c.API.WriteTokens, err = ReadTokens(c.API.WriteTokensFile); err != nil {
		return fmt.Errorf("api.write_tokens_file: %w", err)
	}
	if c.API.ReadTokens, err = ReadTokens(c.API.ReadTokensFile); err != nil {
		return fmt.Errorf("api.read_tokens_file: %w", err)
	}
	return nil
}

// PushAllowedFrom reports whether a push from addr passes
// push_allowed_cidrs; with no CIDRs configured every address passes.
func (a *APIConfig) PushAllowedFrom(addr netip.Addr) bool {
	if len(a.PushAllowed) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range a.PushAllowed {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ReadTokens reads a tokens file: one token per line, blank lines and lines
// starting with # ignored. An empty path means no tokens.
func ReadTokens(path string) ([]string, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var tokens []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		tokens = append(tokens, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%s holds no token", path)
	}
	return tokens, nil
}

// CheckTarget reports whether t is a "host:port" an agent can be reached at.
// Schemes and paths are rejected: they belong to scheme and snapshot_path.
func CheckTarget(t string) error {
	host, port, err := net.SplitHostPort(t)
	if err != nil {
		return fmt.Errorf("target %q: %w", t, err)
	}
	if host == "" {
		return fmt.Errorf("target %q: empty host", t)
	}
	if strings.ContainsAny(host, "/?#@ ") {
		return fmt.Errorf("target %q: host must be an IP or a hostname", t)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("target %q: bad port %q", t, port)
	}
	return nil
}

// CheckLabels rejects label names Prometheus would reject, so a target list
// shared with prometheus.yml is valid for both.
func CheckLabels(labels map[string]string) error {
	for k := range labels {
		if !model.LabelName(k).IsValidLegacy() {
			return fmt.Errorf("invalid label name %q", k)
		}
	}
	return nil
}

func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(ss))
	for _, s := range ss {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil {
				return nil, fmt.Errorf("%q is neither a CIDR nor an address: %w", s, err)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
