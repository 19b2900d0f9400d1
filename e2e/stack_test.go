//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/prexmon/prexmon/dashboards"
)

// Grafana's $__rate_interval is four scrape intervals at least; the stack
// below scrapes every second. $__range stands for a short dashboard range.
const (
	stackScrape       = time.Second
	stackRateInterval = "4s"
	stackRange        = "1m"
)

// panelsWithoutData lists panels allowed to stay empty on this machine, with
// the reason. Everything else must return data.
var panelsWithoutData = map[string]string{
	"archiver.json / Longest since pushed": "no agent pushes in this test (the push series are checked in TestExporterPushOnce)",
}

// alwaysFiringRule is the one rule the e2e test adds to the shipped ones.
const alwaysFiringRule = `groups:
  - name: e2e
    rules:
      - alert: E2EAlwaysFiring
        expr: vector(1)
        labels: {severity: info}
`

// apiRowsMayBeEmpty lists Snapshots dashboard panels whose rows may be
// empty on the test machine, with the reason.
var apiRowsMayBeEmpty = map[string]string{
	"Logged-in users": "CI machines have no utmp and no sessions",
}

// absentWhenIdle are exporter metrics with a label per thing that may not
// exist on the test machine, so a live scrape can lack them.
var absentWhenIdle = map[string]string{
	"host_user_sessions":                         "one series per logged-in user; CI machines have no utmp and no sessions",
	"host_pressure_memory_waiting_seconds_total": "needs /proc/pressure (Linux 4.20+ built with PSI)",
	"host_disk_read_time_seconds_total":          "one series per disk; a container may see no block devices",
	"host_disk_write_time_seconds_total":         "one series per disk; a container may see no block devices",
}

// notServedHere are metrics the alert rules and dashboards use that no
// process of this test serves, with the reason. The rules and panel queries
// still run through the query API; a panel that uses only these may stay
// empty.
var notServedHere = map[string]string{
	"archiver_remote_upload_lag_seconds":                         "served only with --storage.remote.config.file; this archiver has no bucket",
	"archiver_remote_uploads_total":                              "served only with --storage.remote.config.file; this archiver has no bucket",
	"archiver_remote_uploaded_bytes_total":                       "served only with --storage.remote.config.file; this archiver has no bucket",
	"archiver_remote_pending_segments":                           "served only with --storage.remote.config.file; this archiver has no bucket",
	"archiver_remote_retention_deleted_days_total":               "served only with --storage.remote.config.file; this archiver has no bucket",
	"archiver_remote_bucket_bytes":                               "served only with --storage.remote.config.file; this archiver has no bucket",
	"archiver_objstore_bucket_operations_total":                  "served only with --storage.remote.config.file; this archiver has no bucket",
	"archiver_objstore_bucket_operation_failures_total":          "served only with --storage.remote.config.file; this archiver has no bucket",
	"archiver_objstore_bucket_operation_duration_seconds_bucket": "served only with --storage.remote.config.file; this archiver has no bucket",
	"alertmanager_config_last_reload_successful":                 "the Alertmanager here is a stand-in without metrics",
	"alertmanager_notifications_total":                           "the Alertmanager here is a stand-in without metrics",
	"alertmanager_notifications_failed_total":                    "the Alertmanager here is a stand-in without metrics",
}

