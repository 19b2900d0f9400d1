//go:build linux || darwin

package collector

import (
	"context"
	"time"

	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// loadAverage reads the kernel's load average: /proc/loadavg on Linux,
// sysctl vm.loadavg on macOS.
func loadAverage(ctx context.Context) (*[3]float64, error) {
	a, err := load.AvgWithContext(ctx)
	if err != nil {
		return nil, err
	}
	return &[3]float64{a.Load1, a.Load5, a.Load15}, nil
}

// utmpUsers turns utmp(x) records, as gopsutil reads them on both systems,
// into snapshot sessions.
func utmpUsers(stats []host.UserStat) []snapshot.User {
	users := make([]snapshot.User, 0, len(stats))
	for _, u := range stats {
		users = append(users, snapshot.User{
			User:      u.User,
			Terminal:  u.Terminal,
			Host:      u.Host,
			StartedAt: time.Unix(int64(u.Started), 0).UTC(),
		})
	}
	return users
}
