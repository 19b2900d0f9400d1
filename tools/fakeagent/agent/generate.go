// Package agent imitates many prexmon exporters at once for load tests of
// the archiver: it generates realistic snapshots (300 processes, about
// 100 KB, compressing about 4x) and serves them from many loopback addresses.
package agent

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// Generate returns the snapshot of an imaginary busy server. The same seed
// gives the same machine (hostname, processes, command lines); now moves
// only the clock-driven fields, so regenerating a machine every few seconds
// looks like one host being collected again, not a new host.
func Generate(seed uint64, now time.Time) snapshot.Snapshot {
	now = now.UTC()
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	// tick decorrelates the moving counters between collections without
	// changing the machine's identity.
	tick := rand.New(rand.NewPCG(seed, uint64(now.UnixNano())))
	boot := now.Add(-time.Duration(3+r.IntN(200)) * 24 * time.Hour).Add(-time.Duration(r.IntN(86400)) * time.Second).Truncate(time.Second)
	uptime := uint64(now.Sub(boot) / time.Second)
	cores := []int{4, 8, 16, 32}[r.IntN(4)]
	role := roles[r.IntN(len(roles))]
	host := fmt.Sprintf("%s-%02d.%s.example.internal", role, 1+r.IntN(60), []string{"prod", "staging", "eu1", "us2"}[r.IntN(4)])
	ip := fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254))

	s := snapshot.Snapshot{
		SchemaVersion: snapshot.SchemaVersion,
		CollectedAt:   now.Truncate(time.Millisecond),
		Agent:         snapshot.Agent{Version: "0.1.0"},
		Host: &snapshot.Host{
			Hostname: host, OS: "linux", Platform: "debian", PlatformVersion: "12.8",
			KernelVersion: "6.1.0-28-amd64", Arch: "x86_64", UptimeSeconds: uptime, BootTime: boot,
			IPs: []string{ip, "172.17.0.1", "fe80::" + strconv.FormatUint(r.Uint64()&0xffff, 16) + ":" + strconv.FormatUint(r.Uint64()&0xffff, 16) + "ff:fe" + strconv.FormatUint(r.Uint64()&0xff, 16) + ":" + strconv.FormatUint(r.Uint64()&0xffff, 16)},
		},
		Memory: memory(r, tick),
		Users:  users(r, now),
	}
	s.CPU = cpu(r, tick, cores)
	s.Filesystems = filesystems(r, tick)
	s.Disks = disks(r, uptime)
	s.Network = network(r, uptime)
	s.Processes = processes(r, tick, now, boot, uptime, role, cores)
	return s
}

var roles = []string{"app", "db", "web", "kafka", "search", "worker", "ci"}

func pct(r *rand.Rand, max float64) float64 { return r.Float64() * max }

func cpu(r, tick *rand.Rand, cores int) *snapshot.CPU {
	l1, l5, l15 := pct(tick, float64(cores)), pct(tick, float64(cores)), pct(tick, float64(cores))
	c := &snapshot.CPU{
		Model:         "AMD EPYC 7R13 Processor",
		LogicalCores:  cores,
		PhysicalCores: cores / 2,
		UsagePercent:  pct(tick, 100),
		Load1:         &l1, Load5: &l5, Load15: &l15,
	}
	for range cores {
		c.PerCPUPercent = append(c.PerCPUPercent, pct(tick, 100))
	}
	return c
}

func memory(r, tick *rand.Rand) *snapshot.Memory {
	total := uint64(8<<30) << r.IntN(4)
	avail := uint64(float64(total) * (0.1 + 0.8*tick.Float64()))
	avail -= avail % 4096
	swap := uint64(2 << 30)
	return &snapshot.Memory{
		TotalBytes: total, AvailableBytes: avail, UsedBytes: total - avail,
		UsedPercent:    100 * float64(total-avail) / float64(total),
		SwapTotalBytes: swap, SwapUsedBytes: uint64(tick.IntN(1<<28)) &^ 4095,
	}
}

func users(r *rand.Rand, now time.Time) []snapshot.User {
	names := []string{"alice", "bob", "deploy", "ops", "root"}
	var us []snapshot.User
	for i := range r.IntN(4) {
		us = append(us, snapshot.User{
			User: names[r.IntN(len(names))], Terminal: "pts/" + strconv.Itoa(i),
			Host:      fmt.Sprintf("10.20.%d.%d", r.IntN(256), 1+r.IntN(254)),
			StartedAt: now.Add(-time.Duration(r.IntN(36000)) * time.Second).Truncate(time.Second),
		})
	}
	return us
}

func filesystems(r, tick *rand.Rand) []snapshot.Filesystem {
	type fs struct{ dev, mnt, typ string }
	list := []fs{
		{"/dev/nvme0n1p1", "/", "ext4"}, {"/dev/nvme0n1p15", "/boot/efi", "vfat"},
		{"/dev/nvme1n1", "/var/lib/data", "xfs"}, {"tmpfs", "/run", "tmpfs"},
		{"tmpfs", "/dev/shm", "tmpfs"}, {"overlay", "/var/lib/docker/overlay2/" + hex(r, 64) + "/merged", "overlay"},
		{"/dev/nvme2n1", "/var/log", "ext4"},
	}
	var out []snapshot.Filesystem
	for _, f := range list {
		size := uint64(1+r.IntN(2000)) << 30
		free := uint64(float64(size)*tick.Float64()) &^ 4095
		out = append(out, snapshot.Filesystem{
			Device: f.dev, Mountpoint: f.mnt, FSType: f.typ, SizeBytes: size,
			FreeBytes: free, AvailBytes: free - min(free, size/20),
			UsedPercent: 100 * float64(size-free) / float64(size),
		})
	}
	return out
}

func disks(r *rand.Rand, uptime uint64) []snapshot.Disk {
	var out []snapshot.Disk
	for _, d := range []string{"nvme0n1", "nvme1n1", "nvme2n1", "dm-0"} {
		rate := uint64(1 + r.IntN(50<<20))
		out = append(out, snapshot.Disk{
			Device: d, ReadBytes: rate * uptime / 3, WrittenBytes: rate * uptime,
			ReadsCompleted: rate * uptime / 3 / 4096, WritesCompleted: rate * uptime / 8192,
			IOTimeSeconds: float64(uptime) * r.Float64() / 10,
		})
	}
	return out
}

func network(r *rand.Rand, uptime uint64) []snapshot.NetIf {
	var out []snapshot.NetIf
	for _, d := range []string{"lo", "ens5", "docker0", "veth" + hex(r, 7)} {
		rx, tx := uint64(r.IntN(100<<20))*uptime/100, uint64(r.IntN(100<<20))*uptime/100
		out = append(out, snapshot.NetIf{
			Device: d, RxBytes: rx, TxBytes: tx, RxPackets: rx / 900, TxPackets: tx / 700,
			RxErrors: uint64(r.IntN(3)), RxDrops: uint64(r.IntN(200)),
		})
	}
	return out
}

func hex(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}
