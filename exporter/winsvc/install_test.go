package winsvc

import (
	"errors"
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

func TestAccountSID(t *testing.T) {
	// A stand-in for LookupAccountName on a host called WEB01 in domain
	// CORP, where the service NT SERVICE\prexmon-exporter is registered.
	known := map[string]struct {
		sid string
		typ SIDType
	}{
		`nt authority\local service`:   {"S-1-5-19", SIDTypeWellKnownGroup},
		`nt authority\localservice`:    {"S-1-5-19", SIDTypeWellKnownGroup},
		`nt authority\network service`: {"S-1-5-20", SIDTypeWellKnownGroup},
		`nt service\prexmon-exporter`:  {"S-1-5-80-1-2-3-4-5", SIDTypeWellKnownGroup},
		`corp\prexmon$`:                {"S-1-5-21-1-2-3-1601", SIDTypeUser},
		`web01\monitor`:                {"S-1-5-21-9-9-9-1001", SIDTypeUser},
		`builtin\administrators`:       {"S-1-5-32-544", SIDTypeAlias},
		`corp`:                         {"S-1-5-21-1-2-3", SIDTypeDomain},
		`corp\domain users`:            {"S-1-5-21-1-2-3-513", SIDTypeGroup},
	}
	var asked []string
	lookup := func(name string) (string, SIDType, error) {
		asked = append(asked, name)
		if a, ok := known[strings.ToLower(name)]; ok {
			return a.sid, a.typ, nil
		}
		return "", 0, errors.New("No mapping between account names and security IDs was done.")
	}
	for _, tc := range []struct {
		account string
		want    string // "" for an error
		noAsk   bool   // decided without a lookup
	}{
		{"", "SY", true},
		{"LocalSystem", "SY", true},
		{"localsystem", "SY", true},
		{`NT AUTHORITY\SYSTEM`, "SY", true},
		{`.\LocalSystem`, "SY", true},
		{`NT AUTHORITY\LocalService`, "S-1-5-19", false},
		{`NT AUTHORITY\NETWORK SERVICE`, "S-1-5-20", false},
		// Registered: the lookup's answer.
		{`NT SERVICE\prexmon-exporter`, "S-1-5-80-1-2-3-4-5", false},
		// Not registered yet (a first install) or another service name:
		// derived from the name, as Windows derives it.
		{`NT SERVICE\TrustedInstaller`, "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464", false},
		{`nt service\prexmon-other`, ServiceSID("prexmon-other"), false},
		{`CORP\prexmon$`, "S-1-5-21-1-2-3-1601", false},
		{`.\monitor`, "S-1-5-21-9-9-9-1001", false},
		// Not resolvable, or not an account: refused.
		{`CORP\nobody`, "", false},
		{`.\nobody`, "", false},
		{`NT SERVICE\`, "", false},
		{`NT SERVICE\a\b`, "", false},
		{`BUILTIN\Administrators`, "", false},
		{`CORP`, "", false},
		{`CORP\Domain Users`, "", false},
	} {
		asked = nil
		got, err := AccountSID(tc.account, "WEB01", lookup)
		switch {
		case tc.want == "" && err == nil:
			t.Errorf("AccountSID(%q) = %s, want an error", tc.account, got)
		case tc.want == "" && !strings.Contains(err.Error(), tc.account):
			t.Errorf("AccountSID(%q): error %q does not name the account", tc.account, err)
		case tc.want != "" && (err != nil || got != tc.want):
			t.Errorf("AccountSID(%q) = %q, %v; want %s", tc.account, got, err, tc.want)
		}
		if tc.noAsk != (len(asked) == 0) {
			t.Errorf("AccountSID(%q) looked up %q", tc.account, asked)
		}
		if tc.account == `.\monitor` && (len(asked) != 1 || asked[0] != `WEB01\monitor`) {
			t.Errorf(`.\monitor looked up as %q, want WEB01\monitor`, asked)
		}
	}
}

func TestAccountWarnings(t *testing.T) {
	for _, tc := range []struct {
		account string
		warn    bool
	}{
		{VirtualAccount(Name), false},
		{`nt service\PREXMON-EXPORTER`, false},
		{`NT SERVICE\prexmon-other`, true},
		{"", false},
		{`NT AUTHORITY\LocalService`, false},
		{`CORP\prexmon$`, false},
	} {
		if got := AccountWarnings(Name, tc.account); (len(got) > 0) != tc.warn {
			t.Errorf("AccountWarnings(%q) = %q, want a warning: %v", tc.account, got, tc.warn)
		}
	}
}
