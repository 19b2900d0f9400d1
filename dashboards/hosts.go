package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// hostSel selects the agents chosen in the job and instance variables.
const hostSel = `job=~"$job",instance=~"$instance"`

// q fills the host selector into an expression written with {SEL}.
func q(expr string) string { return strings.ReplaceAll(expr, "SEL", hostSel) }

// Hosts is the fleet dashboard: an overview table with one row per host and,
// repeated for every selected instance, the detail of that host. Every query
// uses metric names the exporter exposes on Linux and Windows alike; only the
// load average is Linux-only and says so.
func Hosts() (dashboard.Dashboard, error) {
	var l layout
	l.row("Fleet", "")
	l.add(4, 4, statP("Hosts up", "Agents Prometheus scraped successfully on the last attempt.", "none",
		thresholds(),
		targets("up", q(`count(up{SEL} == 1 and on (job) host_exporter_build_info) or vector(0)`))))
	l.add(4, 4, statP("Hosts down", "Registered agents Prometheus could not scrape on the last attempt (see the PrexmonAgentDown alert).", "none",
		thresholds(1, "red"),
		targets("down", q(`count(up{SEL} == 0 and on (job) host_exporter_build_info) or vector(0)`))))
	l.add(4, 4, statP("Fleet CPU", "Busy share of all CPUs of the selected hosts, weighted by core count.", "percentunit",
		thresholds(0.7, "orange", 0.9, "red"),
		targets("cpu", q(`sum(instance:host_cpu_utilisation:rate1m{SEL} * on (job, instance) host_cpu_logical_cores{SEL}) / sum(host_cpu_logical_cores{SEL})`))))
	l.add(4, 4, statP("Fleet memory", "Memory in use across the selected hosts (total minus available).", "percentunit",
		thresholds(0.8, "orange", 0.9, "red"),
		targets("memory", q(`1 - sum(host_memory_available_bytes{SEL}) / sum(host_memory_total_bytes{SEL})`))))
	l.add(4, 4, statP("Fullest filesystem", "The fullest real filesystem of any selected host (pseudo and in-memory filesystems excluded).", "percentunit",
		thresholds(0.8, "orange", 0.9, "red"),
		targets("fullest", q(`max(instance:host_filesystem_used:max_ratio{SEL})`))))
	l.add(4, 4, statP("Logged-in sessions", "Interactive sessions open on the selected hosts (utmp on Linux, WTS on Windows).", "none",
		thresholds(),
		targets("sessions", q(`sum(host_users_sessions{SEL})`))))
	l.add(24, 10, fleetTable())
	l.add(24, 6, alertList("Firing alerts", "Alerts firing or pending now, from Grafana's alerting: the rules of deploy/prometheus/alerts.yml that the Prometheus datasource evaluates, and any Grafana-managed rules. Each names its runbook."))

	// Collapsed: a fleet of a few hundred hosts would otherwise render and
	// query every panel of every host on load.
	l.collapsedRow("Host $instance", "instance")
	l.add(4, 4, statP("Uptime", "Time since the host booted, by the host's own clock.", "s",
		thresholds(),
		targets("{{instance}}", q(`instance:host_uptime:seconds{SEL}`))))
	l.add(4, 4, statP("Logical cores", "CPUs the operating system schedules on.", "none",
		thresholds(),
		targets("{{instance}}", q(`host_cpu_logical_cores{SEL}`))))
	l.add(4, 4, statP("Memory", "Physical memory size.", "bytes",
		thresholds(),
		targets("{{instance}}", q(`host_memory_total_bytes{SEL}`))))
	l.add(4, 4, statP("Clock offset", "The host's clock minus the time Prometheus scraped it; more than a few seconds means NTP is broken (HostClockSkew alert at 30 s).", "s",
		thresholds(5, "orange", 30, "red"),
		targets("{{instance}}", q(`host_time_seconds{SEL} - timestamp(host_time_seconds{SEL})`))))
	l.add(4, 4, statPanel("Clock synchronised", "Whether the host's time service reports its clock synchronised (adjtimex on Linux, the Windows time service); HostClockNotSynchronising alert.", "none",
		thresholds(),
		targets("{{instance}}", q(`host_time_synced{SEL}`))).Mappings(states("not synchronised", "synchronised")))
	l.add(4, 4, statP("Collectors failing", "Collectors of the agent whose last run failed; their metrics are missing from the panels below.", "none",
		thresholds(1, "red"),
		targets("{{instance}}", q(`count without (collector) (host_scrape_collector_success{SEL} == 0) or on (job, instance) (0 * host_exporter_build_info{SEL})`))))

	l.add(12, 8, timeseriesP("CPU by mode", "Share of all CPUs spent in each mode, averaged over the cores (idle left out). Windows reports user, system and irq; Linux also iowait, softirq, steal and nice.", "percentunit", true,
		targets("{{mode}}", q(`avg without (cpu) (rate(host_cpu_seconds_total{SEL,mode!="idle"}[$__rate_interval]))`))))
	l.add(12, 8, timeseriesP("Load average", "Runnable (and on Linux uninterruptible) tasks averaged over 1, 5 and 15 minutes; compare with the core count. Linux only: Windows hosts show no data here.", "short", false,
		targets(
			"1m", q(`host_load1{SEL}`),
			"5m", q(`host_load5{SEL}`),
			"15m", q(`host_load15{SEL}`),
			"cores", q(`host_cpu_logical_cores{SEL}`),
		)))
	l.add(12, 8, timeseriesP("Memory and swap", "Physical memory in use (total minus available) against its size, and swap (the page file on Windows).", "bytes", false,
		targets(
			"memory used", q(`host_memory_used_bytes{SEL}`),
			"memory total", q(`host_memory_total_bytes{SEL}`),
			"swap used", q(`host_swap_used_bytes{SEL}`),
			"swap total", q(`host_swap_total_bytes{SEL}`),
		)))
	l.add(12, 8, bargaugeP("Filesystems used", "Space used per real filesystem, as df counts it (the root reserve counts as used). Pseudo and in-memory filesystems are left out.", "percentunit", 0, 1,
		thresholds(0.8, "orange", 0.9, "red"),
		instant(targets("{{mountpoint}} ({{fstype}})", q(`instance:host_filesystem_used:ratio{SEL}`)), prometheus.PromQueryFormatTimeSeries)))
	l.add(8, 8, timeseriesP("Disk throughput", "Bytes read from and written to each block device per second.", "Bps", false,
		targets(
			"{{device}} read", q(`rate(host_disk_read_bytes_total{SEL}[$__rate_interval])`),
			"{{device}} written", q(`rate(host_disk_written_bytes_total{SEL}[$__rate_interval])`),
		)))
	l.add(8, 8, timeseriesP("Disk IOPS", "Reads and writes completed per second per block device.", "iops", false,
		targets(
			"{{device}} reads", q(`rate(host_disk_reads_completed_total{SEL}[$__rate_interval])`),
			"{{device}} writes", q(`rate(host_disk_writes_completed_total{SEL}[$__rate_interval])`),
		)))
	l.add(8, 8, timeseriesP("Disk busy", "Share of time each device had IO in flight; near 100% means the disk is saturated (HostDiskIOSaturated alert at 90%).", "percentunit", false,
		targets("{{device}}", q(`rate(host_disk_io_time_seconds_total{SEL}[$__rate_interval])`))))
	l.add(12, 8, timeseriesP("Network traffic", "Bytes received and transmitted per second per interface.", "Bps", false,
		targets(
			"{{device}} received", q(`rate(host_network_receive_bytes_total{SEL}[$__rate_interval])`),
			"{{device}} transmitted", q(`rate(host_network_transmit_bytes_total{SEL}[$__rate_interval])`),
		)))
	l.add(12, 8, timeseriesP("Network packets, errors and drops", "Packets per second per interface, and the errors and drops among them (HostNetworkErrors alert above 1% errors).", "pps", false,
		targets(
			"{{device}} packets", q(`rate(host_network_receive_packets_total{SEL}[$__rate_interval]) + rate(host_network_transmit_packets_total{SEL}[$__rate_interval])`),
			"{{device}} errors", q(`rate(host_network_receive_errors_total{SEL}[$__rate_interval]) + rate(host_network_transmit_errors_total{SEL}[$__rate_interval])`),
			"{{device}} drops", q(`rate(host_network_receive_drops_total{SEL}[$__rate_interval]) + rate(host_network_transmit_drops_total{SEL}[$__rate_interval])`),
		)))
	l.add(12, 8, timeseriesP("Disk latency", "Average time a read or a write spent queued and served per completed operation: the rise of the disk's busy time over the operations completed (host_disk_*_time_seconds_total over host_disk_*_completed_total).", "s", false,
		targets(
			"{{device}} read", q(`rate(host_disk_read_time_seconds_total{SEL}[$__rate_interval]) / rate(host_disk_reads_completed_total{SEL}[$__rate_interval])`),
			"{{device}} write", q(`rate(host_disk_write_time_seconds_total{SEL}[$__rate_interval]) / rate(host_disk_writes_completed_total{SEL}[$__rate_interval])`),
		)))
	l.add(12, 8, timeseriesP("Pressure stall (PSI)", "Share of time some task waited for CPU, memory or IO (Linux pressure stall information, \"some\" line). Sustained memory or IO pressure means work is being delayed even if utilisation looks fine. Linux 4.20+ only.", "percentunit", false,
		targets(
			"cpu", q(`rate(host_pressure_cpu_waiting_seconds_total{SEL}[$__rate_interval])`),
			"memory", q(`rate(host_pressure_memory_waiting_seconds_total{SEL}[$__rate_interval])`),
			"io", q(`rate(host_pressure_io_waiting_seconds_total{SEL}[$__rate_interval])`),
		)))
	l.add(8, 8, bargaugeP("Inodes used", "Inodes (file slots) used per real filesystem; a filesystem out of inodes refuses new files with space left (HostFilesystemInodes alerts).", "percentunit", 0, 1,
		thresholds(0.8, "orange", 0.9, "red"),
		instant(targets("{{mountpoint}} ({{fstype}})", q(`1 - host_filesystem_files_free{SEL} / (host_filesystem_files{SEL} > 0)`)), prometheus.PromQueryFormatTimeSeries)))
	l.add(8, 8, timeseriesP("OOM kills", "Processes the Linux kernel's out-of-memory killer ended (HostOOMKill alert).", "short", false,
		targets("{{instance}}", q(`increase(host_memory_oom_kills_total{SEL}[$__rate_interval])`))))
	l.add(8, 8, timeseriesP("Clock offset (time service)", "The offset from its reference that the host's time service reports (adjtimex on Linux); the stat above measures the clock against Prometheus instead.", "s", false,
		targets("{{instance}}", q(`host_time_offset_seconds{SEL}`))))
	l.add(12, 8, timeseriesP("Top process groups by CPU", "CPU used by the ten busiest process-name groups, in cores (100% = one core busy). Processes beyond the agent's group limit are summed in group \"other\".", "percentunit", false,
		targets("{{group}}", q(`topk(10, rate(host_process_group_cpu_seconds_total{SEL}[$__rate_interval]))`))))
	l.add(12, 8, timeseriesP("Top process groups by memory", "Resident memory of the ten largest process-name groups.", "bytes", false,
		targets("{{group}}", q(`topk(10, host_process_group_resident_memory_bytes{SEL})`))))
	l.add(8, 8, timeseriesP("Processes", "Processes by state, and all their threads.", "short", false,
		targets(
			"{{state}}", q(`host_processes{SEL}`),
			"threads", q(`host_process_threads{SEL}`),
		)))
	l.add(8, 8, timeseriesP("Logged-in sessions", "Interactive sessions in total and per user (utmp on Linux, WTS on Windows). Hosts nobody is logged in to show only the zero total.", "short", false,
		targets(
			"total", q(`host_users_sessions{SEL}`),
			"{{user}}", q(`host_user_sessions{SEL}`),
		)))
	l.add(8, 8, timeseriesP("Agent collector duration", "How long each collector of the prexmon agent took on the last scrape.", "s", false,
		targets("{{collector}}", q(`host_scrape_collector_duration_seconds{SEL}`))))

	return newDashboard(dashboardSpec{
		uid:         HostsUID,
		title:       "prexmon / Hosts",
		description: "Fleet overview and per-host detail for prexmon agents on Linux and Windows.",
		tags:        []string{"prexmon", "hosts"},
		vars: []cog.Builder[dashboard.VariableModel]{
			datasourceVar(),
			queryVar("job", "Job", "label_values(host_exporter_build_info, job)", "Prometheus jobs scraping prexmon agents."),
			// env is a target label (deploy/targets/agents.yml); os and
			// hostname are labels of host_os_info. They narrow the host
			// list; their All is ".*" so hosts without the label stay in.
			labelVar("env", "Environment", `label_values(host_exporter_build_info{job=~"$job"}, env)`, "The env target label of the agents (deploy/targets/agents.yml)."),
			labelVar("os", "OS", `label_values(host_os_info{job=~"$job",env=~"$env"}, os)`, "Operating system, from host_os_info."),
			labelVar("hostname", "Hostname", `label_values(host_os_info{job=~"$job",env=~"$env",os=~"$os"}, hostname)`, "The host's own name, from host_os_info."),
			queryVar("instance", "Host", `label_values(host_os_info{job=~"$job",env=~"$env",os=~"$os",hostname=~"$hostname"}, instance)`, "Agents to show; the collapsed host rows repeat for each."),
		},
		// job and instance mean the archiver there, so only the time range
		// is carried; the fleet table's links carry the host.
		links: []cog.Builder[dashboard.DashboardLink]{
			dashboardLink("Archiver", ArchiverUID, "The archiver storing these hosts' snapshots, over the same time range."),
			dashboardLink("Snapshots", SnapshotsUID, "Stored snapshots (processes, sessions, filesystems), over the same time range."),
		},
	}, &l)
}

