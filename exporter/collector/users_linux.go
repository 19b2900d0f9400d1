package collector

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/shirou/gopsutil/v4/host"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// utmpReader reads <root>/var/run/utmp through gopsutil, which handles the
// record layout of each architecture.
type utmpReader struct{ path string }

func newSessionReader(cfg Config) sessionReader {
	return utmpReader{path: filepath.Join(cfg.RootPath, "var", "run", "utmp")}
}

func (r utmpReader) Sessions(ctx context.Context) ([]snapshot.User, error) {
	// Without utmp gopsutil runs loginctl on every call (~20 ms); SPEC says a
	// host without utmp simply has no sessions.
	if _, err := os.Stat(r.path); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	stats, err := host.UsersWithContext(ctx)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // containers and minimal images keep no utmp
	}
	if err != nil {
		return nil, err
	}
	users := make([]snapshot.User, 0, len(stats))
	for _, u := range stats {
		users = append(users, snapshot.User{
			User:      u.User,
			Terminal:  u.Terminal,
			Host:      u.Host,
			StartedAt: time.Unix(int64(u.Started), 0).UTC(),
		})
	}
	return users, nil
}
