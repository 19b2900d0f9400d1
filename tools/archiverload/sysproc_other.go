//go:build !linux

package main

import "syscall"

// childAttr has nothing to add where there is no parent-death signal; the
// tool measures through /proc and is meant for Linux.
func childAttr() *syscall.SysProcAttr { return nil }
