package collector

import (
	"bufio"
	"bytes"
	"os"
	"sync"
	"time"
)

// passwdCache maps UIDs to user names from the host's /etc/passwd (under
// --path.rootfs, so a containerised exporter names the host's users). It
// reloads only when the file changes. Unknown UIDs are shown as numbers.
type passwdCache struct {
	path string

	mu    sync.Mutex
	mtime time.Time
	size  int64
	names map[string]string
}

func newPasswdCache(path string) *passwdCache {
	return &passwdCache{path: path, names: map[string]string{}}
}

func (c *passwdCache) refresh() {
	fi, err := os.Stat(c.path)
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if fi.ModTime().Equal(c.mtime) && fi.Size() == c.size {
		return
	}
	b, err := os.ReadFile(c.path)
	if err != nil {
		return
	}
	names := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := bytes.SplitN(sc.Bytes(), []byte(":"), 4)
		if len(f) < 3 || len(f[0]) == 0 || f[0][0] == '#' {
			continue
		}
		names[string(f[2])] = string(f[0])
	}
	c.names, c.mtime, c.size = names, fi.ModTime(), fi.Size()
}

func (c *passwdCache) name(uid string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.names[uid]; ok {
		return n
	}
	return uid
}
