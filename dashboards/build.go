// Package dashboards builds prexmon's Grafana dashboards (hosts.json,
// archiver.json) from Go so every panel follows the same conventions, and
// lists their PromQL queries so tests can run them against a real Prometheus.
package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// SchemaVersion is the Grafana dashboard schema the JSON is written in
// (Grafana 12). Grafana migrates older schemas on load, never newer ones.
const SchemaVersion = 41

// DatasourceRef is the reference every panel and query uses, so one
// dashboard serves whichever Prometheus the viewer picks in the variable.
const DatasourceRef = "${datasource}"

// Dashboard is the subset of Grafana's dashboard model prexmon uses.
type Dashboard struct {
	Annotations          annotations    `json:"annotations"`
	Description          string         `json:"description"`
	Editable             bool           `json:"editable"`
	FiscalYearStartMonth int            `json:"fiscalYearStartMonth"`
	GraphTooltip         int            `json:"graphTooltip"`
	ID                   *int           `json:"id"`
	Links                []any          `json:"links"`
	Panels               []Panel        `json:"panels"`
	Refresh              string         `json:"refresh"`
	SchemaVersion        int            `json:"schemaVersion"`
	Tags                 []string       `json:"tags"`
	Templating           templating     `json:"templating"`
	Time                 timeRange      `json:"time"`
	Timepicker           map[string]any `json:"timepicker"`
	Timezone             string         `json:"timezone"`
	Title                string         `json:"title"`
	UID                  string         `json:"uid"`
	Version              int            `json:"version"`
}

type annotations struct {
	List []map[string]any `json:"list"`
}

type templating struct {
	List []Variable `json:"list"`
}

type timeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Datasource points a panel or query at a datasource by uid.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// Variable is a dashboard template variable.
type Variable struct {
	AllValue    string         `json:"allValue,omitempty"`
	Current     map[string]any `json:"current"`
	Datasource  *Datasource    `json:"datasource,omitempty"`
	Definition  string         `json:"definition,omitempty"`
	Hide        int            `json:"hide"`
	IncludeAll  bool           `json:"includeAll"`
	Label       string         `json:"label"`
	Multi       bool           `json:"multi"`
	Name        string         `json:"name"`
	Options     []any          `json:"options"`
	Query       any            `json:"query"`
	Refresh     int            `json:"refresh"`
	Regex       string         `json:"regex"`
	Sort        int            `json:"sort,omitempty"`
	Type        string         `json:"type"`
	Description string         `json:"description,omitempty"`
}

// Panel is a Grafana panel; rows are panels of type "row".
type Panel struct {
	Collapsed       *bool            `json:"collapsed,omitempty"`
	Datasource      *Datasource      `json:"datasource,omitempty"`
	Description     string           `json:"description,omitempty"`
	FieldConfig     *FieldConfig     `json:"fieldConfig,omitempty"`
	GridPos         GridPos          `json:"gridPos"`
	ID              int              `json:"id"`
	Options         map[string]any   `json:"options,omitempty"`
	Panels          []Panel          `json:"panels,omitempty"`
	Repeat          string           `json:"repeat,omitempty"`
	RepeatDirection string           `json:"repeatDirection,omitempty"`
	Targets         []Target         `json:"targets,omitempty"`
	Title           string           `json:"title"`
	Transformations []map[string]any `json:"transformations,omitempty"`
	Type            string           `json:"type"`
}

// GridPos places a panel on Grafana's 24-column grid.
type GridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// FieldConfig carries the unit and display settings of a panel's values.
type FieldConfig struct {
	Defaults  FieldDefaults    `json:"defaults"`
	Overrides []map[string]any `json:"overrides"`
}

// FieldDefaults are the settings applied to every field of a panel.
type FieldDefaults struct {
	Color      map[string]any `json:"color,omitempty"`
	Custom     map[string]any `json:"custom,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Mappings   []any          `json:"mappings"`
	Max        *float64       `json:"max,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Thresholds map[string]any `json:"thresholds"`
	Unit       string         `json:"unit"`
}

