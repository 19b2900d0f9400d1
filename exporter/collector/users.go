package collector

import (
	"context"
	"fmt"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func init() { registerCollector("users", true, newUsersCollector) }

var (
	sessionsDesc     = prometheus.NewDesc("host_users_sessions", "Logged-in sessions.", nil, nil)
	userSessionsDesc = prometheus.NewDesc("host_user_sessions", "Logged-in sessions per user.", []string{"user"}, nil)
)

// sessionReader reads logged-in sessions: utmp on Linux, the WTS API on
// Windows. A host that keeps no session records has zero sessions, which is
// not an error.
type sessionReader interface {
	Sessions(ctx context.Context) ([]snapshot.User, error)
}

type usersCollector struct{ reader sessionReader }

func newUsersCollector(cfg Config) (Collector, error) {
	return &usersCollector{reader: newSessionReader(cfg)}, nil
}

type usersResult struct{ users []snapshot.User }

func (c *usersCollector) Update(ctx context.Context) (Result, error) {
	users, err := c.reader.Sessions(ctx)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	if users == nil {
		users = []snapshot.User{}
	}
	return &usersResult{users: users}, nil
}

func (r *usersResult) Fill(s *snapshot.Snapshot) { s.Users = r.users }

func (r *usersResult) Emit(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.GaugeValue, float64(len(r.users)))
	per := map[string]int{}
	for _, u := range r.users {
		per[u.User]++
	}
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ch <- prometheus.MustNewConstMetric(userSessionsDesc, prometheus.GaugeValue, float64(per[n]), labelValue(n))
	}
}
