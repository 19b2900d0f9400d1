//go:build unix

package main

import "syscall"

// fileLimit is the process's soft limit on open descriptors (0: unknown).
func fileLimit() uint64 {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	return uint64(r.Cur)
}
