package winsvc

import (
	"crypto/sha1"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"
)

// Name is the service the exporter installs itself as.
const Name = "prexmon-exporter"

// VirtualAccount is the account the service runs as unless told otherwise:
// a virtual service account, which Windows creates with the service and
// which has no password, no logon right and no rights beyond those given to
// it (here: its log folder). LocalSystem can do anything on the machine.
func VirtualAccount(service string) string { return `NT SERVICE\` + service }

// Recovery is what the service manager does when the service fails: restart
// after 5 s, after 10 s, then every 60 s; a day without failure resets the
// count. The manager also acts on a non-zero exit status (port in use, bad
// web config), not only on a crash.
var Recovery = []time.Duration{5 * time.Second, 10 * time.Second, 60 * time.Second}

// RecoveryResetSeconds is the failure-free period after which the failure
// count starts again from the first action.
const RecoveryResetSeconds = 24 * 60 * 60

// ServiceSID is the security identifier Windows gives the service's own
// account, NT SERVICE\<name>: S-1-5-80 followed by the SHA-1 of the service
// name in upper case, UTF-16LE, read as five little-endian 32-bit words.
// Computing it needs no lookup, so the log folder's ACL can name the
// account before the service manager has ever started the service.
func ServiceSID(service string) string {
	u := utf16.Encode([]rune(strings.ToUpper(service)))
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], c)
	}
	sum := sha1.Sum(b)
	sid := "S-1-5-80"
	for i := 0; i < 5; i++ {
		sid += fmt.Sprintf("-%d", binary.LittleEndian.Uint32(sum[4*i:]))
	}
	return sid
}

// SIDType is the kind of account a name resolved to (SID_NAME_USE).
type SIDType uint32

// The SID_NAME_USE values (winnt.h).
const (
	SIDTypeUser SIDType = 1 + iota
	SIDTypeGroup
	SIDTypeDomain
	SIDTypeAlias
	SIDTypeWellKnownGroup
	SIDTypeDeletedAccount
	SIDTypeInvalid
	SIDTypeUnknown
	SIDTypeComputer
	SIDTypeLabel
	SIDTypeLogonSession
)

// LookupFunc resolves an account name to its SID in string form and its
// type, as LookupAccountName does.
type LookupFunc func(account string) (sid string, typ SIDType, err error)

// AccountSID is the SID the log folder's ACL grants to the account the
// service runs as:
//
//   - LocalSystem (account "", "LocalSystem" or NT AUTHORITY\SYSTEM): SY,
//     without a lookup;
//   - any other account, e.g. NT AUTHORITY\LocalService, a domain's group
//     managed service account DOMAIN\prexmon$, or .\name for a local one
//     (the service manager's spelling, sent to lookup as computer\name):
//     what lookup answers, which must be an account (a user, a well-known
//     account or a computer), not a group or a domain;
//   - NT SERVICE\name, a virtual account, when lookup cannot resolve it:
//     ServiceSID(name). Windows resolves a virtual account only once its
//     service is registered, and the SID is derived from the name by a
//     fixed rule, so it is known before.
//
// An account lookup cannot resolve is an error: a folder the service
// cannot write to, or one granted to someone else, is worse than no
// install.
func AccountSID(account, computer string, lookup LookupFunc) (string, error) {
	if isLocalSystem(account) {
		return "SY", nil
	}
	name := account
	if rest, ok := strings.CutPrefix(account, `.\`); ok && computer != "" {
		name = computer + `\` + rest
	}
	sid, typ, err := lookup(name)
	if err == nil {
		switch typ {
		case SIDTypeUser, SIDTypeWellKnownGroup, SIDTypeComputer:
			return sid, nil
		}
		return "", fmt.Errorf(`service account "%s" is %s, not an account a service can run as`, account, typ)
	}
	if svc, ok := VirtualAccountService(account); ok {
		return ServiceSID(svc), nil
	}
	return "", fmt.Errorf(`service account "%s": cannot resolve its SID for the log folder's ACL: %w`, account, err)
}

// VirtualAccountService is the service whose virtual account account names
// (NT SERVICE\name, any case), if it names one.
func VirtualAccountService(account string) (string, bool) {
	domain, name, ok := strings.Cut(account, `\`)
	if !ok || !strings.EqualFold(domain, "NT SERVICE") || name == "" || strings.Contains(name, `\`) {
		return "", false
	}
	return name, true
}

// isLocalSystem reports whether account names LocalSystem, which the
// service manager accepts as "" (its default), LocalSystem or
// NT AUTHORITY\SYSTEM.
func isLocalSystem(account string) bool {
	for _, s := range []string{"", "LocalSystem", `.\LocalSystem`, `NT AUTHORITY\SYSTEM`} {
		if strings.EqualFold(account, s) {
			return true
		}
	}
	return false
}

// AccountWarnings are the problems with account the install can go ahead
// with: Windows runs a service as its own virtual account only, so
// NT SERVICE\other for service name will not start.
func AccountWarnings(service, account string) []string {
	if svc, ok := VirtualAccountService(account); ok && !strings.EqualFold(svc, service) {
		return []string{fmt.Sprintf("%s is the virtual account of a service named %s; Windows starts service %s only as its own, %s",
			account, svc, service, VirtualAccount(service))}
	}
	return nil
}

var sidTypeNames = map[SIDType]string{
	SIDTypeUser: "a user", SIDTypeGroup: "a group", SIDTypeDomain: "a domain", SIDTypeAlias: "a local group",
	SIDTypeWellKnownGroup: "a well-known account", SIDTypeDeletedAccount: "a deleted account", SIDTypeInvalid: "invalid",
	SIDTypeUnknown: "of unknown type", SIDTypeComputer: "a computer", SIDTypeLabel: "an integrity label",
	SIDTypeLogonSession: "a logon session",
}

func (t SIDType) String() string {
	if n, ok := sidTypeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("of SID type %d", uint32(t))
}

// LogDirSDDL is the security descriptor of the service's log folder:
// protected (nothing inherited from %ProgramData%, whose ACL lets every
// user create files), full control for SYSTEM and Administrators, and
// modify (read, write, delete, no change of permissions or owner) for the
// service account sid, inherited by the files in it. Ordinary users get
// nothing, so they can neither read the log nor plant files in the folder.
func LogDirSDDL(serviceSID string) string {
	const modify = "0x1301bf" // FILE_GENERIC_READ|WRITE|EXECUTE | DELETE
	ace := func(rights, sid string) string { return "(A;OICI;" + rights + ";;;" + sid + ")" }
	return "O:BAG:SYD:P" + ace("FA", "SY") + ace("FA", "BA") + ace(modify, serviceSID)
}
