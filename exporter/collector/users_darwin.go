package collector

import (
	"context"
	"time"

	"github.com/shirou/gopsutil/v4/host"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// utmpxReader lists sessions from macOS's utmpx database through gopsutil.
type utmpxReader struct{}

func newSessionReader(Config) sessionReader { return utmpxReader{} }

func (utmpxReader) Sessions(ctx context.Context) ([]snapshot.User, error) {
	list, err := host.UsersWithContext(ctx)
	if err != nil {
		return nil, err
	}
	users := make([]snapshot.User, 0, len(list))
	for _, u := range list {
		users = append(users, snapshot.User{
			User:      u.User,
			Terminal:  u.Terminal,
			Host:      u.Host,
			StartedAt: time.Unix(int64(u.Started), 0).UTC(),
		})
	}
	return users, nil
}
