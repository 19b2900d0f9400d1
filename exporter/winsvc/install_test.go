package winsvc

import (
	"strings"
	"testing"
)

func TestServiceSID(t *testing.T) {
	// Well-known per-service SIDs, as Windows reports them (sc showsid).
	for name, want := range map[string]string{
		"TrustedInstaller": "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464",
		"trustedinstaller": "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464",
	} {
		if got := ServiceSID(name); got != want {
			t.Errorf("ServiceSID(%q) = %s, want %s", name, got, want)
		}
	}
}

func TestLogDirSDDL(t *testing.T) {
	sid := ServiceSID(Name)
	got := LogDirSDDL(sid)
	for _, want := range []string{"D:P", "(A;OICI;FA;;;SY)", "(A;OICI;FA;;;BA)", "(A;OICI;0x1301bf;;;" + sid + ")"} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}
	// No ACE for Users (BU), Authenticated Users (AU), Everyone (WD) or
	// CREATOR OWNER (CO): ordinary users must not write there.
	for _, who := range []string{";BU)", ";AU)", ";WD)", ";CO)"} {
		if strings.Contains(got, who) {
			t.Errorf("%s grants %s", got, who)
		}
	}
}