// Target is one query of a panel: PromQL for the Prometheus datasource, or
// an HTTP request to the archiver's API for the Infinity datasource.
type Target struct {
	Columns      []Column    `json:"columns,omitempty"`
	Datasource   Datasource  `json:"datasource"`
	EditorMode   string      `json:"editorMode,omitempty"`
	Expr         string      `json:"expr,omitempty"`
	Format       string      `json:"format,omitempty"`
	Instant      bool        `json:"instant"`
	LegendFormat string      `json:"legendFormat,omitempty"`
	Parser       string      `json:"parser,omitempty"`
	Range        bool        `json:"range"`
	RefID        string      `json:"refId"`
	RootSelector string      `json:"root_selector,omitempty"`
	Source       string      `json:"source,omitempty"`
	Type         string      `json:"type,omitempty"`
	URL          string      `json:"url,omitempty"`
	URLOptions   *URLOptions `json:"url_options,omitempty"`
}

// JSON encodes d the way the committed files are written: two-space
// indentation, a trailing newline, no HTML escaping of PromQL's < and >.
func (d Dashboard) JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode dashboard %s: %w", d.UID, err)
	}
	return buf.Bytes(), nil
}

// All returns every dashboard keyed by the file name it is committed as.
func All() map[string]Dashboard {
	return map[string]Dashboard{
		"hosts.json":     Hosts(),
		"archiver.json":  Archiver(),
		"snapshots.json": Snapshots(),
	}
}

var promDS = Datasource{Type: "prometheus", UID: DatasourceRef}

func newDashboard(uid, title, description string, tags []string, vars []Variable, panels []Panel) Dashboard {
	return Dashboard{
		Annotations: annotations{List: []map[string]any{{
			"builtIn":    1,
			"datasource": map[string]any{"type": "grafana", "uid": "-- Grafana --"},
			"enable":     true,
			"hide":       true,
			"iconColor":  "rgba(0, 211, 255, 1)",
			"name":       "Annotations & Alerts",
			"type":       "dashboard",
		}}},
		Description:   description,
		Editable:      true,
		GraphTooltip:  1,
		Links:         []any{},
		Panels:        panels,
		Refresh:       "1m",
		SchemaVersion: SchemaVersion,
		Tags:          tags,
		Templating:    templating{List: vars},
		Time:          timeRange{From: "now-6h", To: "now"},
		Timepicker:    map[string]any{},
		Timezone:      "browser",
		Title:         title,
		UID:           uid,
		Version:       1,
	}
}

func datasourceVar() Variable {
	return Variable{
		Current:     map[string]any{},
		Label:       "Data source",
		Name:        "datasource",
		Options:     []any{},
		Query:       "prometheus",
		Refresh:     1,
		Type:        "datasource",
		Description: "The Prometheus that scrapes the prexmon agents and archiver.",
	}
}

// queryVar is a multi-select label_values variable whose All means ".+",
// so the regex matchers in the queries stay short and exact.
func queryVar(name, label, query, description string) Variable {
	return Variable{
		AllValue:    ".+",
		Current:     map[string]any{"text": []string{"All"}, "value": []string{"$__all"}},
		Datasource:  &promDS,
		Definition:  query,
		IncludeAll:  true,
		Label:       label,
		Multi:       true,
		Name:        name,
		Options:     []any{},
		Query:       map[string]any{"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery"},
		Refresh:     2,
		Sort:        1,
		Type:        "query",
		Description: description,
	}
}

// layout assigns ids and grid positions: panels flow left to right and wrap
// at 24 columns; a row starts a new line.
type layout struct {
	panels []Panel
	x, y   int
	rowH   int
	nextID int
}

func (l *layout) row(title string, repeat string) {
	l.newline()
	collapsed := false
	l.nextID++
	l.panels = append(l.panels, Panel{
		Collapsed: &collapsed,
		GridPos:   GridPos{H: 1, W: 24, X: 0, Y: l.y},
		ID:        l.nextID,
		Repeat:    repeat,
		Title:     title,
		Type:      "row",
	})
	l.y++
}

func (l *layout) newline() {
	if l.x > 0 {
		l.y += l.rowH
		l.x, l.rowH = 0, 0
	}
}

func (l *layout) add(w, h int, p Panel) {
	if l.x+w > 24 {
		l.newline()
	}
	l.nextID++
	p.ID = l.nextID
	p.GridPos = GridPos{H: h, W: w, X: l.x, Y: l.y}
	l.panels = append(l.panels, p)
	l.x += w
	l.rowH = max(l.rowH, h)
	if l.x >= 24 {
		l.newline()
	}
}

