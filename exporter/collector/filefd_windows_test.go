package collector

import (
	"context"
	"testing"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestPerformanceInformationLayout(t *testing.T) {
	// PERFORMANCE_INFORMATION is 104 bytes on 64-bit Windows, 56 on 32-bit.
	want := uintptr(56)
	if unsafe.Sizeof(uintptr(0)) == 8 {
		want = 104
	}
	if got := unsafe.Sizeof(performanceInformation{}); got != want {
		t.Fatalf("sizeof(PERFORMANCE_INFORMATION) = %d, want %d", got, want)
	}
}

func TestProcessHandles(t *testing.T) {
	res, err := handlesCollector{}.Update(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	coll := &Collection{Results: []Result{res}}
	if n := testutil.CollectAndCount(coll, "host_process_handles"); n != 1 {
		t.Fatalf("%d host_process_handles series, want 1", n)
	}
	// This test process alone holds handles.
	if v := testutil.ToFloat64(coll); v < 1 {
		t.Fatalf("host_process_handles = %v, want at least 1", v)
	}
}