// labelVar narrows the host list by a label; All is ".*" so a host
// without the label is not dropped.
func labelVar(name, label, query, description string) cog.Builder[dashboard.VariableModel] {
	return queryVar(name, label, query, description).AllValue(".*")
}

// fleetTable is one row per host, joined from instant queries on job and
// instance by Grafana's merge transformation. Every cell links to the
// host's row on this dashboard and to its stored snapshots.
func fleetTable() cog.Builder[dashboard.Panel] {
	ts := instant(targets(
		// address is the instance without its port: the key the archiver
		// stores the agent's snapshots under.
		"", q(`label_replace(up{SEL} and on (job) host_exporter_build_info, "address", "$1", "instance", "\\[?([^\\]]*?)\\]?:[0-9]+")`),
		"", q(`host_os_info{SEL}`),
		"", q(`instance:host_uptime:seconds{SEL}`),
		"", q(`instance:host_cpu_utilisation:rate1m{SEL}`),
		"", q(`instance:host_memory_utilisation:ratio{SEL}`),
		"", q(`instance:host_filesystem_used:max_ratio{SEL}`),
		"", q(`host_users_sessions{SEL}`),
	), prometheus.PromQueryFormatTable)
	column := func(ref, name, unit string, extra ...dashboard.DynamicConfigValue) []dashboard.DynamicConfigValue {
		return append([]dashboard.DynamicConfigValue{
			{Id: "displayName", Value: name},
			{Id: "unit", Value: unit},
		}, extra...)
	}
	th, _ := thresholds(0.8, "orange", 0.9, "red").Build()
	pct := []dashboard.DynamicConfigValue{
		{Id: "custom.cellOptions", Value: map[string]any{"type": "gauge", "mode": "basic"}},
		{Id: "min", Value: 0}, {Id: "max", Value: 1},
		{Id: "thresholds", Value: th},
	}
	upMap := dashboard.DynamicConfigValue{Id: "mappings", Value: states("down", "up")}
	colorText := dashboard.DynamicConfigValue{Id: "custom.cellOptions", Value: map[string]any{"type": "color-text"}}
	return newTable("Fleet overview", "One row per host: whether Prometheus reaches its agent, its OS, uptime, CPU and memory in use, its fullest filesystem and logged-in sessions. Click a column to sort, a cell for the host's detail row or its stored snapshots.", promDS).
		DataLinks([]cog.Builder[dashboard.DashboardLink]{
			dataLink("Host detail: ${__data.fields.instance}", "/d/"+HostsUID+"?var-job=${__data.fields.job}&var-instance=${__data.fields.instance}&${__url_time_range}&${datasource:queryparam}"),
			dataLink("Stored snapshots of ${__data.fields.address}", "/d/"+SnapshotsUID+"?var-agent=${__data.fields.address}&${__url_time_range}"),
		}).
		OverrideByName("Value #A", column("A", "Agent", "none", upMap, colorText)).
		OverrideByName("Value #C", column("C", "Uptime", "s")).
		OverrideByName("Value #D", column("D", "CPU", "percentunit", pct...)).
		OverrideByName("Value #E", column("E", "Memory", "percentunit", pct...)).
		OverrideByName("Value #F", column("F", "Fullest filesystem", "percentunit", pct...)).
		OverrideByName("Value #G", column("G", "Sessions", "none")).
		SortBy([]cog.Builder[common.TableSortByFieldState]{
			common.NewTableSortByFieldStateBuilder().DisplayName("instance").Desc(false),
		}).
		Targets(queries(ts)).
		Transformations([]dashboard.DataTransformerConfig{
			{Id: "merge", Options: map[string]any{}},
			{Id: "organize", Options: map[string]any{
				"excludeByName": map[string]any{"Time": true, "__name__": true, "Value #B": true, "job": false},
				"indexByName": map[string]any{
					"instance": 0, "hostname": 1, "Value #A": 2, "os": 3, "platform": 4, "platform_version": 5,
					"kernel_version": 6, "arch": 7, "Value #C": 8, "Value #D": 9, "Value #E": 10, "Value #F": 11, "Value #G": 12, "job": 13, "address": 14,
				},
				"renameByName": map[string]any{"hostname": "Hostname", "os": "OS", "platform": "Platform",
					"platform_version": "Version", "kernel_version": "Kernel", "arch": "Arch", "instance": "Instance", "job": "Job", "address": "Address"},
			}},
		})
}
