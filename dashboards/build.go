// Package dashboards builds prexmon's Grafana dashboards (hosts.json,
// archiver.json, snapshots.json) with Grafana's foundation SDK, so every
// panel is a typed value that follows the same conventions, and lists their
// PromQL queries so tests can run them against a real Prometheus.
package dashboards

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/bargauge"
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// SchemaVersion is the Grafana dashboard schema the JSON is written in
// (Grafana 12). Grafana migrates older schemas on load, never newer ones.
const SchemaVersion = 41

// DatasourceRef is the reference every panel and query uses, so one
// dashboard serves whichever Prometheus the viewer picks in the variable.
const DatasourceRef = "${datasource}"

// Datasource points a panel or query at a datasource by uid.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func (d Datasource) ref() common.DataSourceRef {
	return common.DataSourceRef{Type: &d.Type, Uid: &d.UID}
}

// UIDs of the dashboards, stable so links and bookmarks survive updates.
const (
	HostsUID     = "prexmon-hosts"
	ArchiverUID  = "prexmon-archiver"
	SnapshotsUID = "prexmon-snapshots"
)

// JSON encodes d the way the committed files are written: two-space
// indentation, a trailing newline, PromQL's < and > and & left readable.
func JSON(d dashboard.Dashboard) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, fmt.Errorf("encode dashboard %s: %w", deref(d.Uid), err)
	}
	// The SDK's own MarshalJSON methods escape HTML inside strings; the
	// escapes only occur inside JSON strings, where the literal characters
	// mean the same.
	out := bytes.ReplaceAll(buf.Bytes(), []byte(`\u003c`), []byte("<"))
	out = bytes.ReplaceAll(out, []byte(`\u003e`), []byte(">"))
	return bytes.ReplaceAll(out, []byte(`\u0026`), []byte("&")), nil
}

// All returns every dashboard keyed by the file name it is committed as.
func All() (map[string]dashboard.Dashboard, error) {
	out := map[string]dashboard.Dashboard{}
	for name, build := range map[string]func() (dashboard.Dashboard, error){
		"hosts.json":     Hosts,
		"archiver.json":  Archiver,
		"snapshots.json": Snapshots,
	} {
		d, err := build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = d
	}
	return out, nil
}

var promDS = Datasource{Type: "prometheus", UID: DatasourceRef}

// section is a row and the panels under it. A collapsed row holds its
// panels inside it, so Grafana neither renders nor queries them (nor, for
// a repeated row, clones them) until someone opens it.
type section struct {
	title     string
	repeat    string
	collapsed bool
	panels    []cog.Builder[dashboard.Panel]
}

// layout collects sections; panels flow left to right on Grafana's
// 24-column grid (the SDK's builder places them from their width and
// height) and every line of a section adds up to 24.
type layout struct {
	sections []*section
}

func (l *layout) row(title, repeat string) {
	l.sections = append(l.sections, &section{title: title, repeat: repeat})
}

// collapsedRow starts a row that is closed when the dashboard opens.
func (l *layout) collapsedRow(title, repeat string) {
	l.sections = append(l.sections, &section{title: title, repeat: repeat, collapsed: true})
}

func (l *layout) add(w, h uint32, p cog.Builder[dashboard.Panel]) {
	s := l.sections[len(l.sections)-1]
	s.panels = append(s.panels, sized{p, w, h})
}

// sized gives a built panel its width and height; the dashboard builder
// then places it.
type sized struct {
	cog.Builder[dashboard.Panel]
	w, h uint32
}

func (s sized) Build() (dashboard.Panel, error) {
	p, err := s.Builder.Build()
	if err != nil {
		return p, err
	}
	p.GridPos = &dashboard.GridPos{W: s.w, H: s.h}
	return p, nil
}

// dashboardSpec is what differs between the dashboards.
type dashboardSpec struct {
	uid, title, description string
	tags                    []string
	vars                    []cog.Builder[dashboard.VariableModel]
	links                   []cog.Builder[dashboard.DashboardLink]
}

func newDashboard(spec dashboardSpec, l *layout) (dashboard.Dashboard, error) {
	b := dashboard.NewDashboardBuilder(spec.title).
		Uid(spec.uid).
		Description(spec.description).
		Tags(spec.tags).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("1m").
		Time("now-6h", "now").
		Timezone("browser").
		Version(1).
		Timepicker(dashboard.NewTimePickerBuilder()).
		Annotation(dashboard.NewAnnotationQueryBuilder().
			Name("Annotations & Alerts").
			Datasource(Datasource{Type: "grafana", UID: "-- Grafana --"}.ref()).
			Enable(true).
			Hide(true).
			IconColor("rgba(0, 211, 255, 1)").
			Type("dashboard").
			BuiltIn(1)).
		Variables(spec.vars).
		Links(spec.links)
	for _, s := range l.sections {
		row := dashboard.NewRowBuilder(s.title).Collapsed(s.collapsed)
		if s.repeat != "" {
			row.Repeat(s.repeat)
		}
		if s.collapsed {
			for _, p := range s.panels {
				row.WithPanel(p)
			}
			b.WithRow(row)
			continue
		}
		b.WithRow(row)
		for _, p := range s.panels {
			b.WithPanel(p)
		}
	}
	d, err := b.Build()
	if err != nil {
		return d, err
	}
	d.SchemaVersion = SchemaVersion
	numberPanels(&d)
	return d, nil
}

