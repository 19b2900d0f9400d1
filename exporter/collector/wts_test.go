package collector

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"
	"unicode/utf16"
)

// putUTF16 writes s into a fixed WCHAR field of n characters, NUL padded.
func putUTF16(b []byte, off, n int, s string) {
	u := utf16.Encode([]rune(s))
	for i := 0; i < n; i++ {
		var c uint16
		if i < len(u) {
			c = u[i]
		}
		binary.LittleEndian.PutUint16(b[off+2*i:], c)
	}
}

func toFiletime(t time.Time) uint64 {
	return uint64(t.UnixNano()/100 + filetimeEpochDelta)
}

func wtsInfoBytes(state, session uint32, station, domain, user string, logon time.Time) []byte {
	b := make([]byte, wtsInfoSize)
	binary.LittleEndian.PutUint32(b[0:], state)
	binary.LittleEndian.PutUint32(b[4:], session)
	for i := 8; i < 32; i++ {
		b[i] = 0xAA // traffic counters: must not leak into the strings
	}
	putUTF16(b, wtsInfoWinStationOff, wtsInfoWinStationLen, station)
	putUTF16(b, wtsInfoDomainOff, wtsInfoDomainLen, domain)
	putUTF16(b, wtsInfoUserOff, wtsInfoUserLen, user)
	if !logon.IsZero() {
		binary.LittleEndian.PutUint64(b[wtsInfoLogonTimeOff:], toFiletime(logon))
	}
	// ConnectTime, DisconnectTime, LastInputTime and CurrentTime surround
	// LogonTime; fill them so an off-by-eight shows.
	for _, off := range []int{176, 184, 192, 208} {
		binary.LittleEndian.PutUint64(b[off:], toFiletime(time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)))
	}
	return b
}

func TestParseWTSInfo(t *testing.T) {
	logon := time.Date(2026, 11, 27, 8, 30, 15, 123456700, time.UTC)
	cases := []struct {
		name    string
		in      []byte
		want    wtsInfo
		wantErr error
	}{
		{
			name: "rdp user",
			in:   wtsInfoBytes(wtsActive, 3, "RDP-Tcp#7", "CONTOSO", "alice", logon),
			want: wtsInfo{State: wtsActive, SessionID: 3, WinStation: "RDP-Tcp#7", Domain: "CONTOSO", User: "alice", LogonTime: logon},
		},
		{
			name: "full-length fields without terminator",
			in: wtsInfoBytes(wtsDisconnected, 12, "S234567890123456789012345678901W", "D2345678901234567",
				"U23456789012345678901", logon),
			want: wtsInfo{State: wtsDisconnected, SessionID: 12, WinStation: "S234567890123456789012345678901W",
				Domain: "D2345678901234567", User: "U23456789012345678901", LogonTime: logon},
		},
		{
			name: "non-ASCII user",
			in:   wtsInfoBytes(wtsActive, 1, "Console", "WORKGROUP", "Zoë Ångström", logon),
			want: wtsInfo{State: wtsActive, SessionID: 1, WinStation: "Console", Domain: "WORKGROUP", User: "Zoë Ångström", LogonTime: logon},
		},
		{
			name: "listener without user or logon",
			in:   wtsInfoBytes(wtsListen, 65536, "RDP-Tcp", "", "", time.Time{}),
			want: wtsInfo{State: wtsListen, SessionID: 65536, WinStation: "RDP-Tcp"},
		},
		{name: "truncated", in: make([]byte, wtsInfoSize-1), wantErr: errShortWTSInfo},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseWTSInfo(tc.in)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if !got.LogonTime.Equal(tc.want.LogonTime) {
				t.Errorf("LogonTime = %v, want %v", got.LogonTime, tc.want.LogonTime)
			}
			got.LogonTime, tc.want.LogonTime = time.Time{}, time.Time{}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestParseWTSClientAddress(t *testing.T) {
	addr := func(family uint32, at int, ip ...byte) []byte {
		b := make([]byte, 24)
		binary.LittleEndian.PutUint32(b, family)
		copy(b[4+at:], ip)
		return b
	}
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"ipv4 two bytes in", addr(afInet, 2, 192, 168, 0, 1), "192.168.0.1"},
		{"ipv6 at start", addr(afInet6, 0, 0xfd, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x2a), "fd00::2a"},
		{"console reports zero", addr(afInet, 2, 0, 0, 0, 0), ""},
		{"unspecified family", addr(0, 2, 10, 0, 0, 1), ""},
		{"netbios", addr(17, 0, 'P', 'C'), ""},
		{"short", []byte{2, 0, 0, 0, 0, 0, 10}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseWTSClientAddress(tc.in); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWTSStateName(t *testing.T) {
	cases := map[uint32]string{
		wtsActive: "active", wtsConnected: "connected", wtsConnectQuery: "connect-query", wtsShadow: "shadow",
		wtsDisconnected: "disconnected", wtsIdle: "idle", wtsListen: "listen", wtsReset: "reset",
		wtsDown: "down", wtsInit: "init", 10: "unknown", 0xFFFFFFFF: "unknown",
	}
	for state, want := range cases {
		if got := wtsStateName(state); got != want {
			t.Errorf("wtsStateName(%d) = %q, want %q", state, got, want)
		}
	}
}

func TestWTSSession(t *testing.T) {
	logon := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name       string
		info       wtsInfo
		clientName string
		clientAddr string
		wantOK     bool
		wantHost   string
	}{
		{"rdp with address", wtsInfo{User: "bob", SessionID: 2, State: wtsActive, LogonTime: logon}, "LAPTOP", "10.1.2.3", true, "10.1.2.3"},
		{"rdp via gateway: name only", wtsInfo{User: "bob", SessionID: 2, State: wtsActive}, "LAPTOP", "", true, "LAPTOP"},
		{"console", wtsInfo{User: "admin", SessionID: 1, WinStation: "Console"}, "", "", true, ""},
		{"services session", wtsInfo{SessionID: 0, WinStation: "Services", State: wtsDisconnected}, "", "", false, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u, ok := wtsSession(tc.info, tc.clientName, tc.clientAddr)
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			if u.Host != tc.wantHost || u.User != tc.info.User || u.State != wtsStateName(tc.info.State) {
				t.Errorf("got %+v", u)
			}
			if u.SessionID == nil || *u.SessionID != int(tc.info.SessionID) {
				t.Errorf("SessionID = %v, want %d", u.SessionID, tc.info.SessionID)
			}
			if !u.StartedAt.Equal(tc.info.LogonTime) {
				t.Errorf("StartedAt = %v, want %v", u.StartedAt, tc.info.LogonTime)
			}
		})
	}
}

func TestFiletime(t *testing.T) {
	cases := []struct {
		ft   int64
		want time.Time
	}{
		{0, time.Time{}},
		{-5, time.Time{}},
		{filetimeEpochDelta, time.Unix(0, 0).UTC()},
		{filetimeEpochDelta + 1, time.Unix(0, 100).UTC()},
		{int64(toFiletime(time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC))), time.Date(2038, 1, 19, 3, 14, 8, 0, time.UTC)},
	}
	for _, tc := range cases {
		if got := filetime(tc.ft); !got.Equal(tc.want) {
			t.Errorf("filetime(%d) = %v, want %v", tc.ft, got, tc.want)
		}
	}
}
