package collector

import (
	"context"
	"fmt"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/windows"
)

// On Windows the filefd collector reports handles, the counterpart of
// file descriptors, of every process together; there is no system limit
// to report beside it.
func init() { registerCollector("filefd", true, newHandlesCollector) }

var processHandlesDesc = prometheus.NewDesc("host_process_handles", "Handles open in all processes (Windows; Linux has host_filefd_allocated).", nil, nil)

var procGetPerformanceInfo = windows.NewLazySystemDLL("psapi.dll").NewProc("GetPerformanceInfo")

// performanceInformation is PERFORMANCE_INFORMATION (psapi.h).
type performanceInformation struct {
	cb                uint32
	commitTotal       uintptr
	commitLimit       uintptr
	commitPeak        uintptr
	physicalTotal     uintptr
	physicalAvailable uintptr
	systemCache       uintptr
	kernelTotal       uintptr
	kernelPaged       uintptr
	kernelNonpaged    uintptr
	pageSize          uintptr
	handleCount       uint32
	processCount      uint32
	threadCount       uint32
}

type handlesCollector struct{}

func newHandlesCollector(Config) (Collector, error) { return handlesCollector{}, nil }

// Update asks GetPerformanceInfo, one call that sums the handle counts
// the kernel keeps, rather than walking the process table again.
func (handlesCollector) Update(context.Context) (Result, error) {
	pi := performanceInformation{cb: uint32(unsafe.Sizeof(performanceInformation{}))}
	if ok, _, err := procGetPerformanceInfo.Call(uintptr(unsafe.Pointer(&pi)), uintptr(pi.cb)); ok == 0 {
		return nil, fmt.Errorf("GetPerformanceInfo: %w", err)
	}
	return metricList{prometheus.MustNewConstMetric(processHandlesDesc, prometheus.GaugeValue, float64(pi.handleCount))}, nil
}