// TestStackPrometheus runs the real Prometheus with the shipped
// prometheus.yml, rules and archiver.yml (only addresses and intervals
// changed) against a real exporter and archiver, then runs every rule and
// dashboard expression through the query API.
func TestStackPrometheus(t *testing.T) {
	promBin := NeedCommand(t, "prometheus")
	archiverErr := canBuild(t, "archiver")
	if archiverErr != nil {
		t.Logf("SKIPPING the archiver part of the stack: go build ./archiver fails: %v", archiverErr)
	}
	s := newStackDir(t)

	// The exporter with the docker-compose flags, pointed at this host's
	// own /proc, /sys and / (compose mounts the host's there).
	expAddr := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	exp := Start(t, Binary(t, "exporter"), "--web.listen-address="+expAddr,
		"--path.procfs=/proc", "--path.sysfs=/sys", "--path.rootfs=/")
	WaitHTTP(t, exp, "http://"+expAddr+"/healthz")
	s.targets("deploy/targets/agents.yml", expAddr)

	archAddr := ""
	if archiverErr == nil {
		archAddr = fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
		// The shipped archiver.yml reads deploy/targets/agents.yml next to
		// it: the very file Prometheus' prexmon job reads below.
		s.rewriteYAML("archiver.yml", func(m map[string]any) {
			m["scrape_interval"] = stackScrape.String()
			m["scrape_timeout"] = "900ms"
		})
		arch := Start(t, Binary(t, "archiver"), "--config.file="+s.path("archiver.yml"),
			"--storage.path="+s.path("data"), "--web.listen-address="+archAddr)
		WaitHTTP(t, arch, "http://"+archAddr+"/readyz")
		s.targets("deploy/prometheus/targets/archiver.yml", archAddr)
	} else {
		s.targets("deploy/prometheus/targets/archiver.yml")
	}
	// A stand-in Alertmanager on loopback records the alerts Prometheus
	// sends, proving the alerting section and its file_sd file work; one
	// always-firing test rule gives it something to send.
	am := newAlertSink(t)
	// The bound on waiting starts once the binaries are built and running.
	deadline := time.Now().Add(60 * time.Second)
	c := startPrometheus(t, promBin, s, am.addr, alwaysFiringRule)
	jobs := []string{"prexmon"}
	if archAddr != "" {
		jobs = append(jobs, "archiver")
	}
	waitUp(t, c, time.Until(deadline), jobs)

	live := scrapeNames(t, "http://"+expAddr+"/metrics")
	if archAddr != "" {
		for n := range scrapeNames(t, "http://"+archAddr+"/metrics") {
			live[n] = true
		}
	}
	// Prometheus' own metrics, for the rules that watch the stack itself.
	for n := range scrapeNames(t, c.base+"/metrics") {
		live[n] = true
	}
	records, alerts := ruleExprs(t, "deploy/prometheus/rules.yml")
	_, moreAlerts := ruleExprs(t, "deploy/prometheus/alerts.yml")
	for k, v := range moreAlerts {
		alerts[k] = v
	}
	known := func(name string) bool {
		return live[name] || records[name] != "" || name == "up" || absentWhenIdle[name] != ""
	}
	knownOrNotServed := func(name string) bool { return known(name) || notServedHere[name] != "" }
	archiverOnly := func(expr string) bool { return strings.Contains(expr, "archiver_") }

	t.Run("rules", func(t *testing.T) {
		all := map[string]string{}
		for k, v := range records {
			all[k] = v
		}
		for k, v := range alerts {
			all[k] = v
		}
		for name, expr := range all {
			if archAddr == "" && archiverOnly(expr) {
				continue
			}
			names, err := dashboards.MetricNames(expr)
			if err != nil {
				t.Errorf("rule %s: %v", name, err)
			}
			for _, n := range names {
				if !knownOrNotServed(n) {
					t.Errorf("rule %s uses %s, which no live scrape exposes and no rule records", name, n)
				}
			}
			if _, err := c.query(expr); err != nil {
				t.Errorf("rule %s: %v", name, err)
			}
		}
		WaitFor(t, time.Until(deadline), "every rule evaluated without error and every recording rule has data", func() error {
			return checkRules(c, len(all)+1, records, archAddr != "")
		})
	})

	t.Run("dashboards", func(t *testing.T) {
		qs, err := dashboards.LoadQueries(filepath.Join(RepoRoot(), "dashboards"))
		if err != nil {
			t.Fatal(err)
		}
		if archAddr == "" {
			var hostOnly []dashboards.Query
			for _, q := range qs {
				if q.Dashboard != "archiver.json" {
					hostOnly = append(hostOnly, q)
				}
			}
			qs = hostOnly
		}
		// A panel may stay empty when every metric it uses is one this
		// test does not serve.
		notServed := map[string]string{}
		served := map[string]bool{}
		for _, q := range qs {
			key := q.Dashboard + " / " + q.Panel
			names, err := dashboards.MetricNames(dashboards.Expand(q.Expr, stackRateInterval, stackRange))
			if err != nil {
				t.Errorf("%v: %v", q, err)
			}
			for _, n := range names {
				if !knownOrNotServed(n) {
					t.Errorf("%v: %s is not exposed by a live scrape nor recorded", q, n)
				}
				if why := notServedHere[n]; why != "" {
					notServed[key] = n + ": " + why
				} else {
					served[key] = true
				}
			}
		}
		mayBeEmpty := map[string]string{}
		for k, v := range panelsWithoutData {
			mayBeEmpty[k] = v
		}
		for k, why := range notServed {
			if !served[k] {
				mayBeEmpty[k] = why
				t.Logf("%s may stay empty: %s", k, why)
			}
		}
		var last error
		WaitFor(t, time.Until(deadline), "every dashboard panel returning data", func() error {
			last = checkPanels(c, qs, mayBeEmpty)
			var qe queryError
			if errors.As(last, &qe) {
				t.Fatalf("query failed: %v", last)
			}
			return last
		})
	})

	t.Run("snapshots", func(t *testing.T) {
		if archAddr == "" {
			t.Skip("archiver does not build; see the log above")
		}
		checkAPIRequests(t, "http://"+archAddr, "127.0.0.1")
	})

	t.Run("alerting", func(t *testing.T) {
		WaitFor(t, time.Until(deadline), "the test alert at the Alertmanager", func() error {
			for _, a := range am.received() {
				if a["alertname"] == "E2EAlwaysFiring" {
					if a["monitor"] != "prexmon" {
						return fmt.Errorf("alert without the external label monitor=prexmon: %v", a)
					}
					return nil
				}
			}
			return fmt.Errorf("received %d alerts, none E2EAlwaysFiring", len(am.received()))
		})
	})

	t.Run("values", func(t *testing.T) {
		for _, tc := range []struct {
			expr     string
			min, max float64
		}{
			{`instance:host_cpu_utilisation:rate1m`, 0, 1},
			{`instance:host_memory_utilisation:ratio`, 0, 1},
			{`instance:host_filesystem_used:max_ratio`, 0, 1},
			{`instance:host_uptime:seconds`, 1, 1e9},
			{`abs(host_time_seconds - timestamp(host_time_seconds))`, 0, 5},
			{`count(host_os_info{os="linux"})`, 1, 1},
		} {
			ss, err := c.query(tc.expr)
			if err != nil || len(ss) != 1 {
				t.Errorf("%s: %d samples, err %v", tc.expr, len(ss), err)
				continue
			}
			v, err := strconv.ParseFloat(fmt.Sprint(ss[0].Value[1]), 64)
			if err != nil || v < tc.min || v > tc.max {
				t.Errorf("%s = %v (%v), want within [%v, %v]", tc.expr, ss[0].Value[1], err, tc.min, tc.max)
			}
		}
	})
}

