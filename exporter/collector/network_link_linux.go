package collector

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

func init() { netLinks = sysfsNetLinks }

// sysfsNetLinks reads operstate and speed under <sysfs>/class/net. speed
// is in Mbit/s; virtual devices and links that are down answer -1 or
// refuse the read (EINVAL), and get no speed.
func sysfsNetLinks(cfg Config, devices []string) map[string]netLink {
	out := make(map[string]netLink, len(devices))
	for _, dev := range devices {
		if strings.ContainsRune(dev, '/') || dev == "." || dev == ".." {
			continue
		}
		dir := filepath.Join(cfg.SysPath, "class", "net", dev)
		state, err := os.ReadFile(filepath.Join(dir, "operstate"))
		if err != nil {
			continue // gone since /proc/net/dev was read
		}
		l := netLink{up: strings.TrimSpace(string(state)) == "up"}
		if b, err := os.ReadFile(filepath.Join(dir, "speed")); err == nil {
			if mbits, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && mbits > 0 {
				l.speedBytes = uint64(mbits) * 1000 * 1000 / 8
			}
		}
		out[dev] = l
	}
	return out
}
