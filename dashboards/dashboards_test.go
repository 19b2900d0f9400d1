package dashboards

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the dashboard JSON files from the generator")

// TestFilesUpToDate fails when a committed JSON file differs from what the
// generator produces; go test ./dashboards -update rewrites them.
func TestFilesUpToDate(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range all {
		want, err := JSON(d)
		if err != nil {
			t.Fatal(err)
		}
		if *update {
			if err := os.WriteFile(name, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("read %s: %v (run go test ./dashboards -update)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from the generator's output; run go test ./dashboards -update", name)
		}
	}
}

// rawPanel is read from the files with generic maps, so the checks see
// exactly what Grafana sees rather than what the Go structs allow.
type rawPanel map[string]any

func (p rawPanel) str(path ...string) string {
	var v any = map[string]any(p)
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		v = m[k]
	}
	s, _ := v.(string)
	return s
}

func loadRaw(t *testing.T, name string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", name, err)
	}
	return d
}

func TestConventions(t *testing.T) {
	wantUID := map[string]string{"hosts.json": "prexmon-hosts", "archiver.json": "prexmon-archiver", "snapshots.json": "prexmon-snapshots"}
	// The datasource variable each dashboard's panels must use.
	wantDS := map[string]Datasource{
		"hosts.json":     {Type: "prometheus", UID: DatasourceRef},
		"archiver.json":  {Type: "prometheus", UID: DatasourceRef},
		"snapshots.json": {Type: InfinityPlugin, UID: ArchiverDatasourceRef},
	}
	files, _ := filepath.Glob("*.json")
	if len(files) != len(wantUID) {
		t.Fatalf("dashboard files %v, want %d", files, len(wantUID))
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			d := loadRaw(t, name)
			if d["uid"] != wantUID[name] {
				t.Errorf("uid %v, want the stable %q", d["uid"], wantUID[name])
			}
			if d["schemaVersion"] != float64(SchemaVersion) {
				t.Errorf("schemaVersion %v, want %d", d["schemaVersion"], SchemaVersion)
			}
			if _, ok := d["__inputs"]; ok {
				t.Error("file-provisioned dashboards must not use __inputs")
			}
			raw, _ := os.ReadFile(name)
			if bytes.Contains(raw, []byte("DS_PROMETHEUS")) {
				t.Error("file-provisioned dashboards must not reference ${DS_PROMETHEUS}")
			}
			checkVariables(t, d, wantDS[name])
			panels, _ := d["panels"].([]any)
			if len(panels) == 0 {
				t.Fatal("no panels")
			}
			ids := map[float64]bool{}
			for _, pv := range panels {
				p := rawPanel(pv.(map[string]any))
				id, _ := p["id"].(float64)
				if ids[id] {
					t.Errorf("panel id %v used twice", id)
				}
				ids[id] = true
				checkPanel(t, p, wantDS[name])
			}
		})
	}
}

func checkVariables(t *testing.T, d map[string]any, ds Datasource) {
	t.Helper()
	list, _ := d["templating"].(map[string]any)["list"].([]any)
	vars := map[string]map[string]any{}
	for _, v := range list {
		m := v.(map[string]any)
		vars[m["name"].(string)] = m
	}
	dsVar := strings.TrimSuffix(strings.TrimPrefix(ds.UID, "${"), "}")
	if v := vars[dsVar]; v == nil || v["type"] != "datasource" || v["query"] != ds.Type {
		t.Errorf("want a variable %s of type datasource for %s, got %v", dsVar, ds.Type, v)
	}
	queryVars := []string{"job", "instance"}
	if ds.Type == InfinityPlugin {
		queryVars = []string{"agent"}
	}
	for _, name := range queryVars {
		v := vars[name]
		if v == nil {
			t.Errorf("variable %s missing", name)
			continue
		}
		if ds.Type == "prometheus" && (v["multi"] != true || v["includeAll"] != true || v["allValue"] != ".+") {
			t.Errorf("variable %s: want multi-select with All = .+, got multi=%v includeAll=%v allValue=%v",
				name, v["multi"], v["includeAll"], v["allValue"])
		}
		if vds, _ := v["datasource"].(map[string]any); vds["uid"] != ds.UID {
			t.Errorf("variable %s datasource %v, want %s", name, vds, ds.UID)
		}
	}
}

func checkPanel(t *testing.T, p rawPanel, ds Datasource) {
	t.Helper()
	title := p.str("title")
	if p.str("type") == "row" {
		if title == "" {
			t.Errorf("row %v has no title", p["id"])
		}
		children, _ := p["panels"].([]any)
		for _, c := range children {
			checkPanel(t, rawPanel(c.(map[string]any)), ds)
		}
		return
	}
	if title == "" {
		t.Errorf("panel %v has no title", p["id"])
	}
	if p.str("type") == "alertlist" {
		// Grafana's alerting feeds it; it has no datasource or queries.
		if p.str("description") == "" {
			t.Errorf("panel %q has no description", title)
		}
		return
	}
	if p.str("description") == "" {
		t.Errorf("panel %q has no description", title)
	}
	if p.str("fieldConfig", "defaults", "unit") == "" {
		t.Errorf("panel %q has no unit", title)
	}
	if p.str("datasource", "uid") != ds.UID || p.str("datasource", "type") != ds.Type {
		t.Errorf("panel %q datasource %v, want %+v", title, p["datasource"], ds)
	}
	targets, _ := p["targets"].([]any)
	if len(targets) == 0 {
		t.Errorf("panel %q has no queries", title)
	}
	for _, tv := range targets {
		tg := rawPanel(tv.(map[string]any))
		if tg.str("datasource", "uid") != ds.UID || tg.str("datasource", "type") != ds.Type {
			t.Errorf("panel %q query %s datasource %v, want %+v", title, tg.str("refId"), tg["datasource"], ds)
		}
		if ds.Type == InfinityPlugin {
			if !strings.HasPrefix(tg.str("url"), "/api/v1/") || tg.str("root_selector") == "" || tg["columns"] == nil {
				t.Errorf("panel %q query %s: want a relative /api/v1/ url, a root selector and columns", title, tg.str("refId"))
			}
			continue
		}
		if tg.str("expr") == "" {
			t.Errorf("panel %q query %s has no expression", title, tg.str("refId"))
		}
		if strings.Contains(tg.str("expr"), "$__interval") {
			t.Errorf("panel %q query %s uses $__interval; use $__rate_interval", title, tg.str("refId"))
		}
	}
}

