package winsvc

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
	"golang.org/x/sys/windows/svc/mgr"
)

// TestInstallUninstall registers a service through the service control
// manager, reads its configuration back from the manager, checks the log
// folder's ACL, and removes it. It changes the machine's services, so it
// runs only when PREXMON_SERVICE_TEST=1 (the Wine test sets it in its
// throwaway prefix).
func TestInstallUninstall(t *testing.T) {
	if os.Getenv("PREXMON_SERVICE_TEST") != "1" {
		t.Skip("changes the machine's services; set PREXMON_SERVICE_TEST=1 to run")
	}
	wine := underWine()
	name := fmt.Sprintf("prexmon-test-%d", os.Getpid())
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// Not t.TempDir: Wine cannot delete a file whose ACL was set, and the
	// prefix is thrown away anyway.
	base, err := os.MkdirTemp("", "prexmon-service-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(base) })
	dir := filepath.Join(base, "logs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "exporter.log"), []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := InstallOptions{Name: name, Display: name, Exe: exe, Args: []string{"--web.listen-address=:9182", `--web.config.file=C:\Program Files\prexmon\web.yml`}, Account: VirtualAccount(name), LogDir: dir}
	warnings, err := Install(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("warnings: %q", warnings)
	t.Cleanup(func() { _ = Uninstall(name, 10*time.Second) })

	// A second install is an upgrade: it updates the registration.
	o.Args = []string{"--web.listen-address=:9183"}
	if _, err := Install(o); err != nil {
		t.Fatalf("second install: %v", err)
	}

	m, err := mgr.Connect()
	if err != nil {
		t.Fatal(err)
	}
	defer m.Disconnect()
	s, err := m.OpenService(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := queryConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.StartType != mgr.StartAutomatic {
		t.Errorf("start type %d, want automatic (%d)", cfg.StartType, mgr.StartAutomatic)
	}
	if cfg.ServiceStartName != VirtualAccount(name) {
		t.Errorf("account %q, want %q", cfg.ServiceStartName, VirtualAccount(name))
	}
	if want := commandLine(exe, o.Args); cfg.BinaryPathName != want {
		t.Errorf("command line %q, want %q", cfg.BinaryPathName, want)
	}
	actions, err := s.RecoveryActions()
	switch {
	case wine && err != nil:
		// Wine 8 accepts the failure actions but keeps none and cannot
		// report them (ERROR_INVALID_LEVEL).
		t.Logf("recovery actions not checked under Wine: %v", err)
	case err != nil:
		t.Errorf("recovery actions: %v", err)
	default:
		if len(actions) != len(Recovery) {
			t.Errorf("recovery actions %+v, want %d restarts", actions, len(Recovery))
		}
		for i, a := range actions {
			if a.Type != mgr.ServiceRestart || i < len(Recovery) && a.Delay != Recovery[i] {
				t.Errorf("recovery action %d: %+v, want a restart after %v", i, a, Recovery[i])
			}
		}
	}
	s.Close()

	if wine {
		// Wine accepts SetNamedSecurityInfo but keeps no ACL on files: it
		// reports one made from the Unix permissions.
		t.Logf("log folder ACL not checked under Wine")
	} else {
		checkACL(t, dir, ServiceSID(name))
		checkACL(t, filepath.Join(dir, "exporter.log"), ServiceSID(name))
	}

	if err := Uninstall(name, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if s, err := m.OpenService(name); err == nil {
		s.Close()
		t.Error("the service still exists after Uninstall")
	} else if !errors.Is(err, windows.ERROR_SERVICE_DOES_NOT_EXIST) {
		t.Errorf("open after uninstall: %v, want ERROR_SERVICE_DOES_NOT_EXIST", err)
	}
	if err := Uninstall(name, time.Second); err == nil {
		t.Error("uninstalling a service that does not exist succeeded")
	}
}

// checkACL reads path's DACL back: only SYSTEM, Administrators and the
// service get access; the folder's DACL is protected.
func checkACL(t *testing.T, path, sid string) {
	t.Helper()
	sd, err := windows.GetNamedSecurityInfo(path, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatalf("read the ACL of %s: %v", path, err)
	}
	sddl := sd.String()
	t.Logf("%s: %s", path, sddl)
	if !strings.Contains(sddl, sid) {
		t.Errorf("%s: the service account %s has no access: %s", path, sid, sddl)
	}
	for _, who := range []string{";BU)", ";AU)", ";WD)", ";CO)"} {
		if strings.Contains(sddl, who) {
			t.Errorf("%s: ordinary users get access (%s): %s", path, who, sddl)
		}
	}
}

// queryConfig is the service's main configuration (QueryServiceConfig).
// mgr.Service.Config also asks for the description and other optional
// settings, which Wine 8 does not answer.
func queryConfig(s *mgr.Service) (mgr.Config, error) {
	var p *windows.QUERY_SERVICE_CONFIG
	n := uint32(1024)
	for {
		b := make([]byte, n)
		p = (*windows.QUERY_SERVICE_CONFIG)(unsafe.Pointer(&b[0]))
		err := windows.QueryServiceConfig(s.Handle, p, n, &n)
		if err == nil {
			break
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) {
			return mgr.Config{}, err
		}
	}
	return mgr.Config{
		ServiceType:      p.ServiceType,
		StartType:        p.StartType,
		BinaryPathName:   windows.UTF16PtrToString(p.BinaryPathName),
		ServiceStartName: windows.UTF16PtrToString(p.ServiceStartName),
	}, nil
}

// underWine reports whether Wine runs the test: its ntdll exports
// wine_get_version.
func underWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

// TestLookupAccountSID resolves accounts with the system's
// LookupAccountName, as Install does for the log folder's ACL. It changes
// nothing, so it runs everywhere (and under Wine in the e2e test).
func TestLookupAccountSID(t *testing.T) {
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	_, short, _ := strings.Cut(me.Username, `\`)
	for _, tc := range []struct {
		account, want string // want "" for an error
	}{
		{"LocalSystem", "SY"},
		{`NT AUTHORITY\LOCAL SERVICE`, "S-1-5-19"},
		{`NT AUTHORITY\NETWORK SERVICE`, "S-1-5-20"},
		{me.Username, me.Uid},
		{`.\` + short, me.Uid},
		// A virtual account of a service that does not exist: the SID
		// Windows would give it.
		{`NT SERVICE\prexmon-not-registered`, ServiceSID("prexmon-not-registered")},
		{`PREXMON-NO-SUCH-DOMAIN\nobody`, ""},
		{`.\prexmon-no-such-user`, ""},
	} {
		got, err := LookupAccountSID(tc.account)
		t.Logf("%s: %s, %v", tc.account, got, err)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("LookupAccountSID(%q) = %s, want an error", tc.account, got)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("LookupAccountSID(%q) = %q, %v; want %s", tc.account, got, err, tc.want)
		}
	}
	if got, err := LookupAccountSID(`BUILTIN\Administrators`); err == nil {
		t.Errorf(`BUILTIN\Administrators, a group, accepted as the service account (%s)`, got)
	}
}
