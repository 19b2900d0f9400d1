package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestPage(t *testing.T) {
	h, err := Handler(Options{Version: "1.2.3", Links: []Link{{Address: "/metrics", Text: "Metrics"}}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (*http.Response, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Result(), string(b)
	}
	resp, body := get("/")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
		t.Errorf("CSP %q", csp)
	}
	if !strings.Contains(body, "1.2.3") || !strings.Contains(body, `href="/metrics"`) {
		t.Errorf("page lacks the version or the metrics link")
	}
	// No inline code: every script has a src, no element has an on* handler
	// or a style attribute.
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(m, `src="/static/`) {
			t.Errorf("inline script: %s", m)
		}
	}
	if m := regexp.MustCompile(`\s(on[a-z]+|style)=`).FindString(body); m != "" {
		t.Errorf("inline handler or style: %q", m)
	}
	for path, ctype := range map[string]string{"/static/app.js": "javascript", "/static/style.css": "text/css"} {
		resp, body := get(path)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), ctype) || body == "" {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if resp.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("GET %s: no CSP", path)
		}
	}
	if strings.Contains(func() string { _, b := get("/static/app.js"); return b }(), "innerHTML") {
		t.Error("app.js uses innerHTML; data must go in as text")
	}
	if resp, _ := get("/static/nope.js"); resp.StatusCode != 404 {
		t.Errorf("missing file: %d", resp.StatusCode)
	}
}
