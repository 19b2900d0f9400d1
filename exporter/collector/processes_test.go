package collector

import (
	"fmt"
	"testing"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func TestGroupProcesses(t *testing.T) {
	procs := []snapshot.Process{
		{Name: "java", CPUSeconds: 100, RSSBytes: 1000},
		{Name: "java", CPUSeconds: 50, RSSBytes: 500},
		{Name: "nginx", CPUSeconds: 20, RSSBytes: 10},
		{Name: "other", CPUSeconds: 30, RSSBytes: 1},
		{Name: "sshd", CPUSeconds: 1, RSSBytes: 5},
		{Name: "bash", CPUSeconds: 1, RSSBytes: 7},
	}
	tests := []struct {
		max  int
		want []processGroup
	}{
		{10, []processGroup{{"java", 150, 1500, 2}, {"nginx", 20, 10, 1}, {"bash", 1, 7, 1}, {"sshd", 1, 5, 1}, {"other", 30, 1, 1}}},
		// Three slots: two named groups plus "other"; a process called
		// "other" is folded into the overflow group, not duplicated.
		{3, []processGroup{{"java", 150, 1500, 2}, {"nginx", 20, 10, 1}, {"other", 32, 13, 3}}},
		{1, []processGroup{{"other", 202, 1523, 6}}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.max), func(t *testing.T) {
			got := groupProcesses(procs, tt.max)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("groupProcesses(max=%d) =\n%v\nwant\n%v", tt.max, got, tt.want)
			}
			if len(got) > tt.max {
				t.Fatalf("%d groups exceed the bound %d", len(got), tt.max)
			}
		})
	}
}
