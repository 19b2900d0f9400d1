package collector

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shirou/gopsutil/v4/common"
	"github.com/shirou/gopsutil/v4/host"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// utmpReader reads the host's utmp through gopsutil, which handles the
// record layout of each architecture.
type utmpReader struct{ root string }

func newSessionReader(cfg Config) sessionReader { return utmpReader{root: cfg.RootPath} }

// utmpDir returns the directory D for which D/run/utmp is the host's utmp:
// <root>/run first, because /var/run is an absolute symlink to /run on
// current distributions, which under --path.rootfs would lead to this
// container's /run instead of the host's.
func (r utmpReader) utmpDir() (string, bool) {
	if _, err := os.Stat(filepath.Join(r.root, "run", "utmp")); err == nil {
		return r.root, true
	}
	varRun := filepath.Join(r.root, "var", "run")
	if fi, err := os.Lstat(varRun); err != nil || (fi.Mode()&fs.ModeSymlink != 0 && r.root != "/") {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(varRun, "utmp")); err == nil {
		return filepath.Join(r.root, "var"), true
	}
	return "", false
}

func (r utmpReader) Sessions(ctx context.Context) ([]snapshot.User, error) {
	// Without utmp gopsutil runs loginctl on every call (~20 ms); SPEC says a
	// host without utmp simply has no sessions.
	dir, ok := r.utmpDir()
	if !ok {
		return nil, nil
	}
	env, _ := ctx.Value(common.EnvKey).(common.EnvMap)
	withVar := common.EnvMap{}
	for k, v := range env {
		withVar[k] = v
	}
	withVar[common.HostVarEnvKey] = dir
	stats, err := host.UsersWithContext(context.WithValue(ctx, common.EnvKey, withVar))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // containers and minimal images keep no utmp
	}
	if err != nil {
		return nil, err
	}
	return utmpUsers(stats), nil
}
