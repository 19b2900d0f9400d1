package collector

import (
	"context"
	"testing"
)

// BenchmarkCollect reads this host with every collector, and with the
// collectors of version 1 only, so the cost of the version 2 ones shows as
// the difference (processes left out: it dominates and did not change).
func BenchmarkCollect(b *testing.B) {
	for _, bc := range []struct {
		name  string
		names []string
	}{
		{"v1", []string{"cpu", "disk", "filesystem", "host", "memory", "network", "users"}},
		{"v2", []string{"cpu", "disk", "filesystem", "host", "memory", "network", "users", "filefd", "hwmon", "pressure", "time", "vmstat"}},
		{"v2-only", []string{"filefd", "hwmon", "pressure", "time", "vmstat"}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchCollect(b, bc.names) })
	}
}

// benchCollect measures one collection of this host by the named collectors.
func benchCollect(b *testing.B, names []string) {
	set, err := NewSet(DefaultConfig(), names)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := set.Collect(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
