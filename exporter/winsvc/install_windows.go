package winsvc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc"
	"golang.org/x/sys/windows/svc/mgr"
)

// InstallOptions says how to register the service.
type InstallOptions struct {
	Name    string   // service name, e.g. prexmon-exporter
	Display string   // display name, unique among services
	Exe     string   // absolute path of the executable
	Args    []string // the exporter's flags
	Account string   // VirtualAccount(Name) or another account without password, or LocalSystem when empty
	LogDir  string   // created and locked down for the account (AccountSID)
}

// Install registers the service through the service control manager, or,
// when it exists, brings its configuration up to date (an upgrade): start
// at boot, the account, the recovery actions, and the log folder with its
// ACL. It does not start the service. The warnings name settings this
// Windows does not support and that were left out, and an account the
// service is unlikely to start as (AccountWarnings).
func Install(o InstallOptions) (warnings []string, err error) {
	// The log folder's ACL names the account: resolve it before
	// registering anything, so an account that does not exist leaves no
	// half-installed service behind.
	var sid string
	if o.LogDir != "" {
		if sid, err = LookupAccountSID(o.Account); err != nil {
			return nil, err
		}
	}
	warnings = AccountWarnings(o.Name, o.Account)
	m, err := mgr.Connect()
	if err != nil {
		return nil, fmt.Errorf("connect to the service control manager (run as administrator): %w", err)
	}
	defer m.Disconnect()
	cfg := mgr.Config{
		DisplayName:      o.Display,
		Description:      "Host metrics for Prometheus and JSON snapshots for the prexmon archiver.",
		StartType:        mgr.StartAutomatic,
		ErrorControl:     mgr.ErrorNormal,
		ServiceStartName: o.Account,
	}
	// A virtual account's user SID is the service SID (ServiceSID), which
	// AccountSID gives for the log folder's ACL; no service SID type needs
	// setting.
	s, err := m.OpenService(o.Name)
	if err == nil {
		defer s.Close()
		// ChangeServiceConfig, not mgr.Service.UpdateConfig: that also
		// sets the SID type and delayed start, which Wine 8 refuses.
		if err := windows.ChangeServiceConfig(s.Handle, windows.SERVICE_WIN32_OWN_PROCESS, cfg.StartType, cfg.ErrorControl,
			wstr(commandLine(o.Exe, o.Args)), nil, nil, nil, wstr(accountName(o.Account)), nil, wstr(cfg.DisplayName)); err != nil {
			return nil, fmt.Errorf("update %s: %w", o.Name, err)
		}
	} else {
		s, err = m.CreateService(o.Name, o.Exe, cfg, o.Args...)
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", o.Name, err)
		}
		defer s.Close()
	}
	actions := make([]mgr.RecoveryAction, len(Recovery))
	for i, d := range Recovery {
		actions[i] = mgr.RecoveryAction{Type: mgr.ServiceRestart, Delay: d}
	}
	if err := s.SetRecoveryActions(actions, RecoveryResetSeconds); err != nil {
		return nil, fmt.Errorf("set the recovery actions of %s: %w", o.Name, err)
	}
	// Windows Vista and later have the flag; Wine 8 answers
	// ERROR_INVALID_LEVEL, and a crash still triggers the restarts there.
	if err := s.SetRecoveryActionsOnNonCrashFailures(true); errors.Is(err, windows.ERROR_INVALID_LEVEL) {
		warnings = append(warnings, "this service manager cannot restart the service after a non-zero exit status, only after a crash")
	} else if err != nil {
		return nil, fmt.Errorf("set recovery on non-crash failures of %s: %w", o.Name, err)
	}
	if o.LogDir != "" {
		if err := LockDownDir(o.LogDir, LogDirSDDL(sid)); err != nil {
			return nil, err
		}
	}
	return warnings, nil
}

// LookupAccountSID is AccountSID with the system's LookupAccountName, on
// this computer.
func LookupAccountSID(account string) (string, error) {
	computer, _ := windows.ComputerName()
	return AccountSID(account, computer, lookupAccount)
}

// lookupAccount asks the local security authority, which also asks the
// domain controller for a domain account.
func lookupAccount(name string) (string, SIDType, error) {
	sid, _, typ, err := windows.LookupSID("", name)
	if err != nil {
		return "", 0, err
	}
	return sid.String(), SIDType(typ), nil
}

func wstr(s string) *uint16 {
	p, _ := windows.UTF16PtrFromString(s)
	return p
}

// accountName is how the service manager names LocalSystem.
func accountName(account string) string {
	if account == "" {
		return "LocalSystem"
	}
	return account
}

// commandLine quotes the executable and arguments as CreateService does.
func commandLine(exe string, args []string) string {
	s := windows.EscapeArg(exe)
	for _, a := range args {
		s += " " + windows.EscapeArg(a)
	}
	return s
}

// LockDownDir creates dir if needed and replaces its DACL with the one of
// sddl, protected from inheritance, on the folder and on the files already
// in it (a log written before the folder was locked down); new files
// inherit it.
func LockDownDir(dir, sddl string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create the log folder: %w", err)
	}
	sd, err := windows.SecurityDescriptorFromString(sddl)
	if err != nil {
		return fmt.Errorf("parse %s: %w", sddl, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("DACL of %s: %w", sddl, err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		return fmt.Errorf("set the ACL of %s: %w", dir, err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if err := windows.SetNamedSecurityInfo(p, windows.SE_FILE_OBJECT,
			windows.DACL_SECURITY_INFORMATION|windows.PROTECTED_DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
			return fmt.Errorf("set the ACL of %s: %w", p, err)
		}
	}
	return nil
}

// Uninstall stops the service if it runs, waiting up to timeout for it to
// stop, and deletes it. The log folder stays.
func Uninstall(name string, timeout time.Duration) error {
	m, err := mgr.Connect()
	if err != nil {
		return fmt.Errorf("connect to the service control manager (run as administrator): %w", err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer s.Close()
	st, err := s.Query()
	if err != nil {
		return fmt.Errorf("query %s: %w", name, err)
	}
	if st.State != svc.Stopped {
		if _, err := s.Control(svc.Stop); err != nil && !errors.Is(err, windows.ERROR_SERVICE_NOT_ACTIVE) {
			return fmt.Errorf("stop %s: %w", name, err)
		}
		deadline := time.Now().Add(timeout)
		for {
			st, err = s.Query()
			if err != nil {
				return fmt.Errorf("query %s: %w", name, err)
			}
			if st.State == svc.Stopped {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s did not stop within %v", name, timeout)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if err := s.Delete(); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}
