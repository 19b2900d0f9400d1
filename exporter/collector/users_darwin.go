package collector

import (
	"context"

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
	return utmpUsers(list), nil
}
