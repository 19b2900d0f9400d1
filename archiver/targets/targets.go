// Package targets turns the config's static_configs and file_sd_configs into
// the list of agents to scrape, and keeps that list current by watching the
// file_sd files, so registration changes apply without a restart.
package targets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v2"

	"github.com/prexmon/prexmon/archiver/config"
)

// Target is one agent to scrape: its "host:port" and the labels stored with
// every snapshot taken from it.
type Target struct {
	Address string
	Labels  map[string]string
}

// Equal reports whether t and o describe the same agent with the same labels.
func (t Target) Equal(o Target) bool {
	return t.Address == o.Address && maps.Equal(t.Labels, o.Labels)
}

// Group is one entry of a file_sd file, exactly as Prometheus reads it.
type Group struct {
	Targets []string          `yaml:"targets" json:"targets"`
	Labels  map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
}

// ReadFile reads and validates a file_sd file; the format follows the
// extension (.json, or .yml/.yaml) as in Prometheus.
func ReadFile(path string) ([]Group, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	groups, err := Parse(b, filepath.Ext(path))
	if err != nil {
		return nil, fmt.Errorf("file_sd %s: %w", path, err)
	}
	return groups, nil
}

// Parse decodes file_sd content in the format named by ext and validates
// every target and label. Unknown keys are errors in both formats, as in
// Prometheus, so a typo does not silently drop labels.
func Parse(b []byte, ext string) ([]Group, error) {
	var groups []Group
	switch strings.ToLower(ext) {
	case ".json":
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&groups); err != nil {
			return nil, err
		}
		if dec.More() {
			return nil, fmt.Errorf("trailing data after the JSON list")
		}
	case ".yml", ".yaml":
		if err := yaml.UnmarshalStrict(b, &groups); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown file_sd extension %q (want .json, .yml or .yaml)", ext)
	}
	for i, g := range groups {
		for _, t := range g.Targets {
			if err := config.CheckTarget(t); err != nil {
				return nil, fmt.Errorf("group %d: %w", i, err)
			}
		}
		if err := config.CheckLabels(g.Labels); err != nil {
			return nil, fmt.Errorf("group %d: %w", i, err)
		}
	}
	return groups, nil
}

// Flatten lists the targets of groups in order, one per address: the first
// occurrence of an address wins, because two loops on one agent would store
// every snapshot twice under the same IP.
func Flatten(groups ...[]Group) []Target {
	seen := map[string]bool{}
	var out []Target
	for _, gs := range groups {
		for _, g := range gs {
			for _, addr := range g.Targets {
				if seen[addr] {
					continue
				}
				seen[addr] = true
				labels := g.Labels
				if labels == nil {
					labels = map[string]string{}
				}
				out = append(out, Target{Address: addr, Labels: labels})
			}
		}
	}
	return out
}

// StaticGroups converts the config's static_configs to groups.
func StaticGroups(cfg *config.Config) []Group {
	out := make([]Group, 0, len(cfg.StaticConfigs))
	for _, sc := range cfg.StaticConfigs {
		out = append(out, Group{Targets: sc.Targets, Labels: sc.Labels})
	}
	return out
}
