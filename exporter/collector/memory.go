package collector

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func init() { registerCollector("memory", true, newMemoryCollector) }

var (
	memTotalDesc     = prometheus.NewDesc("host_memory_total_bytes", "Physical memory size.", nil, nil)
	memAvailableDesc = prometheus.NewDesc("host_memory_available_bytes", "Memory available to new work without swapping (MemAvailable on Linux, available physical memory on Windows).", nil, nil)
	memUsedDesc      = prometheus.NewDesc("host_memory_used_bytes", "Memory in use: total minus available, computed the same way on every OS.", nil, nil)
	swapTotalDesc    = prometheus.NewDesc("host_swap_total_bytes", "Swap size (page file on Windows).", nil, nil)
	swapUsedDesc     = prometheus.NewDesc("host_swap_used_bytes", "Swap in use (page file on Windows).", nil, nil)
)

type memoryCollector struct{}

func newMemoryCollector(Config) (Collector, error) { return memoryCollector{}, nil }

type memoryResult struct {
	section snapshot.Memory
	hasSwap bool
}

func (memoryCollector) Update(ctx context.Context) (Result, error) {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("virtual memory: %w", err)
	}
	r := &memoryResult{section: snapshot.Memory{
		TotalBytes:     vm.Total,
		AvailableBytes: vm.Available,
	}}
	if vm.Total >= vm.Available {
		r.section.UsedBytes = vm.Total - vm.Available
	}
	r.section.UsedPercent = percent(float64(r.section.UsedBytes), float64(vm.Total))
	total, used, err := swapUsage(ctx, vm)
	if err != nil {
		return nil, fmt.Errorf("swap: %w", err)
	}
	r.hasSwap = true
	r.section.SwapTotalBytes, r.section.SwapUsedBytes = total, used
	return r, nil
}

func (r *memoryResult) Fill(s *snapshot.Snapshot) {
	sec := r.section
	s.Memory = &sec
}

func (r *memoryResult) Emit(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(memTotalDesc, prometheus.GaugeValue, float64(r.section.TotalBytes))
	ch <- prometheus.MustNewConstMetric(memAvailableDesc, prometheus.GaugeValue, float64(r.section.AvailableBytes))
	ch <- prometheus.MustNewConstMetric(memUsedDesc, prometheus.GaugeValue, float64(r.section.UsedBytes))
	if r.hasSwap {
		ch <- prometheus.MustNewConstMetric(swapTotalDesc, prometheus.GaugeValue, float64(r.section.SwapTotalBytes))
		ch <- prometheus.MustNewConstMetric(swapUsedDesc, prometheus.GaugeValue, float64(r.section.SwapUsedBytes))
	}
}
