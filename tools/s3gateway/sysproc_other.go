//go:build !linux

package s3gateway

import "syscall"

func childAttr() *syscall.SysProcAttr { return nil }
