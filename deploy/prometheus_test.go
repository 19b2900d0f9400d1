package deploy

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// stateAlerts fire on a state whose value carries no news (0 for down, 1
// for failing), so their description need not quote $value.
var stateAlerts = map[string]bool{
	"PrexmonAgentDown":               true,
	"ArchiverDown":                   true,
	"AlertmanagerDown":               true,
	"ArchiverConfigReloadFailed":     true,
	"HostCollectorFailing":           true,
	"PrometheusConfigReloadFailed":   true,
	"AlertmanagerConfigReloadFailed": true,
}

// alwaysFiring alerts cannot be shown silent.
var alwaysFiring = map[string]bool{"Watchdog": true}

// runbookBase is where every runbook_url points, followed by the anchor
// GitHub gives the alert's heading in runbooks.md.
const runbookBase = "https://github.com/prexmon/prexmon/blob/main/deploy/prometheus/runbooks.md#"

type alertRule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

func loadAlertRules(t *testing.T) []alertRule {
	t.Helper()
	var rules struct {
		Groups []struct {
			Rules []alertRule `yaml:"rules"`
		} `yaml:"groups"`
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	var out []alertRule
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" {
				out = append(out, r)
			}
		}
	}
	if len(out) < 40 {
		t.Fatalf("only %d alerts found", len(out))
	}
	return out
}

// expAlert is one alert a promtool test expects, its name among its labels.
type expAlert map[string]string

