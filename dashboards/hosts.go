package dashboards

import "strings"

// hostSel selects the agents chosen in the job and instance variables.
const hostSel = `job=~"$job",instance=~"$instance"`

// q fills the host selector into an expression written with {SEL}.
func q(expr string) string { return strings.ReplaceAll(expr, "SEL", hostSel) }

// Hosts is the fleet dashboard: an overview table with one row per host and,
// repeated for every selected instance, the detail of that host. Every query
// uses metric names the exporter exposes on Linux and Windows alike; only the
// load average is Linux-only and says so.
func Hosts() Dashboard {
	var l layout
	l.row("Fleet", "")
	l.add(4, 4, stat("Hosts up", "Agents Prometheus scraped successfully on the last attempt.", "none",
		thresholds(),
		targets("up", q(`count(up{SEL} == 1 and on (job) host_exporter_build_info) or vector(0)`))))
	l.add(4, 4, stat("Hosts down", "Registered agents Prometheus could not scrape on the last attempt (see the PrexmonAgentDown alert).", "none",
		thresholds(1, "red"),
		targets("down", q(`count(up{SEL} == 0 and on (job) host_exporter_build_info) or vector(0)`))))
	l.add(4, 4, stat("Fleet CPU", "Busy share of all CPUs of the selected hosts, weighted by core count.", "percentunit",
		thresholds(0.7, "orange", 0.9, "red"),
		targets("cpu", q(`sum(instance:host_cpu_utilisation:rate1m{SEL} * on (job, instance) host_cpu_logical_cores{SEL}) / sum(host_cpu_logical_cores{SEL})`))))
	l.add(4, 4, stat("Fleet memory", "Memory in use across the selected hosts (total minus available).", "percentunit",
		thresholds(0.8, "orange", 0.9, "red"),
		targets("memory", q(`1 - sum(host_memory_available_bytes{SEL}) / sum(host_memory_total_bytes{SEL})`))))
	l.add(4, 4, stat("Fullest filesystem", "The fullest real filesystem of any selected host (pseudo and in-memory filesystems excluded).", "percentunit",
		thresholds(0.8, "orange", 0.9, "red"),
		targets("fullest", q(`max(instance:host_filesystem_used:max_ratio{SEL})`))))
	l.add(4, 4, stat("Logged-in sessions", "Interactive sessions open on the selected hosts (utmp on Linux, WTS on Windows).", "none",
		thresholds(),
		targets("sessions", q(`sum(host_users_sessions{SEL})`))))
	l.add(24, 10, fleetTable())

	l.row("Host $instance", "instance")
	l.add(4, 4, stat("Uptime", "Time since the host booted, by the host's own clock.", "s",
		thresholds(),
		targets("{{instance}}", q(`instance:host_uptime:seconds{SEL}`))))
	l.add(4, 4, stat("Logical cores", "CPUs the operating system schedules on.", "none",
		thresholds(),
		targets("{{instance}}", q(`host_cpu_logical_cores{SEL}`))))
	l.add(4, 4, stat("Memory", "Physical memory size.", "bytes",
		thresholds(),
		targets("{{instance}}", q(`host_memory_total_bytes{SEL}`))))
	l.add(4, 4, stat("Clock offset", "The host's clock minus the time Prometheus scraped it; more than a few seconds means NTP is broken (HostClockSkew alert at 30 s).", "s",
		thresholds(5, "orange", 30, "red"),
		targets("{{instance}}", q(`host_time_seconds{SEL} - timestamp(host_time_seconds{SEL})`))))
	l.add(8, 4, stat("Collectors failing", "Collectors of the agent whose last run failed; their metrics are missing from the panels below.", "none",
		thresholds(1, "red"),
		targets("{{instance}}", q(`count without (collector) (host_scrape_collector_success{SEL} == 0) or on (job, instance) (0 * host_exporter_build_info{SEL})`))))

	l.add(12, 8, timeseries("CPU by mode", "Share of all CPUs spent in each mode, averaged over the cores (idle left out). Windows reports user, system and irq; Linux also iowait, softirq, steal and nice.", "percentunit", true,
		targets("{{mode}}", q(`avg without (cpu) (rate(host_cpu_seconds_total{SEL,mode!="idle"}[$__rate_interval]))`))))
	l.add(12, 8, timeseries("Load average", "Runnable (and on Linux uninterruptible) tasks averaged over 1, 5 and 15 minutes; compare with the core count. Linux only: Windows hosts show no data here.", "short", false,
		targets(
			"1m", q(`host_load1{SEL}`),
			"5m", q(`host_load5{SEL}`),
			"15m", q(`host_load15{SEL}`),
			"cores", q(`host_cpu_logical_cores{SEL}`),
		)))
	l.add(12, 8, timeseries("Memory and swap", "Physical memory in use (total minus available) against its size, and swap (the page file on Windows).", "bytes", false,
		targets(
			"memory used", q(`host_memory_used_bytes{SEL}`),
			"memory total", q(`host_memory_total_bytes{SEL}`),
			"swap used", q(`host_swap_used_bytes{SEL}`),
			"swap total", q(`host_swap_total_bytes{SEL}`),
		)))
	l.add(12, 8, bargauge("Filesystems used", "Space used per real filesystem, as df counts it (the root reserve counts as used). Pseudo and in-memory filesystems are left out.", "percentunit", 0, 1,
		thresholds(0.8, "orange", 0.9, "red"),
		instant(targets("{{mountpoint}} ({{fstype}})", q(`instance:host_filesystem_used:ratio{SEL}`)), "time_series")))
	l.add(8, 8, timeseries("Disk throughput", "Bytes read from and written to each block device per second.", "Bps", false,
		targets(
			"{{device}} read", q(`rate(host_disk_read_bytes_total{SEL}[$__rate_interval])`),
			"{{device}} written", q(`rate(host_disk_written_bytes_total{SEL}[$__rate_interval])`),
		)))
	l.add(8, 8, timeseries("Disk IOPS", "Reads and writes completed per second per block device.", "iops", false,
		targets(
			"{{device}} reads", q(`rate(host_disk_reads_completed_total{SEL}[$__rate_interval])`),
			"{{device}} writes", q(`rate(host_disk_writes_completed_total{SEL}[$__rate_interval])`),
		)))
	l.add(8, 8, timeseries("Disk busy", "Share of time each device had IO in flight; near 100% means the disk is saturated (HostDiskIOSaturated alert at 90%).", "percentunit", false,
		targets("{{device}}", q(`rate(host_disk_io_time_seconds_total{SEL}[$__rate_interval])`))))
	l.add(12, 8, timeseries("Network traffic", "Bytes received and transmitted per second per interface.", "Bps", false,
		targets(
			"{{device}} received", q(`rate(host_network_receive_bytes_total{SEL}[$__rate_interval])`),
			"{{device}} transmitted", q(`rate(host_network_transmit_bytes_total{SEL}[$__rate_interval])`),
		)))
	l.add(12, 8, timeseries("Network packets, errors and drops", "Packets per second per interface, and the errors and drops among them (HostNetworkErrors alert above 1% errors).", "pps", false,
		targets(
			"{{device}} packets", q(`rate(host_network_receive_packets_total{SEL}[$__rate_interval]) + rate(host_network_transmit_packets_total{SEL}[$__rate_interval])`),
			"{{device}} errors", q(`rate(host_network_receive_errors_total{SEL}[$__rate_interval]) + rate(host_network_transmit_errors_total{SEL}[$__rate_interval])`),
			"{{device}} drops", q(`rate(host_network_receive_drops_total{SEL}[$__rate_interval]) + rate(host_network_transmit_drops_total{SEL}[$__rate_interval])`),
		)))
	l.add(12, 8, timeseries("Top process groups by CPU", "CPU used by the ten busiest process-name groups, in cores (100% = one core busy). Processes beyond the agent's group limit are summed in group \"other\".", "percentunit", false,
		targets("{{group}}", q(`topk(10, rate(host_process_group_cpu_seconds_total{SEL}[$__rate_interval]))`))))
	l.add(12, 8, timeseries("Top process groups by memory", "Resident memory of the ten largest process-name groups.", "bytes", false,
		targets("{{group}}", q(`topk(10, host_process_group_resident_memory_bytes{SEL})`))))
	l.add(8, 8, timeseries("Processes", "Processes by state, and all their threads.", "short", false,
		targets(
			"{{state}}", q(`host_processes{SEL}`),
			"threads", q(`host_process_threads{SEL}`),
		)))
	l.add(8, 8, timeseries("Logged-in sessions", "Interactive sessions in total and per user (utmp on Linux, WTS on Windows). Hosts nobody is logged in to show only the zero total.", "short", false,
		targets(
			"total", q(`host_users_sessions{SEL}`),
			"{{user}}", q(`host_user_sessions{SEL}`),
		)))
	l.add(8, 8, timeseries("Agent collector duration", "How long each collector of the prexmon agent took on the last scrape.", "s", false,
		targets("{{collector}}", q(`host_scrape_collector_duration_seconds{SEL}`))))
	l.newline()

	return newDashboard("prexmon-hosts", "prexmon / Hosts",
		"Fleet overview and per-host detail for prexmon agents on Linux and Windows.",
		[]string{"prexmon", "hosts"},
		[]Variable{
			datasourceVar(),
			queryVar("job", "Job", "label_values(host_exporter_build_info, job)", "Prometheus jobs scraping prexmon agents."),
			queryVar("instance", "Host", `label_values(host_exporter_build_info{job=~"$job"}, instance)`, "Agents to show; the host rows repeat for each."),
		},
		l.panels)
}

