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

	"github.com/alecthomas/kingpin/v2"
	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"

	"github.com/prexmon/prexmon/exporter/winsvc"
)

// serviceName is the name `exporter service install` registers; the
// service manager only checks it for services sharing a process, which this
// is not.
const serviceName = winsvc.Name

// logMaxBytes bounds each of exporter.log and exporter.log.1.
const logMaxBytes = 10 << 20

func init() {
	serviceCommand = runServiceCommand
	if !runningAsService() {
		return
	}
	s := winsvc.New()
	dir := logDir()
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
// services.exe in session 0. Only under Wine, which runs services.exe in
// session 1, does a child of services.exe count too: that lets the Wine
// test exercise the service path, while on Windows the answer is the one
// the service manager's own rules give.
func runningAsService() bool {
	if ok, err := svc.IsWindowsService(); err != nil || ok {
		return ok
	}
	if !underWine() {
		return false
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

// underWine reports whether ntdll is Wine's, which exports wine_get_version.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// programData is where services keep data (%ProgramData%, C:\ProgramData).
func programData() string {
	if d := os.Getenv("ProgramData"); d != "" {
		return d
	}
	return `C:\ProgramData`
}

// logDir is the service's log folder, which `service install` locks down.
func logDir() string { return filepath.Join(programData(), "prexmon") }

// runServiceCommand is `exporter service install|uninstall`: the exporter
// registers and removes itself through the service control manager.
func runServiceCommand(args []string) int {
	app := kingpin.New("exporter service", "Install or remove the exporter as a Windows service (run as administrator).")
	app.HelpFlag.Short('h')
	install := app.Command("install", "Register the exporter as a service starting at boot, restarted on failure, or update an existing registration; the flags after -- are the exporter's. Does not start it (sc.exe start "+serviceName+").")
	account := install.Flag("account", `Account the service runs as: a virtual account `+"`"+winsvc.VirtualAccount(serviceName)+"`"+` (default; reads the owner and command line of its own processes only), LocalSystem (every process's owner and command line, and full control of the machine), or another account without password (NT AUTHORITY\LocalService, a group managed service account DOMAIN\name$). The log folder is granted to the account's SID, looked up by name; an account that cannot be resolved is refused.`).
		Default(winsvc.VirtualAccount(serviceName)).String()
	exporterArgs := install.Arg("exporter-flags", "Flags the service starts the exporter with, after --, e.g. -- --web.listen-address=:9182").Strings()
	uninstall := app.Command("uninstall", "Stop the service if it runs and remove it; the log folder stays.")
	timeout := uninstall.Flag("timeout", "How long to wait for the service to stop.").Default("30s").Duration()

	cmd, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "exporter service: %v (try --help)\n", err)
		return 2
	}
	switch cmd {
	case install.FullCommand():
		exe, err := os.Executable()
		if err != nil {
			fmt.Fprintf(os.Stderr, "exporter service install: %v\n", err)
			return 1
		}
		// The service runs this file: whoever can replace it runs code as
		// the service account.
		if pf := os.Getenv("ProgramFiles"); pf == "" || !strings.HasPrefix(strings.ToLower(exe), strings.ToLower(pf)+`\`) {
			fmt.Fprintf(os.Stderr, "exporter service install: warning: %s is not under %%ProgramFiles%%; anyone who can write to its folder can run code as the service\n", exe)
		}
		acct := *account
		if strings.EqualFold(acct, "LocalSystem") {
			acct = ""
		}
		// Refuse flags the exporter would refuse, before registering a
		// service that can only fail.
		if _, err := parseFlags(*exporterArgs); err != nil {
			fmt.Fprintf(os.Stderr, "exporter service install: exporter flags: %v\n", err)
			return 2
		}
		o := winsvc.InstallOptions{Name: serviceName, Display: "prexmon exporter", Exe: exe, Args: *exporterArgs, Account: acct, LogDir: logDir()}
		warnings, err := winsvc.Install(o)
		for _, w := range warnings {
			fmt.Fprintf(os.Stderr, "exporter service install: warning: %s\n", w)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "exporter service install: %v\n", err)
			return 1
		}
		fmt.Printf("installed service %s (%s, account %s, log folder %s); start it with: sc.exe start %s\n",
			serviceName, exe, *account, o.LogDir, serviceName)
	case uninstall.FullCommand():
		if err := winsvc.Uninstall(serviceName, *timeout); err != nil {
			fmt.Fprintf(os.Stderr, "exporter service uninstall: %v\n", err)
			return 1
		}
		fmt.Printf("removed service %s; logs remain in %s\n", serviceName, logDir())
	default:
		fmt.Fprintf(os.Stderr, "exporter service: want install or uninstall (try --help)\n")
		return 2
	}
	return 0
}
