package dashboards

import (
	"strings"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
)

// archSel selects the archivers chosen in the job and instance variables.
const archSel = `job=~"$job",instance=~"$instance"`

func a(expr string) string { return strings.ReplaceAll(expr, "SEL", archSel) }

// Archiver is the archiver's own dashboard: is it keeping up with its agents
// (scrapes by result, schedule lag), is it writing (throughput, fsync
// latency, errors), is it uploading to object storage when it has a bucket
// (throughput, lag, retention, operation latency and failures), and are
// pushes and reloads accepted.
func Archiver() (dashboard.Dashboard, error) {
	var l layout
	l.row("Overview", "")
	l.add(4, 4, statP("Agents up", "Registered agents whose last snapshot scrape succeeded.", "none",
		thresholds(),
		targets("up", a(`sum(archiver_agents{SEL,health="up"})`))))
	l.add(4, 4, statP("Agents down", "Registered agents whose last snapshot scrape failed; /api/v1/agents says why (the ArchiverAgentNotArchived alert names each one after 10 minutes without a stored snapshot).", "none",
		thresholds(1, "red"),
		targets("down", a(`sum(archiver_agents{SEL,health="down"})`))))
	l.add(4, 4, statP("Scrape failures", "Share of snapshot scrapes that failed over the last 5 minutes (ArchiverScrapeFailures alert above 10%).", "percentunit",
		thresholds(0.01, "orange", 0.1, "red"),
		targets("failed", a(`max(instance:archiver_scrapes_failed:ratio_rate5m{SEL})`))))
	l.add(4, 4, statP("Write errors", "Failed opens, writes and fsyncs of day files in the dashboard's time range; anything but 0 means snapshots were lost.", "none",
		thresholds(1, "red"),
		targets("errors", a(`sum(increase(archiver_write_errors_total{SEL}[$__range]))`))))
	l.add(4, 4, statPanel("Config reload", "Whether the last configuration reload (file edit, SIGHUP or POST /-/reload) was accepted; a rejected config leaves the previous one running.", "none",
		thresholds(),
		targets("{{instance}}", a(`archiver_config_last_reload_successful{SEL}`))).Mappings(states("rejected", "accepted")))
	l.add(4, 4, statP("Last good reload", "Time since the configuration was last loaded successfully.", "s",
		thresholds(),
		targets("{{instance}}", a(`time() - archiver_config_last_reload_success_timestamp_seconds{SEL}`))))

	l.row("Scraping", "")
	l.add(12, 8, timeseriesP("Scrapes by result", "Snapshot scrapes per second by outcome.", "ops", true,
		targets("{{result}}", a(`sum by (result) (rate(archiver_scrapes_total{SEL}[$__rate_interval]))`))))
	l.add(12, 8, timeseriesP("Agents by health", "Registered agents by the health of their last scrape.", "short", true,
		targets("{{health}}", a(`sum by (health) (archiver_agents{SEL})`))))
	l.add(12, 8, timeseriesP("Scrape duration", "How long snapshot scrapes take (median and 99th percentile), from request to validated body.", "s", false,
		targets(
			"p50", a(`histogram_quantile(0.5, sum by (le) (rate(archiver_scrape_duration_seconds_bucket{SEL}[$__rate_interval])))`),
			"p99", a(`histogram_quantile(0.99, sum by (le) (rate(archiver_scrape_duration_seconds_bucket{SEL}[$__rate_interval])))`),
		)))
	l.add(12, 8, timeseriesP("Schedule lag", "How late scrapes start against their schedule (99th percentile); a growing lag means the archiver cannot keep up with its agents.", "s", false,
		targets(
			"p50", a(`histogram_quantile(0.5, sum by (le) (rate(archiver_scrape_schedule_lag_seconds_bucket{SEL}[$__rate_interval])))`),
			"p99", a(`histogram_quantile(0.99, sum by (le) (rate(archiver_scrape_schedule_lag_seconds_bucket{SEL}[$__rate_interval])))`),
		)))

	l.add(12, 8, timeseriesP("Scrapes missed", "Planned scrapes skipped because the previous scrape of the same agent was still running: the agent or the archiver is too slow for the interval (ArchiverFallingBehind alert).", "ops", false,
		targets("{{instance}}", a(`rate(archiver_scrapes_missed_total{SEL}[$__rate_interval])`))))
	l.add(12, 8, timeseriesP("Registered agents and target files", "Agents registered through static_configs and file_sd, and file_sd files that currently fail to read or parse (the previous targets stay in use).", "short", false,
		targets(
			"agents", a(`archiver_targets{SEL}`),
			"failing files", a(`archiver_sd_files_failing{SEL}`),
		)))

	l.add(24, 8, bargaugeP("Longest since archived", "Scraped agents whose last stored snapshot is oldest (top 10), counted from registration for an agent not stored yet. A healthy agent stays below its scrape interval; the ArchiverAgentNotArchived alert names any agent past 10 minutes (or three intervals, if longer). Pushing agents are under Pushes.", "s", 0, 900,
		thresholds(300, "orange", 600, "red"),
		instant(targets("{{target}}", a(`topk(10, time() - archiver_agent_last_archived_timestamp_seconds{SEL,source!="push"})`)), prometheus.PromQueryFormatTimeSeries)))

	l.row("Storage", "")
	l.add(8, 8, timeseriesP("Write throughput", "Bytes of snapshot lines appended to day files per second.", "Bps", false,
		targets("{{instance}}", a(`rate(archiver_written_bytes_total{SEL}[$__rate_interval])`))))
	l.add(8, 8, timeseriesP("Snapshots written", "Snapshot lines appended to day files per second.", "ops", false,
		targets("{{instance}}", a(`rate(archiver_snapshots_written_total{SEL}[$__rate_interval])`))))
	l.add(8, 8, timeseriesP("Fsync latency", "Time each batched fsync of a day file takes (median and 99th percentile).", "s", false,
		targets(
			"p50", a(`histogram_quantile(0.5, sum by (le) (rate(archiver_fsync_duration_seconds_bucket{SEL}[$__rate_interval])))`),
			"p99", a(`histogram_quantile(0.99, sum by (le) (rate(archiver_fsync_duration_seconds_bucket{SEL}[$__rate_interval])))`),
		)))
	l.add(8, 8, timeseriesP("Write errors", "Failed opens, writes and fsyncs of day files per second.", "ops", false,
		targets("{{instance}}", a(`rate(archiver_write_errors_total{SEL}[$__rate_interval])`))))
	l.add(8, 8, timeseriesP("Open day files", "Day files held open for appending (idle ones are closed to bound descriptors).", "short", false,
		targets("{{instance}}", a(`archiver_open_files{SEL}`))))
	l.add(8, 8, timeseriesP("Torn lines cut", "Incomplete last lines left by a crash and cut at start-up.", "short", false,
		targets("{{instance}}", a(`increase(archiver_torn_lines_cut_total{SEL}[$__rate_interval])`))))

	// Object storage: only archivers started with --storage.remote.config.file
	// serve these series, so the row stays closed (and empty) for the others.
	l.collapsedRow("Object storage", "")
	l.add(8, 8, timeseriesP("Upload throughput", "Compressed bytes of closed segments uploaded to object storage per second. Empty unless the archiver runs with --storage.remote.config.file.", "Bps", false,
		targets("{{instance}}", a(`rate(archiver_remote_uploaded_bytes_total{SEL}[$__rate_interval])`))))
	l.add(8, 8, timeseriesP("Uploads by result", "Segment uploads to object storage per second by outcome; a failed upload is retried and the segment stays on local disk until it succeeds.", "ops", true,
		targets("{{result}}", a(`sum by (result) (rate(archiver_remote_uploads_total{SEL}[$__rate_interval]))`))))
	l.add(8, 8, timeseriesP("Upload failures", "Failed segment uploads per second on each archiver; the archiver's log says why.", "ops", false,
		targets("{{instance}}", a(`rate(archiver_remote_uploads_total{SEL,result="failure"}[$__rate_interval])`))))
	l.add(12, 8, timeseriesP("Pending segments", "Closed segments on local disk not yet uploaded to object storage; it should return to 0 after each batch of closes.", "short", false,
		targets("{{instance}}", a(`archiver_remote_pending_segments{SEL}`))))
	l.add(12, 8, thresholdLine(timeseriesPanel("Upload lag", "How long the oldest closed segment not yet uploaded has waited (0 when none waits); the line is the ArchiverRemoteUploadsBehind alert's threshold of 30 minutes.", "s", false,
		targets("{{instance}}", a(`archiver_remote_upload_lag_seconds{SEL}`))), thresholds(1800, "red")))
	l.add(12, 8, timeseriesP("Bucket size", "Compressed bytes of every archiver's segments in the bucket, as last measured by the size retention; absent unless --storage.remote.retention.size is set. Archivers sharing a bucket report the same figure.", "bytes", false,
		targets("{{instance}}", a(`archiver_remote_bucket_bytes{SEL}`))))
	l.add(12, 8, timeseriesP("Retention deletions", "Agent days deleted from object storage by the retention, by reason: age (--storage.retention) or size (--storage.remote.retention.size).", "short", false,
		targets("{{instance}} {{reason}}", a(`increase(archiver_remote_retention_deleted_days_total{SEL}[$__rate_interval])`))))
	l.add(12, 8, timeseriesP("Object storage latency", "99th percentile of object storage operations (upload, get, get_range, exists, iter, delete, attributes) by operation, as objstore measures them.", "s", false,
		targets("{{operation}}", a(`histogram_quantile(0.99, sum by (operation, le) (rate(archiver_objstore_bucket_operation_duration_seconds_bucket{SEL}[$__rate_interval])))`))))
	l.add(12, 8, timeseriesP("Object storage failures", "Share of object storage operations that failed, by operation; an object not found is not a failure.", "percentunit", false,
		targets("{{operation}}", a(`sum by (operation) (rate(archiver_objstore_bucket_operation_failures_total{SEL}[$__rate_interval])) / sum by (operation) (rate(archiver_objstore_bucket_operations_total{SEL}[$__rate_interval]))`))))

	l.row("Pushes and process", "")
	l.add(8, 8, timeseriesP("Push requests by result", "Snapshots pushed by agents the archiver cannot reach, per second by outcome. Empty while no agent pushes.", "reqps", true,
		targets("{{result}}", a(`sum by (result) (rate(archiver_push_requests_total{SEL}[$__rate_interval]))`))))
	l.add(16, 8, bargaugeP("Longest since pushed", "Pushing agents (by client address) whose last stored push, at any of the selected archivers, is oldest (top 10). An agent pushing every 5 minutes (the default) stays below 300 s; the ArchiverPushAgentSilent alert names any past 15 minutes. Empty while no agent pushes; an address goes after 7 days without a push.", "s", 0, 1200,
		thresholds(600, "orange", 900, "red"),
		instant(targets("{{target}}", a(`topk(10, time() - max by (target) (archiver_agent_last_archived_timestamp_seconds{SEL,source="push"}))`)), prometheus.PromQueryFormatTimeSeries)))
	l.add(12, 8, timeseriesP("Archiver memory", "Resident memory of the archiver process.", "bytes", false,
		targets("{{instance}}", a(`process_resident_memory_bytes{SEL}`))))
	l.add(12, 8, timeseriesP("Archiver CPU", "CPU used by the archiver process, in cores (100% = one core).", "percentunit", false,
		targets("{{instance}}", a(`rate(process_cpu_seconds_total{SEL}[$__rate_interval])`))))

	return newDashboard(dashboardSpec{
		uid:         ArchiverUID,
		title:       "prexmon / Archiver",
		description: "Health of the prexmon archiver: scrapes, schedule lag, writes, fsyncs, object storage uploads, pushes and reloads.",
		tags:        []string{"prexmon", "archiver"},
		vars: []cog.Builder[dashboard.VariableModel]{
			datasourceVar(),
			queryVar("job", "Job", "label_values(archiver_build_info, job)", "Prometheus jobs scraping prexmon archivers."),
			queryVar("instance", "Archiver", `label_values(archiver_build_info{job=~"$job"}, instance)`, "Archivers to show."),
		},
		links: []cog.Builder[dashboard.DashboardLink]{
			dashboardLink("Hosts", HostsUID, "The agents' metrics, over the same time range."),
			dashboardLink("Snapshots", SnapshotsUID, "What this archiver stored, over the same time range."),
		},
	}, &l)
}
