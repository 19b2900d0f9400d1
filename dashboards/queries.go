package dashboards

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/prometheus/prometheus/promql/parser"
)

// Query is one PromQL expression of a panel, as found in a dashboard file.
type Query struct {
	Dashboard string // file name, e.g. hosts.json
	Panel     string // panel title
	RefID     string
	Expr      string
	Instant   bool
}

// String names the query in test failures: dashboard, panel, refId, PromQL.
func (q Query) String() string {
	return fmt.Sprintf("%s / %q / %s: %s", q.Dashboard, q.Panel, q.RefID, q.Expr)
}

// LoadQueries reads every *.json dashboard in dir and returns its queries,
// so tests check the files Grafana loads rather than the generator's structs.
func LoadQueries(dir string) ([]Query, error) {
	var qs []Query
	err := eachTarget(dir, func(file string, p Panel, t Target) {
		if t.Datasource.Type == "prometheus" {
			qs = append(qs, Query{Dashboard: file, Panel: p.Title, RefID: t.RefID, Expr: t.Expr, Instant: t.Instant})
		}
	})
	return qs, err
}

// APIRequest is one archiver API request of a panel (Infinity datasource).
type APIRequest struct {
	Dashboard    string
	Panel        string
	URL          string // relative to the archiver's base URL, may hold ${ip}
	RootSelector string // dotted path to the rows in the JSON answer
	Fields       []string
}

// LoadAPIRequests reads every *.json dashboard in dir and returns the
// archiver API requests of its Infinity panels.
func LoadAPIRequests(dir string) ([]APIRequest, error) {
	var rs []APIRequest
	err := eachTarget(dir, func(file string, p Panel, t Target) {
		if t.Datasource.Type != InfinityPlugin {
			return
		}
		r := APIRequest{Dashboard: file, Panel: p.Title, URL: t.URL, RootSelector: t.RootSelector}
		for _, c := range t.Columns {
			r.Fields = append(r.Fields, c.Selector)
		}
		rs = append(rs, r)
	})
	return rs, err
}

// eachTarget calls fn for every target of every panel (rows included) of
// the *.json dashboards in dir.
func eachTarget(dir string, fn func(file string, p Panel, t Target)) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return fmt.Errorf("list dashboards in %s: %w", dir, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read dashboard: %w", err)
		}
		var d Dashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			return fmt.Errorf("parse dashboard %s: %w", f, err)
		}
		for _, p := range flatten(d.Panels) {
			for _, t := range p.Targets {
				fn(filepath.Base(f), p, t)
			}
		}
	}
	return nil
}

// flatten lists panels including those nested in collapsed rows.
func flatten(ps []Panel) []Panel {
	var out []Panel
	for _, p := range ps {
		out = append(out, p)
		out = append(out, flatten(p.Panels)...)
	}
	return out
}

// Expand replaces Grafana's variables in expr the way Grafana would for a
// viewer who selected All: job and instance become ".+", and the interval
// variables become the given durations (PromQL duration syntax).
func Expand(expr, rateInterval, rangeDur string) string {
	return strings.NewReplacer(
		"$__rate_interval", rateInterval,
		"$__range", rangeDur,
		"$job", ".+",
		"$instance", ".+",
	).Replace(expr)
}

// MetricNames parses an expanded expression and returns the metric names
// it selects, sorted and without duplicates.
func MetricNames(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("parse %q: %w", expr, err)
	}
	seen := map[string]bool{}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		for _, m := range vs.LabelMatchers {
			if m.Name == "__name__" {
				name = m.Value
			}
		}
		if name != "" {
			seen[name] = true
		}
		return nil
	})
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}
