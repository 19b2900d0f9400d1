package main

// This file is named to initialise first (Go runs a package's files' init
// functions in file name order, as windows_exporter relies on): under the
// service control manager it answers the manager before flag parsing,
// collector set-up or anything else slow can make the start time out.

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"

	"github.com/prexmon/prexmon/exporter/winsvc"
)

// serviceName is the name deploy/windows/install.ps1 registers; the service
// manager only checks it for services sharing a process, which this is not.
const serviceName = "prexmon-exporter"

// logMaxBytes bounds each of exporter.log and exporter.log.1.
const logMaxBytes = 10 << 20

func init() {
	if !runningAsService() {
		return
	}
	s := winsvc.New()
	dir := filepath.Join(programData(), "prexmon")
	if l, err := winsvc.OpenLogFile(filepath.Join(dir, "exporter.log"), logMaxBytes); err == nil {
		logWriter = l
	}
	// A Go crash (fatal error, unrecovered panic) writes to stderr, which a
	// service does not have; keep a copy where an administrator will look.
	if f, err := os.OpenFile(filepath.Join(dir, "exporter-crash.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
		_ = debug.SetCrashOutput(f, debug.CrashOptions{})
		f.Close()
	}

	serviceActor = s.Actor
	finished := make(chan struct{})
	onExit = func(code int) {
		fmt.Fprintf(logWriter, "exporter: service stopping with exit status %d\n", code)
		s.Exit(code)
		// Let the handler report Stopped before the process ends, or the
		// manager records an unexpected termination.
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
		}
	}
	go func() {
		defer close(finished)
		if err := svc.Run(serviceName, handler{s}); err != nil {
			fmt.Fprintf(logWriter, "exporter: service control manager: %v\n", err)
		}
	}()
}

// handler adapts winsvc.Service to x/sys/windows/svc.
type handler struct{ s *winsvc.Service }

func (h handler) Execute(_ []string, requests <-chan svc.ChangeRequest, status chan<- svc.Status) (bool, uint32) {
	cmds := make(chan winsvc.Command)
	done := make(chan struct{})
	defer close(done)
	go func() {
		for {
			var c winsvc.Command
			select {
			case r := <-requests:
				switch r.Cmd {
				case svc.Interrogate:
					c = winsvc.Interrogate
				case svc.Stop:
					fmt.Fprintf(logWriter, "exporter: stop requested by the service control manager\n")
					c = winsvc.Stop
				case svc.Shutdown:
					fmt.Fprintf(logWriter, "exporter: system shutdown\n")
					c = winsvc.Shutdown
				default:
					continue
				}
			case <-done:
				return
			}
			select {
			case cmds <- c:
			case <-done:
				return
			}
		}
	}()
	code := h.s.Run(cmds, func(st winsvc.State) { status <- svcStatus(st) })
	return code != 0, uint32(code)
}

// svcStatus says which controls each state accepts: only a running
// service can be stopped; a stopping one asks for time to finish scrapes.
func svcStatus(st winsvc.State) svc.Status {
	switch st {
	case winsvc.Running:
		return svc.Status{State: svc.Running, Accepts: svc.AcceptStop | svc.AcceptShutdown}
	case winsvc.StopPending:
		return svc.Status{State: svc.StopPending, WaitHint: 10000}
	case winsvc.Stopped:
		return svc.Status{State: svc.Stopped}
	default:
		return svc.Status{State: svc.StartPending, WaitHint: 10000}
	}
}

// runningAsService asks x/sys/windows/svc, which requires the parent to be
// services.exe in session 0. Wine runs services.exe in session 1, so a
// child of services.exe counts too: that lets the Wine test exercise the
// service path, and no interactive program has services.exe as parent.
func runningAsService() bool {
	if ok, err := svc.IsWindowsService(); err == nil && ok {
		return true
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(os.Getppid()))
	if err != nil {
		return false
	}
	defer windows.CloseHandle(h)
	buf := make([]uint16, windows.MAX_PATH+1)
	n := uint32(len(buf))
	if err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n); err != nil {
		return false
	}
	return strings.EqualFold(filepath.Base(windows.UTF16ToString(buf[:n])), "services.exe")
}

// programData is where services keep data (%ProgramData%, C:\ProgramData).
func programData() string {
	if d := os.Getenv("ProgramData"); d != "" {
		return d
	}
	return `C:\ProgramData`
}
