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
