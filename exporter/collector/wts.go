package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf16"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// This file decodes what the Windows Terminal Services (WTS) API returns for
// the users collector. It is OS-neutral on purpose: the structures are read
// from bytes at documented offsets, so the decoding is tested on Linux and
// users_windows.go only makes the calls.

// WTS_CONNECTSTATE_CLASS values (wtsapi32.h).
const (
	wtsActive       = 0
	wtsConnected    = 1
	wtsConnectQuery = 2
	wtsShadow       = 3
	wtsDisconnected = 4
	wtsIdle         = 5
	wtsListen       = 6
	wtsReset        = 7
	wtsDown         = 8
	wtsInit         = 9
)

// wtsStateName maps a session's connect state to the snapshot's State.
// "active" and "disconnected" are what an operator sees in Task Manager;
// the rest are transitional or belong to sessions without a user.
func wtsStateName(state uint32) string {
	switch state {
	case wtsActive:
		return "active"
	case wtsConnected:
		return "connected"
	case wtsConnectQuery:
		return "connect-query"
	case wtsShadow:
		return "shadow"
	case wtsDisconnected:
		return "disconnected"
	case wtsIdle:
		return "idle"
	case wtsListen:
		return "listen"
	case wtsReset:
		return "reset"
	case wtsDown:
		return "down"
	case wtsInit:
		return "init"
	default:
		return "unknown"
	}
}

// Layout of WTSINFOW, the answer to WTSQuerySessionInformationW(WTSSessionInfo):
// eight DWORDs (state, session id, six traffic counters), then WinStationName
// [32]WCHAR, Domain [17]WCHAR, UserName [21]WCHAR, padding to 8, and five
// LARGE_INTEGER FILETIMEs (connect, disconnect, last input, logon, current).
// The offsets are the same for 32- and 64-bit processes: no pointers inside.
const (
	wtsInfoStateOff      = 0
	wtsInfoSessionOff    = 4
	wtsInfoWinStationOff = 32
	wtsInfoWinStationLen = 32
	wtsInfoDomainOff     = wtsInfoWinStationOff + 2*wtsInfoWinStationLen // 96
	wtsInfoDomainLen     = 17
	wtsInfoUserOff       = wtsInfoDomainOff + 2*wtsInfoDomainLen // 130
	wtsInfoUserLen       = 21
	wtsInfoLogonTimeOff  = 200
	wtsInfoSize          = 216
)

// wtsInfo is the part of WTSINFOW the users collector needs.
type wtsInfo struct {
	State      uint32
	SessionID  uint32
	WinStation string
	Domain     string
	User       string
	LogonTime  time.Time // zero when the session has no logon
}

var errShortWTSInfo = errors.New("WTSINFOW too short")

// parseWTSInfo decodes a WTSINFOW structure.
func parseWTSInfo(b []byte) (wtsInfo, error) {
	if len(b) < wtsInfoSize {
		return wtsInfo{}, fmt.Errorf("%w: %d bytes, want %d", errShortWTSInfo, len(b), wtsInfoSize)
	}
	le := binary.LittleEndian
	return wtsInfo{
		State:      le.Uint32(b[wtsInfoStateOff:]),
		SessionID:  le.Uint32(b[wtsInfoSessionOff:]),
		WinStation: utf16Z(b[wtsInfoWinStationOff : wtsInfoWinStationOff+2*wtsInfoWinStationLen]),
		Domain:     utf16Z(b[wtsInfoDomainOff : wtsInfoDomainOff+2*wtsInfoDomainLen]),
		User:       utf16Z(b[wtsInfoUserOff : wtsInfoUserOff+2*wtsInfoUserLen]),
		LogonTime:  filetime(int64(le.Uint64(b[wtsInfoLogonTimeOff:]))),
	}, nil
}

// Address families in WTS_CLIENT_ADDRESS (winsock's values).
const (
	afInet  = 2
	afInet6 = 23
)

// parseWTSClientAddress decodes WTS_CLIENT_ADDRESS {DWORD AddressFamily;
// BYTE Address[20]}. Microsoft documents the IPv4 address as starting two
// bytes into Address and the IPv6 address at its start. It returns "" for
// other families and for the all-zero address a console session reports.
func parseWTSClientAddress(b []byte) string {
	if len(b) < 24 {
		return ""
	}
	addr := b[4:24]
	var ip netip.Addr
	switch binary.LittleEndian.Uint32(b) {
	case afInet:
		ip = netip.AddrFrom4([4]byte(addr[2:6]))
	case afInet6:
		ip = netip.AddrFrom16([16]byte(addr[0:16]))
	default:
		return ""
	}
	if ip.IsUnspecified() {
		return ""
	}
	return ip.String()
}

// wtsSession turns one session's facts into a snapshot.User. Sessions
// without a user (services session 0, listeners, an empty console) are not
// logins and report ok=false. Host is where an RDP client connects from:
// its address when the client reported one, else its computer name.
func wtsSession(info wtsInfo, clientName, clientAddr string) (u snapshot.User, ok bool) {
	if info.User == "" {
		return snapshot.User{}, false
	}
	id := int(info.SessionID)
	host := clientAddr
	if host == "" {
		host = clientName
	}
	return snapshot.User{
		User:      info.User,
		Terminal:  info.WinStation,
		Host:      host,
		StartedAt: info.LogonTime,
		Domain:    info.Domain,
		SessionID: &id,
		State:     wtsStateName(info.State),
	}, true
}

// utf16Z decodes a NUL-terminated little-endian UTF-16 string from a fixed
// field; an odd trailing byte is ignored.
func utf16Z(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// filetimeEpochDelta is the number of 100 ns intervals between 1601-01-01
// (the FILETIME epoch) and 1970-01-01.
const filetimeEpochDelta = 116444736000000000

// filetime converts a FILETIME (100 ns since 1601, UTC) to time; 0 means
// "never" and gives the zero time.
func filetime(ft int64) time.Time {
	if ft <= 0 {
		return time.Time{}
	}
	d := ft - filetimeEpochDelta
	return time.Unix(d/1e7, (d%1e7)*100).UTC()
}