// numberPanels gives rows and panels, nested ones included, ids in
// reading order.
func numberPanels(d *dashboard.Dashboard) {
	var id uint32
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			id++
			p.Panel.Id = ptr(id)
		case p.RowPanel != nil:
			id++
			p.RowPanel.Id = id
			for i := range p.RowPanel.Panels {
				id++
				p.RowPanel.Panels[i].Id = ptr(id)
			}
		}
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func ptr[T any](v T) *T { return &v }

func datasourceVar() cog.Builder[dashboard.VariableModel] {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Data source").
		Type("prometheus").
		Description("The Prometheus that scrapes the prexmon agents and archiver.")
}

var allOption = dashboard.VariableOption{
	Text:  dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
	Value: dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
}

// queryVar is a multi-select label_values variable whose All means ".+",
// so the regex matchers in the queries stay short and exact.
func queryVar(name, label, query, description string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Description(description).
		Datasource(promDS.ref()).
		Definition(query).
		Query(dashboard.StringOrMap{Map: map[string]any{
			"qryType": 1, "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery",
		}}).
		Current(allOption).
		Multi(true).
		IncludeAll(true).
		AllValue(".+").
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
}

// dashboardLink links to another prexmon dashboard by uid, keeping the time
// range. The variables are not carried: job and instance name agents on
// the Hosts dashboard and archivers on the Archiver one, so carrying them
// would select nothing; the host travels in the fleet table's data links.
func dashboardLink(title, uid, tooltip string) cog.Builder[dashboard.DashboardLink] {
	return dashboard.NewDashboardLinkBuilder(title).
		Type(dashboard.DashboardLinkTypeLink).
		Url("/d/" + uid).
		Tooltip(tooltip).
		Icon("dashboard").
		Tags([]string{}).
		IncludeVars(false).
		KeepTime(true)
}

// dataLink is a link on the values of a panel (a table cell, a point);
// ${__data.fields.<name>} is the value of that field in the clicked row and
// ${__url_time_range} keeps the time range.
func dataLink(title, url string) cog.Builder[dashboard.DashboardLink] {
	return dashboard.NewDashboardLinkBuilder(title).Url(url).Tags([]string{})
}

type promTarget = *prometheus.DataqueryBuilder

func targets(legendAndExpr ...string) []promTarget {
	var ts []promTarget
	for i := 0; i+1 < len(legendAndExpr); i += 2 {
		ts = append(ts, prometheus.NewDataqueryBuilder().
			Datasource(promDS.ref()).
			EditorMode(prometheus.QueryEditorModeCode).
			Expr(legendAndExpr[i+1]).
			LegendFormat(legendAndExpr[i]).
			Range().
			RefId(string(rune('A'+len(ts)))))
	}
	return ts
}

func instant(ts []promTarget, format prometheus.PromQueryFormat) []promTarget {
	for _, t := range ts {
		t.Instant().Format(format)
	}
	return ts
}

func queries(ts []promTarget) []cog.Builder[variants.Dataquery] {
	out := make([]cog.Builder[variants.Dataquery], len(ts))
	for i, t := range ts {
		out[i] = t
	}
	return out
}

// steps are threshold values and colours above the green base, e.g.
// thresholds(0.8, "orange", 0.9, "red").
func thresholds(steps ...any) *dashboard.ThresholdsConfigBuilder {
	list := []dashboard.Threshold{{Color: "green"}}
	for i := 0; i+1 < len(steps); i += 2 {
		v := toFloat(steps[i])
		list = append(list, dashboard.Threshold{Value: &v, Color: steps[i+1].(string)})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(list)
}

func toFloat(v any) float64 {
	switch v := v.(type) {
	case int:
		return float64(v)
	case float64:
		return v
	}
	panic(fmt.Sprintf("threshold %v is not a number", v))
}

// timeseries is a line chart; stack stacks the series (parts of a whole).
func timeseriesPanel(title, description, unit string, stack bool, ts []promTarget) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(promDS.ref()).
		Unit(unit).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdPaletteClassic)).
		Thresholds(thresholds()).
		Mappings([]dashboard.ValueMapping{}).
		DrawStyle(common.GraphDrawStyleLine).
		LineInterpolation(common.LineInterpolationLinear).
		GradientMode(common.GraphGradientModeNone).
		ShowPoints(common.VisibilityModeNever).
		PointSize(4).
		SpanNulls(common.BoolOrFloat64{Bool: ptr(false)}).
		AxisSoftMin(0).
		AxisBorderShow(false).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeOff)).
		Legend(common.NewVizLegendOptionsBuilder().
			Calcs([]string{"mean", "max"}).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			ShowLegend(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().Mode(common.TooltipDisplayModeMulti).Sort(common.SortOrderDescending)).
		Targets(queries(ts))
	if stack {
		return p.Stacking(common.NewStackingConfigBuilder().Group("A").Mode(common.StackingModeNormal)).FillOpacity(60).LineWidth(0)
	}
	return p.Stacking(common.NewStackingConfigBuilder().Group("A").Mode(common.StackingModeNone)).FillOpacity(10).LineWidth(1)
}

