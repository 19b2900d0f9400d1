package collector

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shirou/gopsutil/v4/disk"
)

// A statfs that never returns (a hung NFS server) must cost one worker and
// one timeout, not a goroutine per scrape or a blocked scrape.
func TestFilesystemHungStatfs(t *testing.T) {
	c, err := newFilesystemCollector(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	fc := c.(*filesystemCollector)
	fc.timeout = 50 * time.Millisecond
	release := make(chan struct{})
	var calls atomic.Int32
	fc.usage = func(_ context.Context, path string) (*disk.UsageStat, error) {
		calls.Add(1)
		<-release
		return &disk.UsageStat{Total: 100, Free: 40, Used: 50}, nil
	}
	const mount = "/mnt/nfs"
	ctx := context.Background()

	start := time.Now()
	if _, err := fc.statfs(ctx, mount); err == nil {
		t.Fatal("hung statfs reported success")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("statfs blocked for %v", took)
	}
	// Still hung: skipped at once, and no second worker is started.
	if _, err := fc.statfs(ctx, mount); err == nil {
		t.Fatal("still-hung mount reported success")
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d statfs workers for one hung mount, want 1", n)
	}
	close(release)
	deadline := time.Now().Add(5 * time.Second)
	for {
		u, err := fc.statfs(ctx, mount)
		if err == nil {
			if u.Total != 100 {
				t.Fatalf("usage = %+v", u)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("mount never recovered: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