// fleetTable is one row per host, joined from instant queries on job and
// instance by Grafana's merge transformation.
func fleetTable() Panel {
	ts := instant(targets(
		"", q(`up{SEL} and on (job) host_exporter_build_info`),
		"", q(`host_os_info{SEL}`),
		"", q(`instance:host_uptime:seconds{SEL}`),
		"", q(`instance:host_cpu_utilisation:rate1m{SEL}`),
		"", q(`instance:host_memory_utilisation:ratio{SEL}`),
		"", q(`instance:host_filesystem_used:max_ratio{SEL}`),
		"", q(`host_users_sessions{SEL}`),
	), "table")
	column := func(ref, name, unit string, extra ...map[string]any) map[string]any {
		props := []map[string]any{
			{"id": "displayName", "value": name},
			{"id": "unit", "value": unit},
		}
		props = append(props, extra...)
		return map[string]any{"matcher": map[string]any{"id": "byName", "options": "Value #" + ref}, "properties": props}
	}
	gauge := map[string]any{"id": "custom.cellOptions", "value": map[string]any{"type": "gauge", "mode": "basic"}}
	pct := []map[string]any{gauge, {"id": "min", "value": 0}, {"id": "max", "value": 1},
		{"id": "thresholds", "value": thresholds(0.8, "orange", 0.9, "red")}}
	upMap := map[string]any{"id": "mappings", "value": []any{map[string]any{"type": "value", "options": map[string]any{
		"0": map[string]any{"text": "down", "color": "red", "index": 0},
		"1": map[string]any{"text": "up", "color": "green", "index": 1},
	}}}}
	colorText := map[string]any{"id": "custom.cellOptions", "value": map[string]any{"type": "color-text"}}
	return Panel{
		Datasource:  &promDS,
		Description: "One row per host: whether Prometheus reaches its agent, its OS, uptime, CPU and memory in use, its fullest filesystem and logged-in sessions. Click a column to sort.",
		FieldConfig: &FieldConfig{
			Defaults: FieldDefaults{
				Custom:     map[string]any{"align": "auto", "cellOptions": map[string]any{"type": "auto"}, "filterable": true},
				Mappings:   []any{},
				Thresholds: thresholds(),
				Unit:       "none",
			},
			Overrides: []map[string]any{
				column("A", "Agent", "none", upMap, colorText),
				column("C", "Uptime", "s"),
				column("D", "CPU", "percentunit", pct...),
				column("E", "Memory", "percentunit", pct...),
				column("F", "Fullest filesystem", "percentunit", pct...),
				column("G", "Sessions", "none"),
			},
		},
		Options: map[string]any{
			"cellHeight": "sm",
			"footer":     map[string]any{"show": false, "reducer": []string{"sum"}, "fields": ""},
			"showHeader": true,
			"sortBy":     []any{map[string]any{"displayName": "instance", "desc": false}},
		},
		Targets: ts,
		Title:   "Fleet overview",
		Transformations: []map[string]any{
			{"id": "merge", "options": map[string]any{}},
			{"id": "organize", "options": map[string]any{
				"excludeByName": map[string]any{"Time": true, "__name__": true, "Value #B": true, "job": false},
				"indexByName": map[string]any{
					"instance": 0, "hostname": 1, "Value #A": 2, "os": 3, "platform": 4, "platform_version": 5,
					"kernel_version": 6, "arch": 7, "Value #C": 8, "Value #D": 9, "Value #E": 10, "Value #F": 11, "Value #G": 12, "job": 13,
				},
				"renameByName": map[string]any{"hostname": "Hostname", "os": "OS", "platform": "Platform",
					"platform_version": "Version", "kernel_version": "Kernel", "arch": "Arch", "instance": "Instance", "job": "Job"},
			}},
		},
		Type: "table",
	}
}
