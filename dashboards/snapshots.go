package dashboards

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/variants"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/table"
)

// ArchiverDatasourceRef is the datasource variable of the snapshots
// dashboard: an Infinity datasource whose base URL is the archiver.
const ArchiverDatasourceRef = "${archiver}"

var apiDS = Datasource{Type: InfinityPlugin, UID: ArchiverDatasourceRef}

// The dashboard's time range as the archiver's query parameters take it
// (RFC 3339), and the UTC day of its end, which names the day file.
const (
	rangeFrom = "${__from:date:iso}"
	rangeTo   = "${__to:date:iso}"
	rangeDay  = "${__to:date:YYYY-MM-DD}"
)

func apiQuery(url, root string, params []URLParam, cols ...Column) InfinityQuery {
	return InfinityQuery{
		Columns:      cols,
		Datasource:   ptr(apiDS.ref()),
		Format:       "table",
		Parser:       "backend",
		RefID:        "A",
		RootSelector: root,
		Source:       "url",
		Type:         "json",
		URL:          url,
		URLOptions:   &URLOptions{Method: "GET", Params: params},
	}
}

func col(selector, text, typ string) Column { return Column{Selector: selector, Text: text, Type: typ} }

// newTable is a filterable table with small cells, no footer and Grafana's
// defaults spelled out, as strict decoding of the dashboard requires.
func newTable(title, description string, ds Datasource) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(ds.ref()).
		Unit("none").
		Thresholds(thresholds()).
		Mappings([]dashboard.ValueMapping{}).
		Align(common.FieldTextAlignmentAuto).
		CellOptions(common.TableCellOptions{TableAutoCellOptions: common.NewTableAutoCellOptions()}).
		Filterable(true).
		Inspect(false).
		CellHeight(common.TableCellHeightSm).
		FrameIndex(0).
		ShowHeader(true).
		Footer(common.NewTableFooterOptionsBuilder().Show(false).Reducer([]string{"sum"}).Fields([]string{}))
}

// apiTable is a table of one archiver API answer; units maps column names
// to Grafana units.
func apiTable(title, description string, units map[string]string, q InfinityQuery) cog.Builder[dashboard.Panel] {
	p := newTable(title, description, apiDS).
		Targets([]cog.Builder[variants.Dataquery]{q})
	for _, c := range q.Columns {
		if u := units[c.Text]; u != "" {
			p.OverrideByName(c.Text, []dashboard.DynamicConfigValue{{Id: "unit", Value: u}})
		}
	}
	return p
}

