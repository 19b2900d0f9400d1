package collector

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// osReleasePaths are read in this order under --path.rootfs, as
// os-release(5) and node_exporter do.
var osReleasePaths = []string{"/etc/os-release", "/usr/lib/os-release"}

// fileStamp identifies one version of a file, so facts are parsed again
// only after an upgrade rewrites it.
type fileStamp struct {
	path  string
	mtime time.Time
	size  int64
}

func (c *hostCollector) bootTime(ctx context.Context) (time.Time, error) {
	return readBootTime(ctx, c.cfg.ProcPath)
}

// facts reads the host's OS from <rootfs>/etc/os-release (the container's
// own files and tools would describe the container image), parsed again
// when the file changes, and the kernel release, which the container
// shares with the host.
func (c *hostCollector) facts(context.Context) (platformFacts, error) {
	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return platformFacts{}, fmt.Errorf("uname: %w", err)
	}
	kernel := unix.ByteSliceToString(uts.Release[:])

	c.mu.Lock()
	defer c.mu.Unlock()
	stamp, err := osReleaseStamp(c.cfg.RootPath)
	if err != nil {
		// A root without os-release still has a kernel, boot time and
		// hostname worth reporting.
		c.cfg.Logger.Debug("no os-release", "err", err)
		c.stamp, c.platform = fileStamp{}, platformFacts{}
	} else if stamp != c.stamp {
		b, err := os.ReadFile(stamp.path)
		if err != nil {
			return platformFacts{}, fmt.Errorf("os-release: %w", err)
		}
		osr := parseOSRelease(b)
		c.stamp, c.platform = stamp, platformFacts{platform: osr["ID"], version: osr["VERSION_ID"]}
	}
	f := c.platform
	f.kernel = kernel
	return f, nil
}

func osReleaseStamp(root string) (fileStamp, error) {
	var errs []error
	for _, p := range osReleasePaths {
		path := joinRoot(root, p)
		fi, err := os.Stat(path)
		if err == nil {
			return fileStamp{path: path, mtime: fi.ModTime(), size: fi.Size()}, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fileStamp{}, err
		}
		errs = append(errs, err)
	}
	return fileStamp{}, errors.Join(errs...)
}

// parseOSRelease reads the KEY=value lines of os-release(5): values may be
// quoted with " or ', and a double-quoted value may escape ", \, $ and `.
func parseOSRelease(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch {
		case len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"':
			var u strings.Builder
			for i := 1; i < len(v)-1; i++ {
				if v[i] == '\\' && i+1 < len(v)-1 {
					i++
				}
				u.WriteByte(v[i])
			}
			v = u.String()
		case len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'':
			v = v[1 : len(v)-1]
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}
