// Package snapshot defines the JSON picture of one machine that the exporter
// serves on /snapshot (and pushes), and that the archiver stores verbatim.
// Both programs import it so the schema has exactly one definition.
package snapshot

import "time"

// SchemaVersion is written into every snapshot so that readers of archives
// years old can tell which shape they hold. Bump it only on incompatible change.
const SchemaVersion = 1

// Snapshot is the full picture of one machine at one moment.
// Sections whose collector is disabled or failed are omitted rather than
// zeroed, so a reader never mistakes a missing fact for a measured zero.
type Snapshot struct {
	SchemaVersion int          `json:"schema_version"`
	CollectedAt   time.Time    `json:"collected_at"`
	Agent         Agent        `json:"agent"`
	Host          *Host        `json:"host,omitempty"`
	CPU           *CPU         `json:"cpu,omitempty"`
	Memory        *Memory      `json:"memory,omitempty"`
	Filesystems   []Filesystem `json:"filesystems,omitempty"`
	Disks         []Disk       `json:"disks,omitempty"`
	Network       []NetIf      `json:"network,omitempty"`
	// Users is [] when nobody is logged in and null when the users
	// collector is off or failed: "nobody" and "unknown" must differ.
	Users     []User    `json:"users"`
	Processes []Process `json:"processes,omitempty"`
	// Errors names the collectors that failed in this collection and why,
	// so an archived snapshot explains its own gaps.
	Errors map[string]string `json:"errors,omitempty"`
}

// Agent identifies the exporter build that produced the snapshot.
type Agent struct {
	Version string `json:"version"`
}

// Host holds identity facts that change rarely.
type Host struct {
	Hostname        string    `json:"hostname"`
	OS              string    `json:"os"`
	Platform        string    `json:"platform"`
	PlatformVersion string    `json:"platform_version"`
	KernelVersion   string    `json:"kernel_version"`
	Arch            string    `json:"arch"`
	UptimeSeconds   uint64    `json:"uptime_seconds"`
	BootTime        time.Time `json:"boot_time"`
	IPs             []string  `json:"ips"`
}

// CPU holds utilisation averaged over at least the exporter's
// --collector.cpu.min-window (over the time since start until that much has
// passed), whatever the scrape pattern.
type CPU struct {
	Model         string    `json:"model"`
	LogicalCores  int       `json:"logical_cores"`
	PhysicalCores int       `json:"physical_cores"`
	UsagePercent  float64   `json:"usage_percent"`
	PerCPUPercent []float64 `json:"per_cpu_percent"`
	// Load averages are pointers because Windows has none: absent, not zero.
	Load1  *float64 `json:"load1,omitempty"`
	Load5  *float64 `json:"load5,omitempty"`
	Load15 *float64 `json:"load15,omitempty"`
}

// Memory holds physical memory and swap (page file on Windows).
type Memory struct {
	TotalBytes     uint64  `json:"total_bytes"`
	AvailableBytes uint64  `json:"available_bytes"`
	UsedBytes      uint64  `json:"used_bytes"`
	UsedPercent    float64 `json:"used_percent"`
	SwapTotalBytes uint64  `json:"swap_total_bytes"`
	SwapUsedBytes  uint64  `json:"swap_used_bytes"`
}

// Filesystem is one mounted filesystem (a logical disk on Windows).
type Filesystem struct {
	Device      string  `json:"device"`
	Mountpoint  string  `json:"mountpoint"`
	FSType      string  `json:"fstype"`
	SizeBytes   uint64  `json:"size_bytes"`
	FreeBytes   uint64  `json:"free_bytes"`
	AvailBytes  uint64  `json:"avail_bytes"`
	UsedPercent float64 `json:"used_percent"`
	ReadOnly    bool    `json:"read_only,omitempty"`
	// Files and FilesFree count inodes; they are absent where the OS has
	// none to report (Windows), which must not read as a full filesystem.
	Files     *uint64 `json:"files,omitempty"`
	FilesFree *uint64 `json:"files_free,omitempty"`
}

// Disk holds cumulative IO counters of one block device.
type Disk struct {
	Device          string  `json:"device"`
	ReadBytes       uint64  `json:"read_bytes"`
	WrittenBytes    uint64  `json:"written_bytes"`
	ReadsCompleted  uint64  `json:"reads_completed"`
	WritesCompleted uint64  `json:"writes_completed"`
	IOTimeSeconds   float64 `json:"io_time_seconds"`
	// ReadTimeSeconds and WriteTimeSeconds are the time spent on completed
	// reads and writes: their increase over ReadsCompleted's (WritesCompleted's)
	// is the average latency of the requests between two snapshots.
	ReadTimeSeconds  float64 `json:"read_time_seconds"`
	WriteTimeSeconds float64 `json:"write_time_seconds"`
}

// NetIf holds cumulative counters of one network interface.
type NetIf struct {
	Device    string `json:"device"`
	RxBytes   uint64 `json:"rx_bytes"`
	TxBytes   uint64 `json:"tx_bytes"`
	RxPackets uint64 `json:"rx_packets"`
	TxPackets uint64 `json:"tx_packets"`
	RxErrors  uint64 `json:"rx_errors"`
	TxErrors  uint64 `json:"tx_errors"`
	RxDrops   uint64 `json:"rx_drops"`
	TxDrops   uint64 `json:"tx_drops"`
	// Up is the link's operational state (absent where it is not known);
	// SpeedBytes its speed in bytes per second, absent where the link
	// reports none (virtual devices, links that are down).
	Up         *bool  `json:"up,omitempty"`
	SpeedBytes uint64 `json:"speed_bytes,omitempty"`
}

// User is one logged-in session (utmp on Linux, WTS on Windows).
type User struct {
	User      string    `json:"user"`
	Terminal  string    `json:"terminal"`
	Host      string    `json:"host"`
	StartedAt time.Time `json:"started_at"`
	// Domain, SessionID and State are filled on Windows, where sessions
	// carry them; Linux leaves them empty.
	Domain    string `json:"domain,omitempty"`
	SessionID *int   `json:"session_id,omitempty"`
	State     string `json:"state,omitempty"`
}

// Process is one running process. CPUPercent is averaged like CPU's (100 =
// one full core); a process younger than that is measured from its first
// sighting, or over its life if this is its first.
type Process struct {
	PID        int32     `json:"pid"`
	PPID       int32     `json:"ppid"`
	Name       string    `json:"name"`
	Exe        string    `json:"exe"`
	Cmdline    string    `json:"cmdline"`
	User       string    `json:"user"`
	State      string    `json:"state"`
	StartedAt  time.Time `json:"started_at"`
	CPUPercent float64   `json:"cpu_percent"`
	CPUSeconds float64   `json:"cpu_seconds"`
	RSSBytes   uint64    `json:"rss_bytes"`
	Threads    int32     `json:"threads"`
}