// loadAlertTests returns, per alert name, whether alerts_test.yml shows it
// firing and silent, and every alert it expects to fire.
func loadAlertTests(t *testing.T) (firing, silent map[string]bool, expected []expAlert) {
	t.Helper()
	var tests struct {
		Tests []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []struct {
					ExpLabels map[string]string `yaml:"exp_labels"`
				} `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	firing, silent = map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				firing[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
			for _, e := range a.ExpAlerts {
				labels := expAlert{"alertname": a.Alertname}
				for k, v := range e.ExpLabels {
					labels[k] = v
				}
				expected = append(expected, labels)
			}
		}
	}
	return firing, silent, expected
}

func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("parse %s: %v", file, err)
	}
}

// runbookAnchors returns the anchors GitHub gives the headings of a
// Markdown file: lower case, spaces to hyphens, other punctuation dropped.
func runbookAnchors(t *testing.T, file string) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	drop := regexp.MustCompile(`[^a-z0-9 _-]`)
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		h := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(h), ""), " ", "-")] = true
	}
	return anchors
}

// TestAlertConventions checks every alert of deploy/prometheus/alerts.yml
// has a severity, annotations naming the host (or the job, for alerts
// about a whole job, or the target, for one aggregated across the job) and
// the value, a runbook_url whose anchor exists in
// runbooks.md, and promtool tests showing it both firing and silent
// (promtool itself runs them).
func TestAlertConventions(t *testing.T) {
	rules := loadAlertRules(t)
	firing, silent, _ := loadAlertTests(t)
	anchors := runbookAnchors(t, "prometheus/runbooks.md")
	tiers := map[string][]string{}
	for _, r := range rules {
		sev := r.Labels["severity"]
		switch sev {
		case "critical", "warning", "info":
		default:
			t.Errorf("%s: severity %q, want critical, warning or info", r.Alert, sev)
		}
		tiers[r.Alert] = append(tiers[r.Alert], sev)
		// absent() and vector() return no instance: such alerts are about
		// a whole job (or nothing in particular) and say which.
		expr := strings.TrimSpace(r.Expr)
		who := "$labels.instance"
		switch {
		case strings.HasPrefix(expr, "absent("):
			who = "$labels.job"
		case strings.HasPrefix(expr, "vector("):
			who = ""
		case strings.Contains(expr, "by (job, target)"):
			// Aggregated across the job's instances (any archiver takes
			// pushes): about one target of the job, which it names.
			who = "$labels.target"
		}
		for _, key := range []string{"summary", "description"} {
			if !strings.Contains(r.Annotations[key], who) {
				t.Errorf("%s: %s does not name %s: %q", r.Alert, key, who, r.Annotations[key])
			}
		}
		if !stateAlerts[r.Alert] && !strings.Contains(r.Annotations["description"], "$value") {
			t.Errorf("%s: description does not quote the value: %q", r.Alert, r.Annotations["description"])
		}
		for key := range r.Annotations {
			if key != "summary" && key != "description" && key != "runbook_url" {
				t.Errorf("%s: unexpected annotation %s", r.Alert, key)
			}
		}
		anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookBase)
		if !ok {
			t.Errorf("%s: runbook_url %q does not point into %s", r.Alert, r.Annotations["runbook_url"], runbookBase)
		} else if anchor != strings.ToLower(r.Alert) || !anchors[anchor] {
			t.Errorf("%s: runbook_url anchor #%s: want #%s, a heading of runbooks.md (found: %v)", r.Alert, anchor, strings.ToLower(r.Alert), anchors[anchor])
		}
		if !firing[r.Alert] || (!silent[r.Alert] && !alwaysFiring[r.Alert]) {
			t.Errorf("%s: alerts_test.yml shows it firing: %v, silent: %v; want both", r.Alert, firing[r.Alert], silent[r.Alert])
		}
	}
	// Two rules of one name are the warning and critical tiers of one
	// alert, which the Alertmanager inhibition relies on.
	for name, sevs := range tiers {
		slices.Sort(sevs)
		if len(sevs) > 1 && !slices.Equal(sevs, []string{"critical", "warning"}) {
			t.Errorf("%s: severities %v; an alert name has one rule, or a critical and a warning one", name, sevs)
		}
	}
	for name := range firing {
		if _, ok := tiers[name]; !ok {
			t.Errorf("alerts_test.yml tests %s, which alerts.yml does not define", name)
		}
	}
}

// TestRunbooksComplete checks every alert has its section in runbooks.md
// saying what it means, how to check and how to fix, and no section is left
// over from a removed alert.
func TestRunbooksComplete(t *testing.T) {
	raw, err := os.ReadFile("prometheus/runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	alerts := map[string]bool{}
	for _, r := range loadAlertRules(t) {
		alerts[r.Alert] = true
	}
	sections := map[string]string{}
	var cur string
	for _, line := range strings.Split(string(raw), "\n") {
		if name, ok := strings.CutPrefix(line, "### "); ok {
			cur = strings.TrimSpace(name)
			sections[cur] = ""
			continue
		}
		if strings.HasPrefix(line, "#") {
			cur = ""
		}
		if cur != "" {
			sections[cur] += line + "\n"
		}
	}
	for name := range alerts {
		body, ok := sections[name]
		if !ok {
			t.Errorf("runbooks.md has no section ### %s", name)
			continue
		}
		for _, part := range []string{"**Meaning.**", "**Check", "Fix.**"} {
			if !strings.Contains(body, part) {
				t.Errorf("runbooks.md ### %s lacks %s", name, part)
			}
		}
	}
	for name := range sections {
		if !alerts[name] {
			t.Errorf("runbooks.md ### %s: no such alert", name)
		}
	}
}

type amRoute struct {
	Receiver string    `yaml:"receiver"`
	GroupBy  []string  `yaml:"group_by"`
	Matchers []string  `yaml:"matchers"`
	Routes   []amRoute `yaml:"routes"`
}

type amConfig struct {
	Route        amRoute `yaml:"route"`
	InhibitRules []struct {
		SourceMatchers []string `yaml:"source_matchers"`
		TargetMatchers []string `yaml:"target_matchers"`
		Equal          []string `yaml:"equal"`
	} `yaml:"inhibit_rules"`
	Receivers []struct{ Name string } `yaml:"receivers"`
}

const amFile = "alertmanager/alertmanager.yml"

func TestAlertmanagerConfig(t *testing.T) {
	var cfg amConfig
	readYAML(t, amFile, &cfg)
	names := map[string]bool{}
	for _, r := range cfg.Receivers {
		names[r.Name] = true
	}
	var walk func(r amRoute)
	walk = func(r amRoute) {
		if r.Receiver != "" && !names[r.Receiver] {
			t.Errorf("route uses undefined receiver %q", r.Receiver)
		}
		for _, c := range r.Routes {
			walk(c)
		}
	}
	if cfg.Route.Receiver == "" {
		t.Error("the root route needs a receiver")
	}
	walk(cfg.Route)
	// One notification per alert and job, not one per host: a partition
	// that takes 500 agents away pages once.
	if !slices.Equal(cfg.Route.GroupBy, []string{"alertname", "job"}) {
		t.Errorf("root group_by %v, want [alertname job]", cfg.Route.GroupBy)
	}
	// amtool validates the file completely where it is installed.
	if amtool, err := exec.LookPath("amtool"); err == nil {
		if out, err := exec.Command(amtool, "check-config", amFile).CombinedOutput(); err != nil {
			t.Errorf("amtool check-config: %v\n%s", err, out)
		}
	} else {
		t.Log("amtool not installed; check-config skipped")
	}
}

// TestAlertmanagerRoutes asks amtool which receiver each kind of alert
// reaches.
func TestAlertmanagerRoutes(t *testing.T) {
	amtool, err := exec.LookPath("amtool")
	if err != nil {
		t.Skip("amtool not installed (Debian: prometheus-alertmanager)")
	}
	for _, tc := range []struct {
		labels []string
		want   string
	}{
		{[]string{"alertname=Watchdog", "severity=info"}, "watchdog"},
		{[]string{"alertname=PrexmonAgentDown", "severity=critical", "job=prexmon"}, "pager"},
		{[]string{"alertname=HostOutOfMemory", "severity=critical", "job=prexmon"}, "pager"},
		{[]string{"alertname=HostOutOfMemory", "severity=warning", "job=prexmon"}, "default"},
		{[]string{"alertname=HostRebooted", "severity=info", "job=prexmon"}, "null"},
		{[]string{"alertname=Unknown"}, "default"},
	} {
		args := append([]string{"config", "routes", "test", "--config.file=" + amFile}, tc.labels...)
		out, err := exec.Command(amtool, args...).Output()
		if got := strings.TrimSpace(string(out)); err != nil || got != tc.want {
			t.Errorf("amtool config routes test %v = %q (%v), want %q", tc.labels, got, err, tc.want)
		}
	}
}

// matcher is one Alertmanager matcher of the form name="value",
// name!="value", name=~"regexp" or name!~"regexp".
type matcher struct {
	name, op string
	re       *regexp.Regexp
	value    string
}

var matcherSyntax = regexp.MustCompile(`^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"(.*)"\s*$`)

func parseMatcher(s string) (matcher, error) {
	m := matcherSyntax.FindStringSubmatch(s)
	if m == nil {
		return matcher{}, fmt.Errorf("matcher %q: not name=\"value\"", s)
	}
	re, err := regexp.Compile("^(?:" + m[3] + ")$")
	return matcher{name: m[1], op: m[2], re: re, value: m[3]}, err
}

func (m matcher) matches(labels map[string]string) bool {
	v := labels[m.name]
	switch m.op {
	case "=":
		return v == m.value
	case "!=":
		return v != m.value
	case "=~":
		return m.re.MatchString(v)
	default:
		return !m.re.MatchString(v)
	}
}

// inhibited reports whether an inhibit rule of cfg lets source hold back
// target, as Alertmanager decides it: the source matches every source
// matcher, the target every target matcher, and the labels listed in
// equal have the same value in both (absent counts as empty).
func inhibited(t *testing.T, cfg amConfig, source, target expAlert) bool {
	t.Helper()
	all := func(ms []string, labels expAlert) bool {
		for _, s := range ms {
			m, err := parseMatcher(s)
			if err != nil {
				t.Fatal(err)
			}
			if !m.matches(labels) {
				return false
			}
		}
		return true
	}
	for _, r := range cfg.InhibitRules {
		if !all(r.SourceMatchers, source) || !all(r.TargetMatchers, target) {
			continue
		}
		same := true
		for _, l := range r.Equal {
			same = same && source[l] == target[l]
		}
		if same {
			return true
		}
	}
	return false
}

// TestAlertmanagerInhibition runs the inhibit rules over the alerts the
// promtool tests expect to fire, with their real label sets: a critical
// alert holds back its warning twin and nothing else; a down agent holds
// back its archive alert; no alert holds back a critical one.
func TestAlertmanagerInhibition(t *testing.T) {
	var cfg amConfig
	readYAML(t, amFile, &cfg)
	_, _, alerts := loadAlertTests(t)
	without := func(a expAlert, drop string) string {
		var parts []string
		for k, v := range a {
			if k != drop {
				parts = append(parts, k+"="+v)
			}
		}
		slices.Sort(parts)
		return strings.Join(parts, ",")
	}
	twins, agentDownVsArchive := 0, 0
	for _, s := range alerts {
		for _, tg := range alerts {
			got := inhibited(t, cfg, s, tg)
			twin := s["severity"] == "critical" && tg["severity"] == "warning" &&
				without(s, "severity") == without(tg, "severity")
			archive := s["alertname"] == "PrexmonAgentDown" && tg["alertname"] == "ArchiverAgentNotArchived" &&
				s["instance"] == tg["target"]
			if twin {
				twins++
				if !got {
					t.Errorf("critical %v does not inhibit its warning twin", s)
				}
			}
			if archive {
				agentDownVsArchive++
				if !got {
					t.Errorf("%v does not inhibit %v", s, tg)
				}
			}
			if got && tg["severity"] == "critical" {
				t.Errorf("%v inhibits the critical %v", s, tg)
			}
			if got && !twin && !archive && s["alertname"] == tg["alertname"] {
				t.Errorf("%v inhibits %v, which is not its twin", s, tg)
			}
		}
	}
	if twins < 5 {
		t.Errorf("only %d critical/warning twins in alerts_test.yml", twins)
	}
	if agentDownVsArchive == 0 {
		t.Error("alerts_test.yml has no PrexmonAgentDown for an agent that ArchiverAgentNotArchived reports")
	}
}