// timeseries is timeseriesPanel where no further option is set.
func timeseriesP(title, description, unit string, stack bool, ts []promTarget) cog.Builder[dashboard.Panel] {
	return timeseriesPanel(title, description, unit, stack, ts)
}

// thresholdLine draws th's steps as lines across a time series, e.g. an
// alert's threshold.
func thresholdLine(p *timeseries.PanelBuilder, th *dashboard.ThresholdsConfigBuilder) *timeseries.PanelBuilder {
	return p.Thresholds(th).
		ThresholdsStyle(common.NewGraphThresholdsStyleConfigBuilder().Mode(common.GraphThresholdsStyleModeDashed))
}

// statPanel shows one current value per series.
func statPanel(title, description, unit string, th *dashboard.ThresholdsConfigBuilder, ts []promTarget) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(promDS.ref()).
		Unit(unit).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		Thresholds(th).
		Mappings([]dashboard.ValueMapping{}).
		ColorMode(common.BigValueColorModeValue).
		GraphMode(common.BigValueGraphModeArea).
		JustifyMode(common.BigValueJustifyModeAuto).
		Orientation(common.VizOrientationAuto).
		TextMode(common.BigValueTextModeAuto).
		WideLayout(true).
		ShowPercentChange(false).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false)).
		Targets(queries(ts))
}

func statP(title, description, unit string, th *dashboard.ThresholdsConfigBuilder, ts []promTarget) cog.Builder[dashboard.Panel] {
	return statPanel(title, description, unit, th, ts)
}

// states names the values of a 0/1 state metric, e.g. 0 "rejected" (red)
// and 1 "accepted" (green).
func states(zero, one string) []dashboard.ValueMapping {
	return []dashboard.ValueMapping{{ValueMap: &dashboard.ValueMap{
		Type: dashboard.MappingTypeValueToText,
		Options: map[string]dashboard.ValueMappingResult{
			"0": {Text: &zero, Color: ptr("red"), Index: ptr[int32](0)},
			"1": {Text: &one, Color: ptr("green"), Index: ptr[int32](1)},
		},
	}}}
}

// bargaugeP shows current values as horizontal bars, e.g. filesystem fill.
func bargaugeP(title, description, unit string, minV, maxV float64, th *dashboard.ThresholdsConfigBuilder, ts []promTarget) cog.Builder[dashboard.Panel] {
	return bargauge.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(promDS.ref()).
		Unit(unit).
		Min(minV).
		Max(maxV).
		ColorScheme(dashboard.NewFieldColorBuilder().Mode(dashboard.FieldColorModeIdThresholds)).
		Thresholds(th).
		Mappings([]dashboard.ValueMapping{}).
		DisplayMode(common.BarGaugeDisplayModeGradient).
		ValueMode(common.BarGaugeValueModeColor).
		NamePlacement(common.BarGaugeNamePlacementAuto).
		Sizing(common.BarGaugeSizingAuto).
		MinVizWidth(8).
		MinVizHeight(16).
		MaxVizHeight(300).
		Legend(common.NewVizLegendOptionsBuilder().
			DisplayMode(common.LegendDisplayModeList).
			Placement(common.LegendPlacementBottom).
			ShowLegend(false)).
		Orientation(common.VizOrientationHorizontal).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"}).Fields("").Values(false)).
		ShowUnfilled(true).
		Targets(queries(ts))
}

// alertList lists the Grafana-managed and Prometheus alerts that fire,
// filtered to the dashboard's tag. The SDK has no type for this core panel,
// so its options are spelled here.
func alertList(title, description string) cog.Builder[dashboard.Panel] {
	return dashboard.NewPanelBuilder().
		Type("alertlist").
		Title(title).
		Description(description).
		Unit("none").
		Options(map[string]any{
			"alertInstanceLabelFilter": "",
			"alertName":                "",
			"dashboardAlerts":          false,
			"groupBy":                  []string{},
			"groupMode":                "default",
			"maxItems":                 20,
			"sortOrder":                1,
			"stateFilter": map[string]any{
				"error": true, "firing": true, "noData": false, "normal": false, "pending": true,
			},
			"viewMode": "list",
		})
}
