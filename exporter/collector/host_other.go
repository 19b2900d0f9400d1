//go:build !linux

package collector

import (
	"context"
	"fmt"
	"time"

	"github.com/shirou/gopsutil/v4/host"
)

// platformTTL bounds how stale OS facts may be: they change only on
// upgrades, and reading them costs more than a scrape should.
const platformTTL = 10 * time.Minute

// fileStamp is unused outside Linux, which reads os-release.
type fileStamp struct{}

func (c *hostCollector) facts(ctx context.Context) (platformFacts, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readAt.IsZero() && time.Since(c.readAt) < platformTTL {
		return c.platform, nil
	}
	platform, _, version, err := host.PlatformInformationWithContext(ctx)
	if err != nil {
		return platformFacts{}, fmt.Errorf("platform information: %w", err)
	}
	kernel, err := host.KernelVersionWithContext(ctx)
	if err != nil {
		return platformFacts{}, fmt.Errorf("kernel version: %w", err)
	}
	c.platform = platformFacts{platform: platform, version: version, kernel: kernel}
	c.readAt = time.Now()
	return c.platform, nil
}

// bootTime is read at every collection. These systems derive it from the
// clock minus the uptime, which wobbles by a second between reads; a
// change of a second or less keeps the earlier value, so the series is
// steady and a real clock step still shows.
func (c *hostCollector) bootTime(ctx context.Context) (time.Time, error) {
	secs, err := host.BootTimeWithContext(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("boot time: %w", err)
	}
	boot := time.Unix(int64(secs), 0).UTC()
	c.mu.Lock()
	defer c.mu.Unlock()
	if d := boot.Sub(c.boot); c.boot.IsZero() || d > time.Second || d < -time.Second {
		c.boot = boot
	}
	return c.boot, nil
}
