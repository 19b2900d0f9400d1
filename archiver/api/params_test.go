package api

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
)

func TestParseIP(t *testing.T) {
	tests := []struct {
		in, want string // want "" = rejected
	}{
		{"10.0.0.5", "10.0.0.5"},
		{"2001:db8::1", "2001:db8::1"},
		{"2001:DB8:0:0::1", "2001:db8::1"},
		{"::ffff:10.0.0.5", "10.0.0.5"},
		{"::1", "::1"},
		{"", ""},
		{"010.0.0.5", ""},
		{"10.0.0", ""},
		{"10.0.0.5/24", ""},
		{"fe80::1%eth0", ""},
		{"fe80::1%25eth0", ""},
		{"localhost", ""},
		{"..", ""},
		{"../../etc", ""},
		{"/etc/passwd", ""},
		{"C:\\Windows", ""},
		{"10.0.0.5\x00", ""},
		{" 10.0.0.5", ""},
		{strings.Repeat("1", 100), ""},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			ip, err := parseIP(tc.in)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("accepted as %v", ip)
				}
				return
			}
			if err != nil || ip.String() != tc.want {
				t.Fatalf("got %v, %v; want %s", ip, err, tc.want)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"2026-11-27", true},
		{"2024-02-29", true},
		{"2026-02-29", false},
		{"2026-13-01", false},
		{"2026-1-1", false},
		{"26-11-27", false},
		{"2026-11-27T00:00:00Z", false},
		{"2026/11/27", false},
		{"../../etc", false},
		{"", false},
		{"latest", false},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			d, err := parseDate(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("parseDate(%q) = %v, %v", tc.in, d, err)
			}
			if tc.ok && d.Format(time.DateOnly) != tc.in {
				t.Fatalf("round trip %s", d.Format(time.DateOnly))
			}
		})
	}
}

func TestParseQuery(t *testing.T) {
	at := func(s string) time.Time { t, _ := time.Parse(time.RFC3339Nano, s); return t }
	tests := []struct {
		raw  string
		want store.Query
		ok   bool
	}{
		{"", store.Query{}, true},
		{"from=2026-11-27T10:00:00Z", store.Query{From: at("2026-11-27T10:00:00Z")}, true},
		{"to=2026-11-27T10:00:00.5%2B01:00", store.Query{To: at("2026-11-27T10:00:00.5+01:00")}, true},
		{"to=2026-11-27T10:00:00+01:00", store.Query{To: at("2026-11-27T10:00:00+01:00")}, true},
		{"limit=10", store.Query{Limit: 10}, true},
		{"limit=1000000", store.Query{Limit: 1000000}, true},
		{"from=2026-11-27T10:00:00Z&to=2026-11-27T10:00:00Z", store.Query{From: at("2026-11-27T10:00:00Z"), To: at("2026-11-27T10:00:00Z")}, true},
		{"unknown=1", store.Query{}, true},
		{"limit=1000001", store.Query{}, false},
		{"limit=0", store.Query{}, false},
		{"limit=-5", store.Query{}, false},
		{"limit=%2B5", store.Query{}, false},
		{"limit=5.0", store.Query{}, false},
		{"limit=0x10", store.Query{}, false},
		{"limit=", store.Query{}, false},
		{"limit=1&limit=1", store.Query{}, false},
		{"from=2026-11-27", store.Query{}, false},
		{"from=1764236400", store.Query{}, false},
		{"from=2026-11-27T25:00:00Z", store.Query{}, false},
		{"from=2026-11-27T10:00:00", store.Query{}, false},
		{"from=2026-11-27T11:00:00Z&to=2026-11-27T10:00:00Z", store.Query{}, false},
		{"from=" + strings.Repeat("2", 100), store.Query{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.raw, func(t *testing.T) {
			v, err := url.ParseQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			q, err := parseQuery(v)
			if (err == nil) != tc.ok {
				t.Fatalf("parseQuery(%q) = %+v, %v", tc.raw, q, err)
			}
			if tc.ok && (!q.From.Equal(tc.want.From) || !q.To.Equal(tc.want.To) || q.Limit != tc.want.Limit) {
				t.Fatalf("got %+v, want %+v", q, tc.want)
			}
		})
	}
}

// FuzzParams feeds arbitrary strings to every parameter parser: nothing may
// panic, and whatever is accepted must be safe to turn into a storage path.
func FuzzParams(f *testing.F) {
	f.Add("10.0.0.5", "2026-11-27", "2026-11-27T10:00:00Z", "2026-11-27T11:00:00.5+01:00", "100")
	f.Add("2001:db8::1", "2024-02-29", "2026-11-27T10:00:00 01:00", "", "1000000")
	f.Add("fe80::1%eth0", "2026-02-29", "yesterday", "0", "-1")
	f.Add("::ffff:1.2.3.4", "../../etc", "2026-11-27T25:00:00Z", "9999-12-31T23:59:59Z", "007")
	f.Add("..%2f..%2f", "2026-1-1", "", "", "+5")
	f.Fuzz(func(t *testing.T, ip, date, from, to, limit string) {
		if a, err := parseIP(ip); err == nil {
			if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
				t.Fatalf("parseIP(%q) accepted %v", ip, a)
			}
			if s := a.String(); strings.ContainsAny(s, "/\\\x00%") || strings.Contains(s, "..") {
				t.Fatalf("parseIP(%q) gives unsafe %q", ip, s)
			}
		}
		if d, err := parseDate(date); err == nil {
			if d.Format(time.DateOnly) != date {
				t.Fatalf("parseDate(%q) round trips to %q", date, d.Format(time.DateOnly))
			}
		}
		if n, err := parseLimit(limit); err == nil && (n < 1 || n > MaxLimit) {
			t.Fatalf("parseLimit(%q) = %d", limit, n)
		}
		for _, s := range []string{from, to} {
			if tm, err := parseTime("from", s); err == nil && len(s) > 64 {
				t.Fatalf("parseTime accepted %d bytes as %v", len(s), tm)
			}
		}
		v := url.Values{}
		for k, s := range map[string]string{"from": from, "to": to, "limit": limit} {
			if s != "" {
				v.Set(k, s)
			}
		}
		if q, err := parseQuery(v); err == nil {
			if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
				t.Fatalf("accepted reversed range %+v", q)
			}
		}
	})
}

