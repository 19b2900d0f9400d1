package deploy

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// stateAlerts fire on a state whose value carries no news (0 for down, 1
// for failing), so their description need not quote $value.
var stateAlerts = map[string]bool{
	"PrexmonAgentDown":           true,
	"ArchiverDown":               true,
	"ArchiverConfigReloadFailed": true,
	"HostCollectorFailing":       true,
}

// TestAlertConventions checks every alert of deploy/prometheus/alerts.yml
// has a severity, annotations naming the host and value, and promtool
// tests showing it both firing and silent (promtool itself runs them).
func TestAlertConventions(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert       string            `yaml:"alert"`
				Labels      map[string]string `yaml:"labels"`
				Annotations map[string]string `yaml:"annotations"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	for file, v := range map[string]any{"prometheus/alerts.yml": &rules, "prometheus/alerts_test.yml": &tests} {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, v); err != nil {
			t.Fatalf("parse %s: %v", file, err)
		}
	}
	firing, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	n := 0
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			n++
			switch r.Labels["severity"] {
			case "critical", "warning", "info":
			default:
				t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, r.Labels["severity"])
			}
			for _, key := range []string{"summary", "description"} {
				if !strings.Contains(r.Annotations[key], "$labels.instance") {
					t.Errorf("%s: %s does not name the host ({{ $labels.instance }}): %q", r.Alert, key, r.Annotations[key])
				}
			}
			if !stateAlerts[r.Alert] && !strings.Contains(r.Annotations["description"], "$value") {
				t.Errorf("%s: description does not quote the value: %q", r.Alert, r.Annotations["description"])
			}
			if !firing[r.Alert] || !silent[r.Alert] {
				t.Errorf("%s: alerts_test.yml shows it firing: %v, silent: %v; want both", r.Alert, firing[r.Alert], silent[r.Alert])
			}
		}
	}
	if n < 15 {
		t.Errorf("only %d alerts found", n)
	}
}