func targets(legendAndExpr ...string) []Target {
	var ts []Target
	for i := 0; i+1 < len(legendAndExpr); i += 2 {
		ts = append(ts, Target{
			Datasource:   promDS,
			EditorMode:   "code",
			Expr:         legendAndExpr[i+1],
			LegendFormat: legendAndExpr[i],
			Range:        true,
			RefID:        string(rune('A' + len(ts))),
		})
	}
	return ts
}

func instant(ts []Target, format string) []Target {
	for i := range ts {
		ts[i].Instant, ts[i].Range, ts[i].Format = true, false, format
	}
	return ts
}

func thresholds(steps ...any) map[string]any {
	list := []map[string]any{{"color": "green", "value": nil}}
	for i := 0; i+1 < len(steps); i += 2 {
		list = append(list, map[string]any{"color": steps[i+1], "value": steps[i]})
	}
	return map[string]any{"mode": "absolute", "steps": list}
}

func ptr[T any](v T) *T { return &v }

// timeseries is a line chart; stack stacks the series (parts of a whole).
func timeseries(title, description, unit string, stack bool, ts []Target) Panel {
	custom := map[string]any{
		"drawStyle":         "line",
		"fillOpacity":       10,
		"lineWidth":         1,
		"pointSize":         4,
		"showPoints":        "never",
		"spanNulls":         false,
		"axisSoftMin":       0,
		"stacking":          map[string]any{"group": "A", "mode": "none"},
		"thresholdsStyle":   map[string]any{"mode": "off"},
		"axisBorderShow":    false,
		"gradientMode":      "none",
		"lineInterpolation": "linear",
	}
	if stack {
		custom["stacking"] = map[string]any{"group": "A", "mode": "normal"}
		custom["fillOpacity"] = 60
		custom["lineWidth"] = 0
	}
	return Panel{
		Datasource:  &promDS,
		Description: description,
		FieldConfig: &FieldConfig{
			Defaults: FieldDefaults{
				Color:      map[string]any{"mode": "palette-classic"},
				Custom:     custom,
				Mappings:   []any{},
				Thresholds: thresholds(),
				Unit:       unit,
			},
			Overrides: []map[string]any{},
		},
		Options: map[string]any{
			"legend":  map[string]any{"calcs": []string{"mean", "max"}, "displayMode": "table", "placement": "bottom", "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
		Targets: ts,
		Title:   title,
		Type:    "timeseries",
	}
}

// stat shows one current value per series.
func stat(title, description, unit string, th map[string]any, ts []Target) Panel {
	return Panel{
		Datasource:  &promDS,
		Description: description,
		FieldConfig: &FieldConfig{
			Defaults: FieldDefaults{
				Color:      map[string]any{"mode": "thresholds"},
				Mappings:   []any{},
				Thresholds: th,
				Unit:       unit,
			},
			Overrides: []map[string]any{},
		},
		Options: map[string]any{
			"colorMode":     "value",
			"graphMode":     "area",
			"justifyMode":   "auto",
			"orientation":   "auto",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"textMode":      "auto",
		},
		Targets: ts,
		Title:   title,
		Type:    "stat",
	}
}

// withStates names the values of a 0/1 state metric, e.g. 0 "rejected"
// (red) and 1 "accepted" (green).
func withStates(p Panel, zero, one string) Panel {
	p.FieldConfig.Defaults.Mappings = []any{map[string]any{"type": "value", "options": map[string]any{
		"0": map[string]any{"text": zero, "color": "red", "index": 0},
		"1": map[string]any{"text": one, "color": "green", "index": 1},
	}}}
	return p
}

// bargauge shows current values as horizontal bars, e.g. filesystem fill.
func bargauge(title, description, unit string, minV, maxV float64, th map[string]any, ts []Target) Panel {
	return Panel{
		Datasource:  &promDS,
		Description: description,
		FieldConfig: &FieldConfig{
			Defaults: FieldDefaults{
				Color:      map[string]any{"mode": "thresholds"},
				Mappings:   []any{},
				Max:        ptr(maxV),
				Min:        ptr(minV),
				Thresholds: th,
				Unit:       unit,
			},
			Overrides: []map[string]any{},
		},
		Options: map[string]any{
			"displayMode":   "gradient",
			"orientation":   "horizontal",
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"showUnfilled":  true,
		},
		Targets: ts,
		Title:   title,
		Type:    "bargauge",
	}
}