// FuzzRequestPath sends arbitrary paths and queries through the whole
// handler with a real store: no panic, no 5xx, and only well-formed
// snapshot paths may succeed.
func FuzzRequestPath(f *testing.F) {
	for _, p := range []string{
		"/api/v1/snapshots/10.0.0.5/2026-11-27?limit=1",
		"/api/v1/snapshots/10.0.0.5/latest",
		"/api/v1/snapshots/%2e%2e/%2e%2e/etc/passwd",
		"/api/v1/snapshots/..%2F..%2Fetc/2026-11-27",
		"/api/v1/snapshots//etc/passwd",
		"/api/v1/snapshots/10.0.0.5%00/2026-11-27",
		"/api/v1/files?ip=10.0.0.5",
		"/api/v1/files?ip=%2e%2e",
		"/api/v1/snapshots/fe80::1%25lo/latest",
		"/api/v1/snapshots/10.0.0.5/2026-11-27?from=2026-11-27T00:00:00Z&to=x",
	} {
		f.Add(p)
	}
	st, err := store.Open(f.TempDir(), store.Options{})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	if err := st.Append(store.Record{IP: netip.MustParseAddr("10.0.0.5"), ScrapedAt: today, Snapshot: []byte(`{"schema_version":1}`)}); err != nil {
		f.Fatal(err)
	}
	h := New(Options{Store: st})
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") {
			return
		}
		req := &http.Request{Method: "GET", URL: u, RequestURI: target, Header: http.Header{}, Host: "archiver", RemoteAddr: "127.0.0.1:1"}
		req = req.WithContext(t.Context())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET %q: %d %s", target, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK && strings.HasPrefix(u.Path, "/api/v1/snapshots/") {
			segs := strings.Split(strings.TrimPrefix(u.Path, "/api/v1/snapshots/"), "/")
			if len(segs) != 2 {
				t.Fatalf("GET %q succeeded with %d path segments", target, len(segs))
			}
			if _, err := parseIP(segs[0]); err != nil {
				t.Fatalf("GET %q succeeded with a bad IP: %v", target, err)
			}
		}
	})
}
