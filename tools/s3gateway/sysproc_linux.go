package s3gateway

import "syscall"

// childAttr kills the gateway when the process that started it dies, so a
// killed test or load run leaves no server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