// queryError marks a failed query (as opposed to one without data yet),
// which waiting cannot fix.
type queryError struct{ err error }

func (e queryError) Error() string { return e.err.Error() }

// checkPanels runs each panel's queries as Grafana would (instant or over
// a range) and reports the panels that returned nothing, except those
// mayBeEmpty lists.
func checkPanels(c promClient, qs []dashboards.Query, mayBeEmpty map[string]string) error {
	hasData := map[string]bool{}
	var panels []string
	for _, q := range qs {
		key := q.Dashboard + " / " + q.Panel
		if _, seen := hasData[key]; !seen {
			panels = append(panels, key)
			hasData[key] = false
		}
		expr := dashboards.Expand(q.Expr, stackRateInterval, stackRange)
		var n int
		var err error
		if q.Instant {
			var ss []promSample
			ss, err = c.query(expr)
			n = len(ss)
		} else {
			n, err = c.queryRange(expr, 20*time.Second, stackScrape)
		}
		if err != nil {
			return queryError{fmt.Errorf("%v: %w", q, err)}
		}
		if n > 0 {
			hasData[key] = true
		}
	}
	var empty []string
	for _, p := range panels {
		if !hasData[p] && mayBeEmpty[p] == "" {
			empty = append(empty, p)
		}
	}
	sort.Strings(empty)
	if len(empty) > 0 {
		return fmt.Errorf("%d of %d panels without data: %s", len(empty), len(panels), strings.Join(empty, "; "))
	}
	return nil
}