// Snapshots shows what the archiver stored, read through its JSON API with
// the Infinity datasource: the agents it scrapes, and for the chosen agent
// (scraped or pushing) its stored days, the snapshots of the dashboard's
// time range, and the process table, sessions and filesystems of its latest
// snapshot.
func Snapshots() (dashboard.Dashboard, error) {
	var l layout
	l.row("Archive", "")
	l.add(14, 8, apiTable("Agents", "Agents registered with the archiver (GET /api/v1/agents): health and error of the last snapshot scrape. Agents that only push are not registered; they appear in the Agent variable through their stored files.",
		map[string]string{"Duration": "s"},
		apiQuery("/api/v1/agents", "data", nil,
			col("target", "Target", "string"),
			col("ip", "IP", "string"),
			col("health", "Health", "string"),
			col("last_scrape", "Last scrape", "timestamp"),
			col("last_duration_seconds", "Duration", "number"),
			col("last_error", "Last error", "string"),
		)))
	l.add(10, 8, apiTable("Stored days of $agent", "Day files stored for the chosen agent (GET /api/v1/files?ip=): size and snapshot count.",
		map[string]string{"Size": "bytes"},
		apiQuery("/api/v1/files", "data", []URLParam{{Key: "ip", Value: "${agent}"}},
			col("date", "Date", "string"),
			col("snapshots", "Snapshots", "number"),
			col("bytes", "Size", "number"),
			col("compressed", "Compressed", "string"),
		)))
	l.row("Snapshots of $agent in the time range", "")
	l.add(24, 10, apiTable("Snapshots in the time range", "The snapshots of the chosen agent stored within the dashboard's time range (GET /api/v1/snapshots/{ip}/{date}?from=&to=&limit=, on the UTC day the range ends), oldest first, up to 1,000: when each was taken, by which path, and the host's CPU and memory then. Pick a narrower range to see a moment.",
		map[string]string{"CPU": "percent", "Memory": "percent"},
		apiQuery("/api/v1/snapshots/${agent}/"+rangeDay, "data",
			[]URLParam{{Key: "from", Value: rangeFrom}, {Key: "to", Value: rangeTo}, {Key: "limit", Value: "1000"}},
			col("scraped_at", "Stored at", "timestamp"),
			col("target", "Target", "string"),
			col("snapshot.collected_at", "Collected at", "timestamp"),
			col("snapshot.cpu.usage_percent", "CPU", "number"),
			col("snapshot.memory.used_percent", "Memory", "number"),
		)))
	l.row("Latest snapshot of $agent", "")
	l.add(24, 12, apiTable("Processes", "Every process in the newest stored snapshot of the chosen agent (GET /api/v1/snapshots/{ip}/latest). CPU % is since the agent's previous collection; secrets on command lines are redacted by the agent.",
		map[string]string{"CPU": "percent", "RSS": "bytes", "CPU time": "s"},
		apiQuery("/api/v1/snapshots/${agent}/latest", "data.snapshot.processes", nil,
			col("pid", "PID", "number"),
			col("ppid", "PPID", "number"),
			col("name", "Name", "string"),
			col("user", "User", "string"),
			col("state", "State", "string"),
			col("cpu_percent", "CPU", "number"),
			col("cpu_seconds", "CPU time", "number"),
			col("rss_bytes", "RSS", "number"),
			col("threads", "Threads", "number"),
			col("started_at", "Started", "timestamp"),
			col("cmdline", "Command line", "string"),
		)))
	l.add(12, 8, apiTable("Logged-in users", "Sessions in the newest stored snapshot of the chosen agent. Empty when nobody was logged in.",
		nil,
		apiQuery("/api/v1/snapshots/${agent}/latest", "data.snapshot.users", nil,
			col("user", "User", "string"),
			col("terminal", "Terminal", "string"),
			col("host", "From", "string"),
			col("started_at", "Since", "timestamp"),
		)))
	l.add(12, 8, apiTable("Filesystems", "Filesystems in the newest stored snapshot of the chosen agent.",
		map[string]string{"Size": "bytes", "Available": "bytes", "Used": "percent"},
		apiQuery("/api/v1/snapshots/${agent}/latest", "data.snapshot.filesystems", nil,
			col("mountpoint", "Mountpoint", "string"),
			col("device", "Device", "string"),
			col("fstype", "Type", "string"),
			col("size_bytes", "Size", "number"),
			col("avail_bytes", "Available", "number"),
			col("used_percent", "Used", "number"),
		)))

	// The agents come from the stored files, not the registered targets,
	// so agents that only push (behind NAT, no inbound port) are listed.
	agents := apiQuery("/api/v1/files", "data", nil, col("ip", "ip", "string"))
	return newDashboard(dashboardSpec{
		uid:         SnapshotsUID,
		title:       "prexmon / Snapshots",
		description: "What the archiver stored: registered agents, and for any agent, scraped or pushing, its stored days, the snapshots of the time range and the process table, sessions and filesystems of its latest snapshot, read from the archiver API.",
		tags:        []string{"prexmon", "archiver"},
		vars: []cog.Builder[dashboard.VariableModel]{
			dashboard.NewDatasourceVariableBuilder("archiver").
				Label("Archiver").
				Type(InfinityPlugin).
				Description("An Infinity datasource whose URL is the archiver (http://archiver:5000 in docker-compose)."),
			dashboard.NewQueryVariableBuilder("agent").
				Label("Agent").
				Description("The agent address snapshots are stored under (GET /api/v1/files): every agent with stored snapshots, scraped or pushing.").
				Datasource(apiDS.ref()).
				Definition("GET /api/v1/files: ip").
				Query(dashboard.StringOrMap{Map: map[string]any{
					"infinityQuery": agents,
					"query":         "",
					"queryType":     "infinity",
				}}).
				Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
				Sort(dashboard.VariableSortAlphabeticalAsc).
				Current(dashboard.VariableOption{
					Text:  dashboard.StringOrArrayOfString{String: ptr("")},
					Value: dashboard.StringOrArrayOfString{String: ptr("")},
				}),
		},
		links: []cog.Builder[dashboard.DashboardLink]{
			dashboardLink("Hosts", HostsUID, "The agents' metrics, over the same time range."),
			dashboardLink("Archiver", ArchiverUID, "The archiver's own health, over the same time range."),
		},
	}, &l)
}
