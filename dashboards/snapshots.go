package dashboards

// ArchiverDatasourceRef is the datasource variable of the snapshots
// dashboard: an Infinity datasource whose base URL is the archiver.
const ArchiverDatasourceRef = "${archiver}"

var apiDS = Datasource{Type: InfinityPlugin, UID: ArchiverDatasourceRef}

func apiTarget(url, root string, cols ...Column) []Target {
	return []Target{{
		Columns:      cols,
		Datasource:   apiDS,
		Format:       "table",
		Parser:       "backend",
		RefID:        "A",
		RootSelector: root,
		Source:       "url",
		Type:         "json",
		URL:          url,
		URLOptions:   &URLOptions{Method: "GET"},
	}}
}

func col(selector, text, typ string) Column { return Column{Selector: selector, Text: text, Type: typ} }

// apiTable is a table of one archiver API answer; units maps column names
// to Grafana units.
func apiTable(title, description string, units map[string]string, ts []Target) Panel {
	var overrides []map[string]any
	for _, c := range ts[0].Columns {
		if u := units[c.Text]; u != "" {
			overrides = append(overrides, map[string]any{
				"matcher":    map[string]any{"id": "byName", "options": c.Text},
				"properties": []map[string]any{{"id": "unit", "value": u}},
			})
		}
	}
	if overrides == nil {
		overrides = []map[string]any{}
	}
	return Panel{
		Datasource:  &apiDS,
		Description: description,
		FieldConfig: &FieldConfig{
			Defaults: FieldDefaults{
				Custom:     map[string]any{"align": "auto", "cellOptions": map[string]any{"type": "auto"}, "filterable": true},
				Mappings:   []any{},
				Thresholds: thresholds(),
				Unit:       "none",
			},
			Overrides: overrides,
		},
		Options: map[string]any{"cellHeight": "sm", "showHeader": true, "footer": map[string]any{"show": false, "reducer": []string{"sum"}, "fields": ""}},
		Targets: ts,
		Title:   title,
		Type:    "table",
	}
}

// Snapshots shows what the archiver stored, read through its JSON API with
// the Infinity datasource: the agents it scrapes and, for the chosen agent
// IP, the process table, sessions and filesystems of its latest snapshot.
func Snapshots() Dashboard {
	var l layout
	l.row("Archive", "")
	l.add(14, 8, apiTable("Agents", "Agents registered with the archiver (GET /api/v1/agents): health and error of the last snapshot scrape.",
		map[string]string{"Duration": "s"},
		apiTarget("/api/v1/agents", "data",
			col("target", "Target", "string"),
			col("ip", "IP", "string"),
			col("health", "Health", "string"),
			col("last_scrape", "Last scrape", "timestamp"),
			col("last_duration_seconds", "Duration", "number"),
			col("last_error", "Last error", "string"),
		)))
	l.add(10, 8, apiTable("Stored days of $ip", "Day files stored for the chosen agent (GET /api/v1/files?ip=): size and snapshot count.",
		map[string]string{"Size": "bytes"},
		apiTarget("/api/v1/files?ip=${ip}", "data",
			col("date", "Date", "string"),
			col("snapshots", "Snapshots", "number"),
			col("bytes", "Size", "number"),
			col("compressed", "Compressed", "string"),
		)))
	l.row("Latest snapshot of $ip", "")
	l.add(24, 12, apiTable("Processes", "Every process in the newest stored snapshot of the chosen agent (GET /api/v1/snapshots/{ip}/latest). CPU % is since the agent's previous collection; secrets on command lines are redacted by the agent.",
		map[string]string{"CPU": "percent", "RSS": "bytes", "CPU time": "s"},
		apiTarget("/api/v1/snapshots/${ip}/latest", "data.snapshot.processes",
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
		apiTarget("/api/v1/snapshots/${ip}/latest", "data.snapshot.users",
			col("user", "User", "string"),
			col("terminal", "Terminal", "string"),
			col("host", "From", "string"),
			col("started_at", "Since", "timestamp"),
		)))
	l.add(12, 8, apiTable("Filesystems", "Filesystems in the newest stored snapshot of the chosen agent.",
		map[string]string{"Size": "bytes", "Available": "bytes", "Used": "percent"},
		apiTarget("/api/v1/snapshots/${ip}/latest", "data.snapshot.filesystems",
			col("mountpoint", "Mountpoint", "string"),
			col("device", "Device", "string"),
			col("fstype", "Type", "string"),
			col("size_bytes", "Size", "number"),
			col("avail_bytes", "Available", "number"),
			col("used_percent", "Used", "number"),
		)))
	l.newline()

	ipQuery := map[string]any{
		"infinityQuery": apiTarget("/api/v1/agents", "data", col("ip", "ip", "string"))[0],
		"query":         "",
		"queryType":     "infinity",
	}
	return newDashboard("prexmon-snapshots", "prexmon / Snapshots",
		"What the archiver stored: registered agents and the process table, sessions and filesystems of an agent's latest snapshot, read from the archiver API.",
		[]string{"prexmon", "archiver"},
		[]Variable{
			{
				Current:     map[string]any{},
				Label:       "Archiver",
				Name:        "archiver",
				Options:     []any{},
				Query:       InfinityPlugin,
				Refresh:     1,
				Type:        "datasource",
				Description: "An Infinity datasource whose URL is the archiver (http://archiver:5000 in docker-compose).",
			},
			{
				Current:     map[string]any{},
				Datasource:  &apiDS,
				Definition:  "GET /api/v1/agents: ip",
				Label:       "Agent IP",
				Name:        "ip",
				Options:     []any{},
				Query:       ipQuery,
				Refresh:     2,
				Sort:        1,
				Type:        "query",
				Description: "The agent address snapshots are stored under, as the archiver reached it.",
			},
		},
		l.panels)
}