// The sentinel durations make every range selector traceable to the
// variable it came from.
const (
	rateSentinel  = 17 * time.Second
	rangeSentinel = 3 * time.Hour
)

// TestQueriesParse checks every expression with the PromQL parser: it must
// parse, range selectors must use $__rate_interval (or $__range in a stat
// that totals the time range), and metric names must be ones prexmon
// exposes or records. The e2e stack test repeats the name check against a
// live scrape and runs every query on the real Prometheus.
func TestQueriesParse(t *testing.T) {
	qs, err := LoadQueries(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(qs) < 40 {
		t.Fatalf("only %d queries found", len(qs))
	}
	recorded := recordedNames(t)
	for _, q := range qs {
		expr := Expand(q.Expr, "17s", "3h")
		e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
		if err != nil {
			t.Errorf("%v: %v", q, err)
			continue
		}
		parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
			if ms, ok := n.(*parser.MatrixSelector); ok && ms.Range != rateSentinel && ms.Range != rangeSentinel {
				t.Errorf("%v: range %v is not $__rate_interval or $__range", q, ms.Range)
			}
			return nil
		})
		names, err := MetricNames(expr)
		if err != nil {
			t.Errorf("%v: %v", q, err)
		}
		for _, n := range names {
			known := recorded[n] || n == "up" ||
				(strings.HasPrefix(n, "host_") && q.Dashboard == "hosts.json") ||
				((strings.HasPrefix(n, "archiver_") || strings.HasPrefix(n, "process_")) && q.Dashboard == "archiver.json")
			if !known {
				t.Errorf("%v: metric %s is neither exposed by the component nor recorded", q, n)
			}
		}
	}
}

// recordedNames reads the recording rules the dashboards may use.
func recordedNames(t *testing.T) map[string]bool {
	t.Helper()
	raw, err := os.ReadFile("../deploy/prometheus/rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatalf("parse rules.yml: %v", err)
	}
	names := map[string]bool{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				names[r.Record] = true
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("no recording rules found")
	}
	return names
}

// TestQueriesAcceptedByPromtool feeds every expression to the installed
// promtool as a recording rule, so functions or syntax newer than the
// Prometheus that CI installs (Debian's) are caught without a server.
func TestQueriesAcceptedByPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed but CI must have it (see .ci/run)")
		}
		t.Skip("promtool not installed")
	}
	qs, err := LoadQueries(".")
	if err != nil {
		t.Fatal(err)
	}
	var rules []map[string]string
	for i, q := range qs {
		rules = append(rules, map[string]string{"record": fmt.Sprintf("dashboard:query_%d:expr", i), "expr": Expand(q.Expr, "1m", "1h")})
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard_rules.yml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if msg, err := exec.Command(promtool, "check", "rules", path).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboards' queries: %v\n%s", err, msg)
	}
}

func TestProvisioning(t *testing.T) {
	type datasource struct {
		Name, UID, Type, URL string
		IsDefault            bool `yaml:"isDefault"`
		JSONData             struct {
			AllowedHosts []string `yaml:"allowedHosts"`
		} `yaml:"jsonData"`
	}
	var ds struct {
		APIVersion  int          `yaml:"apiVersion"`
		Datasources []datasource `yaml:"datasources"`
	}
	var dp struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Name, Type string
			Options    struct{ Path string } `yaml:"options"`
		} `yaml:"providers"`
	}
	for path, v := range map[string]any{
		"provisioning/datasources/prexmon.yml": &ds,
		"provisioning/dashboards/prexmon.yml":  &dp,
	} {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(raw, v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	byType := map[string]datasource{}
	for _, d := range ds.Datasources {
		byType[d.Type] = d
	}
	if p := byType["prometheus"]; ds.APIVersion != 1 || !p.IsDefault || p.URL == "" {
		t.Errorf("want the default datasource to be Prometheus, got %+v", ds)
	}
	if a := byType[InfinityPlugin]; a.URL == "" || !slices.Contains(a.JSONData.AllowedHosts, a.URL) {
		t.Errorf("want an Infinity datasource whose URL is the archiver and the only allowed host, got %+v", a)
	}
	if dp.APIVersion != 1 || len(dp.Providers) != 1 || dp.Providers[0].Type != "file" || dp.Providers[0].Options.Path == "" {
		t.Errorf("dashboard provisioning: want one file provider with a path, got %+v", dp)
	}
}

func TestAPIRequests(t *testing.T) {
	rs, err := LoadAPIRequests(".")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) < 4 {
		t.Fatalf("only %d archiver API requests found", len(rs))
	}
	for _, r := range rs {
		if !strings.HasPrefix(r.URL, "/api/v1/") || len(r.Fields) == 0 || r.RootSelector == "" {
			t.Errorf("%s / %q: request %q root %q fields %v", r.Dashboard, r.Panel, r.URL, r.RootSelector, r.Fields)
		}
	}
}
