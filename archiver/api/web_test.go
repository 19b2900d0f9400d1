package api

import (
	"bufio"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawRequest sends request exactly as written, bypassing the client's path
// cleaning, and returns the response status and headers.
func rawRequest(t *testing.T, addr, request string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte(request)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", request, err)
	}
	resp.Body.Close()
	return resp
}

// TestRawDotSegments sends paths a client would clean, as an attacker
// would send them: they are refused, not redirected to somewhere else.
func TestRawDotSegments(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("metrics")) })
		o.EnablePprof = true
	})
	addr := strings.TrimPrefix(f.srv.URL, "http://")
	for _, path := range []string{
		"/api/v1/../metrics", "/api/v1/./files", "/./metrics", "//metrics", "/api/v1//files",
		"/debug/pprof/../../metrics", "/api/v1/%2e%2e/metrics", "/..",
	} {
		resp := rawRequest(t, addr, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %d (Location %q), want 400", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	if resp := rawRequest(t, addr, "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); resp.StatusCode != 200 {
		t.Errorf("GET /metrics: %d", resp.StatusCode)
	}
}

func TestWrongMethod(t *testing.T) {
	f := newFixture(t, nil)
	for _, tc := range []struct {
		method, path string
		code         int
		allow        string
	}{
		{"DELETE", "/api/v1/files", 405, "GET, HEAD"},
		{"POST", "/api/v1/agents", 405, "GET, HEAD"},
		{"GET", "/api/v1/snapshots", 405, "POST"},
		{"PUT", "/api/v1/snapshots/10.0.0.5/latest", 405, "GET, HEAD"},
		{"DELETE", "/api/v1/nothing", 404, ""},
		{"GET", "/api/v1/nothing", 404, ""},
	} {
		r := f.do(t, tc.method, tc.path, nil, nil)
		if r.code != tc.code || r.header.Get("Allow") != tc.allow {
			t.Errorf("%s %s: %d Allow %q, want %d Allow %q", tc.method, tc.path, r.code, r.header.Get("Allow"), tc.code, tc.allow)
		}
		if r.env.Status != "error" || (tc.code == 405 && r.env.ErrorType != errMethod) {
			t.Errorf("%s %s: envelope %s", tc.method, tc.path, r.body)
		}
	}
}

// TestReadTokensCoverEverythingButProbes checks which endpoints the read
// tokens guard: queries, profiles and reload; never the metrics and probes
// Prometheus and orchestrators call, nor the web page's shell, which holds
// no data and fetches everything it shows from the guarded queries.
func TestReadTokensCoverEverythingButProbes(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })
	f := newFixture(t, func(o *Options) {
		o.ReadTokens = func() []string { return []string{readToken} }
		o.Metrics, o.Landing = ok, ok
		o.EnablePprof, o.EnableLifecycle = true, true
		o.Reload = func() error { return nil }
	})
	auth := map[string]string{"Authorization": "Bearer " + readToken}
	wrong := map[string]string{"Authorization": "Bearer " + writeToken}
	for _, tc := range []struct {
		method, path string
		guarded      bool
	}{
		{"GET", "/", false},
		{"GET", "/static/app.js", false},
		{"GET", "/api/v1/search?date=2026-11-27&process=x", true},
		{"GET", "/debug/pprof/", true},
		{"GET", "/debug/pprof/cmdline", true},
		{"POST", "/-/reload", true},
		{"PUT", "/-/reload", true},
		{"GET", "/api/v1/files", true},
		{"GET", "/api/v1/agents", true},
		{"GET", "/metrics", false},
		{"GET", "/healthz", false},
		{"GET", "/readyz", false},
		{"GET", "/-/healthy", false},
		{"GET", "/-/ready", false},
	} {
		want := 200
		if tc.guarded {
			want = 401
		}
		if r := f.do(t, tc.method, tc.path, nil, nil); r.code != want {
			t.Errorf("%s %s without token: %d, want %d", tc.method, tc.path, r.code, want)
		}
		if r := f.do(t, tc.method, tc.path, nil, wrong); r.code != want {
			t.Errorf("%s %s with the write token: %d, want %d", tc.method, tc.path, r.code, want)
		}
		if r := f.do(t, tc.method, tc.path, nil, auth); r.code != 200 {
			t.Errorf("%s %s with the read token: %d, want 200", tc.method, tc.path, r.code)
		}
	}
}

func TestPprofOffByDefault(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/profile"} {
		if r := f.do(t, "GET", p, nil, nil); r.code != 404 {
			t.Errorf("GET %s: %d, want 404 without --web.enable-pprof", p, r.code)
		}
	}
	on := newFixture(t, func(o *Options) { o.EnablePprof = true })
	if r := on.do(t, "GET", "/debug/pprof/", nil, nil); r.code != 200 {
		t.Errorf("GET /debug/pprof/ enabled: %d", r.code)
	}
}
