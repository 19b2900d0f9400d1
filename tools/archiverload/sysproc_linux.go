package main

import "syscall"

// childAttr makes the kernel kill the archiver if the load tool dies
// without cleaning up (kill -9), so no archiver outlives a run.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
