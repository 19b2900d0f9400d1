//go:build !linux

package store

// processCPU is not measured outside Linux; benchmarks then report 0.
func processCPU() float64 { return 0 }
