package dashboards

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestNavigation checks what makes the dashboards usable on a large fleet:
// links between them, the host carried by the fleet table, collapsed host
// rows, the narrowing variables and the alert list.
func TestNavigation(t *testing.T) {
	uids := map[string]string{"hosts.json": HostsUID, "archiver.json": ArchiverUID, "snapshots.json": SnapshotsUID}
	for name := range uids {
		d := loadRaw(t, name)
		var linked []string
		links, _ := d["links"].([]any)
		for _, l := range links {
			m := l.(map[string]any)
			if m["keepTime"] != true {
				t.Errorf("%s: link %v does not keep the time range", name, m["title"])
			}
			linked = append(linked, strings.TrimPrefix(fmt.Sprint(m["url"]), "/d/"))
		}
		for other, ouid := range uids {
			if other != name && !slices.Contains(linked, ouid) {
				t.Errorf("%s: no link to %s (links %v)", name, ouid, linked)
			}
		}
	}

	hosts := loadRaw(t, "hosts.json")
	var hostRow map[string]any
	var fleet, alerts rawPanel
	for _, pv := range hosts["panels"].([]any) {
		p := rawPanel(pv.(map[string]any))
		switch {
		case p.str("type") == "row" && p.str("repeat") == "instance":
			hostRow = p
		case p.str("title") == "Fleet overview":
			fleet = p
		case p.str("type") == "alertlist":
			alerts = p
		}
	}
	if hostRow == nil || hostRow["collapsed"] != true {
		t.Errorf("want the host row repeated over instance and collapsed, got collapsed=%v", hostRow["collapsed"])
	} else if children, _ := hostRow["panels"].([]any); len(children) < 20 {
		t.Errorf("the collapsed host row holds %d panels, want its detail inside it", len(children))
	}
	if alerts == nil {
		t.Error("no alert list panel")
	}
	if fleet == nil {
		t.Fatal("no fleet table")
	}
	var urls []string
	defaults, _ := fleet["fieldConfig"].(map[string]any)["defaults"].(map[string]any)
	for _, l := range defaults["links"].([]any) {
		urls = append(urls, l.(map[string]any)["url"].(string))
	}
	wantLink := func(uid, param string) {
		for _, u := range urls {
			if strings.HasPrefix(u, "/d/"+uid+"?") && strings.Contains(u, param) && strings.Contains(u, "${__url_time_range}") {
				return
			}
		}
		t.Errorf("fleet table: no data link to %s with %s and the time range in %v", uid, param, urls)
	}
	wantLink(HostsUID, "var-instance=${__data.fields.instance}")
	wantLink(SnapshotsUID, "var-agent=${__data.fields.address}")
	targets, _ := fleet["targets"].([]any)
	if expr := rawPanel(targets[0].(map[string]any)).str("expr"); !strings.Contains(expr, `"address", "$1", "instance"`) {
		t.Errorf("fleet table query A does not derive address from instance: %s", expr)
	}

	vars := map[string]map[string]any{}
	for _, v := range hosts["templating"].(map[string]any)["list"].([]any) {
		m := v.(map[string]any)
		vars[m["name"].(string)] = m
	}
	for _, name := range []string{"env", "os", "hostname"} {
		v := vars[name]
		if v == nil || v["allValue"] != ".*" || v["includeAll"] != true {
			t.Errorf("variable %s: want a multi-select whose All keeps hosts without the label, got %v", name, v)
		}
	}
	if def, _ := vars["instance"]["definition"].(string); !strings.Contains(def, `env=~"$env"`) || !strings.Contains(def, `os=~"$os"`) || !strings.Contains(def, `hostname=~"$hostname"`) {
		t.Errorf("instance variable is not narrowed by env, os and hostname: %s", def)
	}
}

func TestSnapshotsOverTimeRange(t *testing.T) {
	rs, err := LoadAPIRequests(".")
	if err != nil {
		t.Fatal(err)
	}
	ranged := false
	for _, r := range rs {
		if !strings.Contains(r.URL, "${agent}") && r.URL != "/api/v1/agents" && !slices.Contains(r.Params, URLParam{Key: "ip", Value: "${agent}"}) {
			t.Errorf("%q: request %s is not about the chosen agent", r.Panel, r.URL)
		}
		if strings.HasSuffix(r.URL, "/"+rangeDay) &&
			slices.Contains(r.Params, URLParam{Key: "from", Value: rangeFrom}) &&
			slices.Contains(r.Params, URLParam{Key: "to", Value: rangeTo}) {
			ranged = true
		}
	}
	if !ranged {
		t.Error("no request of /api/v1/snapshots/{ip}/{date} over the dashboard's time range")
	}
	d := loadRaw(t, "snapshots.json")
	for _, v := range d["templating"].(map[string]any)["list"].([]any) {
		m := v.(map[string]any)
		if m["name"] != "agent" {
			continue
		}
		q, _ := m["query"].(map[string]any)["infinityQuery"].(map[string]any)
		if q["url"] != "/api/v1/files" {
			t.Errorf("agent variable reads %v; want /api/v1/files, which lists pushing agents too", q["url"])
		}
		return
	}
	t.Error("no agent variable")
}

// TestNewMetricPanels checks a panel reads each of the version 2 metrics.
func TestNewMetricPanels(t *testing.T) {
	qs, err := LoadQueries(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{
		"host_filesystem_files", "host_filesystem_files_free", "host_memory_oom_kills_total",
		"host_time_synced", "host_time_offset_seconds",
		"host_pressure_cpu_waiting_seconds_total", "host_pressure_memory_waiting_seconds_total", "host_pressure_io_waiting_seconds_total",
		"host_disk_read_time_seconds_total", "host_disk_write_time_seconds_total",
	} {
		found := false
		for _, q := range qs {
			names, _ := MetricNames(Expand(q.Expr, "1m", "1h"))
			if q.Dashboard == "hosts.json" && slices.Contains(names, m) {
				found = true
			}
		}
		if !found {
			t.Errorf("no Hosts panel reads %s", m)
		}
	}
}

func TestResolve(t *testing.T) {
	rs, err := LoadAPIRequests(".")
	if err != nil {
		t.Fatal(err)
	}
	from, to := mustTime(t, "2026-12-03T06:00:00Z"), mustTime(t, "2026-12-03T08:30:00+01:00")
	for _, r := range rs {
		if r.Panel != "Snapshots in the time range" {
			continue
		}
		got := r.Resolve("10.0.0.5", from, to)
		want := "/api/v1/snapshots/10.0.0.5/2026-12-03?from=2026-12-03T06%3A00%3A00Z&limit=1000&to=2026-12-03T07%3A30%3A00Z"
		if got != want {
			t.Errorf("Resolve = %s, want %s", got, want)
		}
		return
	}
	t.Error("no Snapshots in the time range panel")
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