// checkRules asks Prometheus for its loaded rules: all of them, healthy,
// and every recording rule's series present.
func checkRules(c promClient, want int, records map[string]string, withArchiver bool) error {
	data, err := c.get("/api/v1/rules", nil)
	if err != nil {
		return err
	}
	var res struct {
		Groups []struct {
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := jsonUnmarshal(data, &res); err != nil {
		return err
	}
	got := 0
	for _, g := range res.Groups {
		for _, r := range g.Rules {
			got++
			if r.Health != "ok" {
				return fmt.Errorf("rule %s: health %q %s", r.Name, r.Health, r.LastError)
			}
		}
	}
	if got != want {
		return fmt.Errorf("prometheus loaded %d rules, the files hold %d", got, want)
	}
	for name, expr := range records {
		if !withArchiver && strings.Contains(expr, "archiver_") {
			continue
		}
		ss, err := c.query(name)
		if err != nil {
			return err
		}
		if len(ss) == 0 {
			return fmt.Errorf("recording rule %s has no data yet", name)
		}
	}
	return nil
}

// TestStackCommandLines runs every command line the deployment files give
// the binaries (docker-compose commands, systemd ExecStart) with --help
// added: kingpin rejects an unknown flag before printing help, so exit 0
// means every flag exists. Where systemd-analyze is installed it verifies
// the units too.
func TestStackCommandLines(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(RepoRoot(), "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command []string `yaml:"command"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	type cmdline struct {
		from, pkg string
		args      []string
	}
	var lines []cmdline
	for _, pkg := range []string{"exporter", "archiver"} {
		lines = append(lines, cmdline{"docker-compose.yml", pkg, compose.Services[pkg].Command})
		unit := filepath.Join(RepoRoot(), "deploy", "systemd", "prexmon-"+pkg+".service")
		text, err := os.ReadFile(unit)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(text), "\n") {
			if rest, ok := strings.CutPrefix(l, "ExecStart=/usr/local/bin/prexmon-"+pkg); ok {
				args := strings.Fields(strings.ReplaceAll(rest, "$ARGS", ""))
				lines = append(lines, cmdline{filepath.Base(unit), pkg, args})
			}
		}
	}
	if len(lines) != 4 {
		t.Fatalf("found %d command lines, want 4 (compose and systemd for both binaries)", len(lines))
	}
	for _, l := range lines {
		if l.pkg == "archiver" {
			if err := canBuild(t, "archiver"); err != nil {
				t.Logf("SKIPPING %s's archiver command line: go build ./archiver fails: %v", l.from, err)
				continue
			}
		}
		bin := Binary(t, l.pkg)
		out, err := exec.Command(bin, append(l.args, "--help")...).CombinedOutput()
		if err != nil {
			t.Errorf("%s: %s %v: %v\n%s", l.from, l.pkg, l.args, err, out)
		}
	}

	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Log("systemd-analyze not installed; units checked by flags only")
		return
	}
	dir := t.TempDir()
	for _, pkg := range []string{"exporter", "archiver"} {
		if pkg == "archiver" && canBuild(t, "archiver") != nil {
			continue
		}
		name := "prexmon-" + pkg + ".service"
		text, err := os.ReadFile(filepath.Join(RepoRoot(), "deploy", "systemd", name))
		if err != nil {
			t.Fatal(err)
		}
		// The unit as installed, but starting the binary this test built.
		unit := strings.ReplaceAll(string(text), "/usr/local/bin/prexmon-"+pkg, Binary(t, pkg))
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
		if err != nil || len(bytes.TrimSpace(out)) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}

// checkAPIRequests fetches every archiver API request of the Snapshots
// dashboard for agent ip, as the Infinity datasource would, and checks the
// root selector finds rows carrying every column's field.
func checkAPIRequests(t *testing.T, base, ip string) {
	t.Helper()
	WaitHTTP(t, nil, base+"/api/v1/snapshots/"+ip+"/latest")
	rs, err := dashboards.LoadAPIRequests(filepath.Join(RepoRoot(), "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) == 0 {
		t.Fatal("no archiver API requests in the dashboards")
	}
	for _, r := range rs {
		// The dashboard's default range, 6 hours up to now.
		now := time.Now()
		u := base + r.Resolve(ip, now.Add(-6*time.Hour), now)
		code, body := Get(t, u)
		if code != 200 {
			t.Errorf("%s / %q: GET %s: status %d: %.200s", r.Dashboard, r.Panel, u, code, body)
			continue
		}
		var doc any
		if err := json.Unmarshal(body, &doc); err != nil {
			t.Errorf("%s / %q: GET %s: %v", r.Dashboard, r.Panel, u, err)
			continue
		}
		for _, key := range strings.Split(r.RootSelector, ".") {
			m, _ := doc.(map[string]any)
			doc = m[key]
		}
		rows, ok := doc.([]any)
		if !ok && doc != nil {
			t.Errorf("%s / %q: %s at %s is %T, not a list", r.Dashboard, r.Panel, u, r.RootSelector, doc)
			continue
		}
		if len(rows) == 0 {
			if apiRowsMayBeEmpty[r.Panel] == "" {
				t.Errorf("%s / %q: %s at %s has no rows", r.Dashboard, r.Panel, u, r.RootSelector)
			}
			continue
		}
		row, _ := rows[0].(map[string]any)
		for _, f := range r.Fields {
			// A dotted selector walks into nested objects; the last
			// key must be present (its value may be null).
			var v any = row
			ok := false
			for _, k := range strings.Split(f, ".") {
				m, _ := v.(map[string]any)
				v, ok = m[k]
			}
			if !ok {
				t.Errorf("%s / %q: rows at %s of %s lack field %q (have %v)", r.Dashboard, r.Panel, r.RootSelector, u, f, keys(row))
			}
		}
	}
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// startPrometheus writes the shipped prometheus.yml and rule files into s
// (intervals shortened to stackScrape, the self-scrape pointed at the real
// port), plus extraRules as one more rule file, lists alertmanager (if not
// empty) in the Alertmanager file_sd file, starts the real Prometheus on
// them and waits until it is ready. The agents' and archiver's file_sd
// files must already be in s.
func startPrometheus(t *testing.T, promBin string, s *stackDir, alertmanager, extraRules string) promClient {
	t.Helper()
	if alertmanager != "" {
		s.targets("deploy/prometheus/targets/alertmanager.yml", alertmanager)
	} else {
		s.targets("deploy/prometheus/targets/alertmanager.yml")
	}
	s.copyFromRepo("deploy/prometheus/rules.yml")
	s.copyFromRepo("deploy/prometheus/alerts.yml")
	if extraRules != "" {
		s.write("e2e_rules.yml", []byte(extraRules))
	}
	promAddr := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	s.rewriteYAML("prometheus.yml", func(m map[string]any) {
		g := m["global"].(map[string]any)
		g["scrape_interval"] = stackScrape.String()
		g["evaluation_interval"] = stackScrape.String()
		g["scrape_timeout"] = "900ms"
		if extraRules != "" {
			m["rule_files"] = append(m["rule_files"].([]any), "e2e_rules.yml")
		}
		for _, sc := range m["scrape_configs"].([]any) {
			job := sc.(map[string]any)
			if job["job_name"] == "prometheus" {
				job["static_configs"] = []any{map[string]any{"targets": []string{promAddr}}}
			}
		}
	})
	prom := Start(t, promBin, "--config.file="+s.path("prometheus.yml"),
		"--storage.tsdb.path="+s.path("tsdb"), "--web.listen-address="+promAddr, "--log.level=warn",
		// Alerts evaluated before Alertmanager discovery has run are
		// dropped and resent after this delay (1m by default).
		"--rules.alert.resend-delay="+stackScrape.String())
	WaitHTTP(t, prom, "http://"+promAddr+"/-/ready")
	return promClient{base: "http://" + promAddr, hc: newHTTPClient()}
}

// waitUp waits until every job has exactly one target and it is up.
func waitUp(t *testing.T, c promClient, d time.Duration, jobs []string) {
	t.Helper()
	WaitFor(t, d, "up == 1 for "+strings.Join(jobs, ", "), func() error {
		for _, job := range jobs {
			ss, err := c.query(`up{job="` + job + `"} == 1`)
			if err != nil {
				return err
			}
			if len(ss) != 1 {
				return fmt.Errorf("job %s: %d targets up", job, len(ss))
			}
		}
		return nil
	})
}

// TestStackWindowsHost points the real Prometheus, with the shipped
// configuration, at the Windows build of the exporter running under Wine,
// and runs every Hosts dashboard query for that one instance: each panel
// must return data unless the Windows host lacks a metric the panel needs
// (load average does not exist on Windows; Wine cannot serve some
// collectors), and those gaps are logged.
func TestStackWindowsHost(t *testing.T) {
	promBin := NeedCommand(t, "prometheus")
	env := wineEnv(t)

	exe := Binary(t, "exporter", "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	exp := StartEnv(t, env, "wine", exe, "--web.listen-address="+addr)
	WaitHTTP(t, exp, "http://"+addr+"/healthz")

	s := newStackDir(t)
	s.targets("deploy/targets/agents.yml", addr)
	s.targets("deploy/prometheus/targets/archiver.yml")
	deadline := time.Now().Add(60 * time.Second)
	c := startPrometheus(t, promBin, s, "", "")
	waitUp(t, c, time.Until(deadline), []string{"prexmon"})

	live := scrapeNames(t, "http://"+addr+"/metrics")
	records, _ := ruleExprs(t, "deploy/prometheus/rules.yml")
	// missing lists what a panel needs that this host does not expose,
	// looking through recording rules to the metrics they read.
	var missing func(names []string) []string
	missing = func(names []string) []string {
		var out []string
		for _, n := range names {
			if expr, ok := records[n]; ok {
				inner, err := dashboards.MetricNames(expr)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, missing(inner)...)
			} else if !live[n] && n != "up" {
				out = append(out, n)
			}
		}
		return out
	}

	qs, err := dashboards.LoadQueries(filepath.Join(RepoRoot(), "dashboards"))
	if err != nil {
		t.Fatal(err)
	}
	var hosts []dashboards.Query
	for _, q := range qs {
		if q.Dashboard == "hosts.json" {
			q.Expr = dashboards.Expand(strings.ReplaceAll(q.Expr, "$instance", addr), stackRateInterval, stackRange)
			hosts = append(hosts, q)
		}
	}
	gaps := map[string][]string{}
	WaitFor(t, time.Until(deadline), "Hosts panels returning data for the Windows host", func() error {
		hasData := map[string]bool{}
		needs := map[string][]string{}
		for _, q := range hosts {
			names, err := dashboards.MetricNames(q.Expr)
			if err != nil {
				t.Fatalf("%v: %v", q, err)
			}
			needs[q.Panel] = append(needs[q.Panel], missing(names)...)
			var n int
			if q.Instant {
				var ss []promSample
				ss, err = c.query(q.Expr)
				n = len(ss)
			} else {
				n, err = c.queryRange(q.Expr, 20*time.Second, stackScrape)
			}
			if err != nil {
				t.Fatalf("%v: %v", q, err)
			}
			hasData[q.Panel] = hasData[q.Panel] || n > 0
		}
		var empty []string
		for panel, ok := range hasData {
			switch {
			case ok:
			case len(needs[panel]) > 0:
				gaps[panel] = needs[panel]
			default:
				empty = append(empty, panel)
			}
		}
		sort.Strings(empty)
		if len(empty) > 0 {
			return fmt.Errorf("panels without data although the host exposes all they need: %s", strings.Join(empty, "; "))
		}
		if len(gaps) == len(hasData) {
			return fmt.Errorf("no panel has data yet")
		}
		return nil
	})
	for panel, names := range gaps {
		t.Logf("no data for this Windows host in %q: it lacks %v", panel, names)
	}
	if ss, err := c.query(`host_load1{instance="` + addr + `"}`); err != nil || len(ss) != 0 {
		t.Errorf("load average of a Windows host: %v, %v; want none (Windows has no load average)", ss, err)
	}
}
