package dashboards

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"

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
// so tests check the files Grafana loads rather than the generator's values.
func LoadQueries(dir string) ([]Query, error) {
	var qs []Query
	err := eachTarget(dir, func(file, panel string, t variants.Dataquery) {
		if p, ok := t.(*prometheus.Dataquery); ok {
			qs = append(qs, Query{Dashboard: file, Panel: panel, RefID: deref(p.RefId), Expr: p.Expr, Instant: deref(p.Instant)})
		}
	})
	return qs, err
}

// APIRequest is one archiver API request of a panel (Infinity datasource).
type APIRequest struct {
	Dashboard    string
	Panel        string
	URL          string     // relative to the archiver's base URL, may hold ${agent} and time range variables
	Params       []URLParam // query parameters, which may hold them too
	RootSelector string     // dotted path to the rows in the JSON answer
	Fields       []string   // dotted paths within a row
}

// Resolve fills in the variables as Grafana would for the given agent and
// time range and returns the path and query to ask the archiver.
func (r APIRequest) Resolve(agent string, from, to time.Time) string {
	rep := strings.NewReplacer(
		"${agent}", agent,
		rangeFrom, from.UTC().Format(time.RFC3339),
		rangeTo, to.UTC().Format(time.RFC3339),
		rangeDay, to.UTC().Format("2006-01-02"),
	)
	u := rep.Replace(r.URL)
	v := url.Values{}
	for _, p := range r.Params {
		v.Add(p.Key, rep.Replace(p.Value))
	}
	if len(v) > 0 {
		u += "?" + v.Encode()
	}
	return u
}

// LoadAPIRequests reads every *.json dashboard in dir and returns the
// archiver API requests of its Infinity panels.
func LoadAPIRequests(dir string) ([]APIRequest, error) {
	var rs []APIRequest
	err := eachTarget(dir, func(file, panel string, t variants.Dataquery) {
		q, ok := t.(InfinityQuery)
		if !ok {
			return
		}
		r := APIRequest{Dashboard: file, Panel: panel, URL: q.URL, RootSelector: q.RootSelector}
		if q.URLOptions != nil {
			r.Params = q.URLOptions.Params
		}
		for _, c := range q.Columns {
			r.Fields = append(r.Fields, c.Selector)
		}
		rs = append(rs, r)
	})
	return rs, err
}

// Decode reads a dashboard with the foundation SDK's strict decoder.
func Decode(raw []byte) (dashboard.Dashboard, error) {
	RegisterPlugins()
	var d dashboard.Dashboard
	if err := noErrors(d.UnmarshalJSONStrict(raw)); err != nil {
		return d, err
	}
	// The SDK (v0.0.22) reports each panel's errors but, when a panel has
	// none, drops the panel: its union type takes the empty error list for
	// an error. Decode the panels again one by one.
	var top struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		return d, err
	}
	d.Panels = d.Panels[:0]
	for i, pr := range top.Panels {
		var kind struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(pr, &kind); err != nil {
			return d, fmt.Errorf("panels[%d]: %w", i, err)
		}
		var p dashboard.PanelOrRowPanel
		var err error
		if kind.Type == "row" {
			p.RowPanel = &dashboard.RowPanel{}
			err = noErrors(p.RowPanel.UnmarshalJSONStrict(pr))
		} else {
			p.Panel = &dashboard.Panel{}
			err = noErrors(p.Panel.UnmarshalJSONStrict(pr))
		}
		if err != nil {
			return d, fmt.Errorf("panels[%d]: %w", i, err)
		}
		if err := decodeTargets(pr, p); err != nil {
			return d, fmt.Errorf("panels[%d]: %w", i, err)
		}
		d.Panels = append(d.Panels, p)
	}
	return d, nil
}

// decodeTargets fills in the queries the SDK dropped for the same reason,
// each decoded strictly as its datasource's query type: Prometheus or
// Infinity; any other kind is an error.
func decodeTargets(raw json.RawMessage, p dashboard.PanelOrRowPanel) error {
	type rawPanel struct {
		Targets []json.RawMessage `json:"targets"`
		Panels  []json.RawMessage `json:"panels"`
	}
	var rp rawPanel
	if err := json.Unmarshal(raw, &rp); err != nil {
		return err
	}
	queries := func(list []json.RawMessage) ([]variants.Dataquery, error) {
		var out []variants.Dataquery
		for i, qr := range list {
			q, err := strictQuery(qr)
			if err != nil {
				return nil, fmt.Errorf("targets[%d]: %w", i, err)
			}
			out = append(out, q)
		}
		return out, nil
	}
	var err error
	if p.Panel != nil {
		p.Panel.Targets, err = queries(rp.Targets)
		return err
	}
	for i, cr := range rp.Panels {
		var c rawPanel
		if err := json.Unmarshal(cr, &c); err != nil {
			return err
		}
		if p.RowPanel.Panels[i].Targets, err = queries(c.Targets); err != nil {
			return fmt.Errorf("panels[%d]: %w", i, err)
		}
	}
	return nil
}

func strictQuery(raw json.RawMessage) (variants.Dataquery, error) {
	var kind struct {
		Datasource struct {
			Type string `json:"type"`
		} `json:"datasource"`
	}
	if err := json.Unmarshal(raw, &kind); err != nil {
		return nil, err
	}
	switch kind.Datasource.Type {
	case "prometheus":
		q := &prometheus.Dataquery{}
		return q, noErrors(q.UnmarshalJSONStrict(raw))
	case InfinityPlugin:
		return strictInfinity(raw)
	}
	return nil, fmt.Errorf("query of datasource type %q: neither Prometheus nor Infinity", kind.Datasource.Type)
}

// noErrors turns the SDK's empty error list into no error.
func noErrors(err error) error {
	if be, ok := err.(cog.BuildErrors); ok && len(be) == 0 {
		return nil
	}
	return err
}

// Panels lists the panels of d, those inside rows included, rows left out.
func Panels(d dashboard.Dashboard) []dashboard.Panel {
	var out []dashboard.Panel
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			out = append(out, *p.Panel)
		case p.RowPanel != nil:
			out = append(out, p.RowPanel.Panels...)
		}
	}
	return out
}

// eachTarget calls fn for every query of every panel (rows included) of
// the *.json dashboards in dir, decoded strictly.
func eachTarget(dir string, fn func(file, panel string, t variants.Dataquery)) error {
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return fmt.Errorf("list dashboards in %s: %w", dir, err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("read dashboard: %w", err)
		}
		d, err := Decode(raw)
		if err != nil {
			return fmt.Errorf("parse dashboard %s: %w", f, err)
		}
		for _, p := range Panels(d) {
			for _, t := range p.Targets {
				fn(filepath.Base(f), deref(p.Title), t)
			}
		}
	}
	return nil
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
