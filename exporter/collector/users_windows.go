package collector

import (
	"context"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// WTS_INFO_CLASS values (wtsapi32.h) this reader asks for.
const (
	wtsUserName      = 5
	wtsDomainName    = 7
	wtsClientName    = 10
	wtsClientAddress = 14
	wtsSessionInfo   = 24
)

// procWTSQuerySessionInformation is not wrapped by x/sys/windows.
var procWTSQuerySessionInformation = windows.NewLazySystemDLL("wtsapi32.dll").NewProc("WTSQuerySessionInformationW")

// wtsReader lists logged-in sessions of the local host through the WTS API:
// one WTSEnumerateSessions, then per session WTSSessionInfo (user, domain,
// logon time) and, for remote sessions, the client's name and address.
type wtsReader struct{}

func newSessionReader(Config) sessionReader { return wtsReader{} }

func (wtsReader) Sessions(ctx context.Context) ([]snapshot.User, error) {
	var (
		list  *windows.WTS_SESSION_INFO
		count uint32
	)
	if err := windows.WTSEnumerateSessions(0, 0, 1, &list, &count); err != nil {
		return nil, fmt.Errorf("WTSEnumerateSessions: %w", err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(list)))
	sessions := unsafe.Slice(list, count)
	users := make([]snapshot.User, 0, len(sessions))
	for _, s := range sessions {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		info, err := querySessionInfo(s)
		if err != nil {
			continue // the session ended while we looked at it
		}
		if info.User == "" {
			continue
		}
		var name, addr string
		if info.SessionID != 0 && info.WinStation != "Console" {
			name, _ = queryString(s.SessionID, wtsClientName)
			if b, err := querySession(s.SessionID, wtsClientAddress); err == nil {
				addr = parseWTSClientAddress(b)
			}
		}
		if u, ok := wtsSession(info, name, addr); ok {
			users = append(users, u)
		}
	}
	return users, nil
}

// querySessionInfo reads WTSINFOW; where it is unavailable (Wine, stripped
// down images) it falls back to the user and domain queries, leaving the
// logon time unknown.
func querySessionInfo(s windows.WTS_SESSION_INFO) (wtsInfo, error) {
	if b, err := querySession(s.SessionID, wtsSessionInfo); err == nil {
		if info, err := parseWTSInfo(b); err == nil {
			if info.WinStation == "" {
				info.WinStation = windows.UTF16PtrToString(s.WindowStationName)
			}
			return info, nil
		}
	}
	user, err := queryString(s.SessionID, wtsUserName)
	if err != nil {
		return wtsInfo{}, err
	}
	domain, _ := queryString(s.SessionID, wtsDomainName)
	return wtsInfo{
		State:      s.State,
		SessionID:  s.SessionID,
		WinStation: windows.UTF16PtrToString(s.WindowStationName),
		Domain:     domain,
		User:       user,
	}, nil
}

// querySession returns a copy of one WTSQuerySessionInformationW answer.
func querySession(session uint32, class uint32) ([]byte, error) {
	if err := procWTSQuerySessionInformation.Find(); err != nil {
		return nil, err
	}
	var (
		buf *byte
		n   uint32
	)
	r, _, err := procWTSQuerySessionInformation.Call(0, uintptr(session), uintptr(class),
		uintptr(unsafe.Pointer(&buf)), uintptr(unsafe.Pointer(&n)))
	if r == 0 {
		return nil, fmt.Errorf("WTSQuerySessionInformation(%d, %d): %w", session, class, err)
	}
	defer windows.WTSFreeMemory(uintptr(unsafe.Pointer(buf)))
	if buf == nil || n == 0 {
		return nil, nil
	}
	return append([]byte(nil), unsafe.Slice(buf, n)...), nil
}

func queryString(session uint32, class uint32) (string, error) {
	b, err := querySession(session, class)
	if err != nil {
		return "", err
	}
	return utf16Z(b), nil
}
