package api

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/archiver/scrape"
	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

const (
	writeToken = "w-secret"
	readToken  = "r-secret"
)

var today = time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)

type fixture struct {
	srv   *httptest.Server
	store *store.Store
	reg   *prometheus.Registry
	opts  *Options
}

func newFixture(t *testing.T, mod func(*Options)) *fixture {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := prometheus.NewRegistry()
	o := Options{
		Store:       st,
		Registerer:  reg,
		WriteTokens: func() []string { return []string{writeToken} },
		Agents: func() []scrape.AgentStatus {
			return []scrape.AgentStatus{{Target: "10.0.0.5:9110", IP: "10.0.0.5", Health: "up"}}
		},
	}
	if mod != nil {
		mod(&o)
	}
	srv := httptest.NewServer(New(o))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st, reg: reg, opts: &o}
}

func (f *fixture) seed(t *testing.T, ip string, n int) {
	t.Helper()
	for i := range n {
		err := f.store.Append(store.Record{
			IP: netip.MustParseAddr(ip), Target: ip + ":9110", Labels: map[string]string{"env": "test"},
			ScrapedAt: today.Add(time.Duration(i) * time.Hour),
			Snapshot:  fmt.Appendf(nil, `{"schema_version":1,"seq":%d}`, i),
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

type response struct {
	code   int
	header http.Header
	body   []byte
	env    struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
}

func (f *fixture) do(t *testing.T, method, rawPath string, body io.Reader, hdr map[string]string) response {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL, body)
	if err != nil {
		t.Fatal(err)
	}
	// Opaque keeps the path byte-for-byte as written, hostile escapes included.
	req.URL.Opaque = rawPath
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{code: resp.StatusCode, header: resp.Header, body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(b, &r.env); err != nil {
			t.Fatalf("%s %s: body is not JSON: %v\n%s", method, rawPath, err, b)
		}
	}
	return r
}

func TestQueries(t *testing.T) {
	f := newFixture(t, nil)
	f.seed(t, "10.0.0.5", 5)
	f.seed(t, "2001:db8::1", 2)

	tests := []struct {
		name, path string
		code       int
		errType    string
		lines      int    // for snapshot lists; -1 = not a list
		contains   string // substring of the body
	}{
		{"day", "/api/v1/snapshots/10.0.0.5/2026-11-27", 200, "", 5, `"seq":0`},
		{"day ipv6", "/api/v1/snapshots/2001:db8::1/2026-11-27", 200, "", 2, `"ip":"2001:db8::1"`},
		{"day mapped", "/api/v1/snapshots/::ffff:10.0.0.5/2026-11-27", 200, "", 5, ""},
		{"from to", "/api/v1/snapshots/10.0.0.5/2026-11-27?from=2026-11-27T01:00:00Z&to=2026-11-27T03:00:00Z", 200, "", 3, `"seq":1`},
		{"offset plus decoded as space", "/api/v1/snapshots/10.0.0.5/2026-11-27?from=2026-11-27T02:00:00+01:00", 200, "", 4, ""},
		{"limit", "/api/v1/snapshots/10.0.0.5/2026-11-27?limit=2", 200, "", 2, ""},
		{"empty range", "/api/v1/snapshots/10.0.0.5/2026-11-27?from=2026-11-27T23:00:00Z", 200, "", 0, ""},
		{"latest", "/api/v1/snapshots/10.0.0.5/latest", 200, "", -1, `"seq":4`},
		{"files", "/api/v1/files", 200, "", -1, `"snapshots":5`},
		{"files ip", "/api/v1/files?ip=2001:db8::1", 200, "", -1, `"snapshots":2`},
		{"agents", "/api/v1/agents", 200, "", -1, `"health":"up"`},
		{"unknown day", "/api/v1/snapshots/10.0.0.5/2026-11-28", 404, "not_found", -1, ""},
		{"unknown ip", "/api/v1/snapshots/10.0.0.9/2026-11-27", 404, "not_found", -1, ""},
		{"unknown latest", "/api/v1/snapshots/10.0.0.9/latest", 404, "not_found", -1, ""},
		{"unknown endpoint", "/api/v1/nope", 404, "not_found", -1, ""},
		{"bad ip", "/api/v1/snapshots/10.0.0.256/2026-11-27", 400, "bad_data", -1, "invalid IP"},
		{"zone", "/api/v1/snapshots/fe80::1%25eth0/2026-11-27", 400, "bad_data", -1, "zone"},
		{"hostname", "/api/v1/snapshots/localhost/latest", 400, "bad_data", -1, ""},
		{"bad date", "/api/v1/snapshots/10.0.0.5/2026-13-01", 400, "bad_data", -1, "invalid date"},
		{"short date", "/api/v1/snapshots/10.0.0.5/2026-1-1", 400, "bad_data", -1, ""},
		{"bad from", "/api/v1/snapshots/10.0.0.5/2026-11-27?from=yesterday", 400, "bad_data", -1, "RFC 3339"},
		{"to before from", "/api/v1/snapshots/10.0.0.5/2026-11-27?from=2026-11-27T03:00:00Z&to=2026-11-27T01:00:00Z", 400, "bad_data", -1, ""},
		{"zero limit", "/api/v1/snapshots/10.0.0.5/2026-11-27?limit=0", 400, "bad_data", -1, ""},
		{"negative limit", "/api/v1/snapshots/10.0.0.5/2026-11-27?limit=-1", 400, "bad_data", -1, ""},
		{"huge limit", "/api/v1/snapshots/10.0.0.5/2026-11-27?limit=99999999999", 400, "bad_data", -1, ""},
		{"repeated limit", "/api/v1/snapshots/10.0.0.5/2026-11-27?limit=1&limit=2", 400, "bad_data", -1, ""},
		{"files bad ip", "/api/v1/files?ip=../etc", 400, "bad_data", -1, ""},
		{"dotdot", "/api/v1/snapshots/../../etc/passwd", 400, "bad_data", -1, ""},
		{"encoded dotdot", "/api/v1/snapshots/%2e%2e/%2e%2e/2026-11-27", 400, "bad_data", -1, ""},
		{"encoded slash", "/api/v1/snapshots/..%2f..%2fetc/2026-11-27", 400, "bad_data", -1, ""},
		{"encoded slash in date", "/api/v1/snapshots/10.0.0.5/..%2F2026-11-27", 400, "bad_data", -1, ""},
		{"absolute", "/api/v1/snapshots//etc/passwd", 400, "bad_data", -1, ""},
		{"nul", "/api/v1/snapshots/10.0.0.5%00/2026-11-27", 400, "bad_data", -1, ""},
		{"backslash", "/api/v1/snapshots/..%5c..%5cetc/2026-11-27", 400, "bad_data", -1, ""},
		{"long ip", "/api/v1/snapshots/" + strings.Repeat("1", 300) + "/2026-11-27", 400, "bad_data", -1, ""},
		{"long path", "/api/v1/snapshots/" + strings.Repeat("a", 5000) + "/latest", 400, "bad_data", -1, ""},
		{"long query", "/api/v1/snapshots/10.0.0.5/2026-11-27?from=" + strings.Repeat("9", 5000), 400, "bad_data", -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "GET", tc.path, nil, nil)
			if r.code != tc.code {
				t.Fatalf("code %d, want %d: %s", r.code, tc.code, r.body)
			}
			if got := r.header.Get("Content-Type"); got != "application/json" {
				t.Errorf("Content-Type %q", got)
			}
			if tc.errType != "" && (r.env.Status != "error" || r.env.ErrorType != tc.errType || r.env.Error == "") {
				t.Errorf("envelope %+v, want error %s", r.env, tc.errType)
			}
			if tc.code == 200 && r.env.Status != "success" {
				t.Errorf("status %q", r.env.Status)
			}
			if tc.lines >= 0 {
				var lines []map[string]any
				if err := json.Unmarshal(r.env.Data, &lines); err != nil {
					t.Fatalf("data not a list: %v", err)
				}
				if len(lines) != tc.lines {
					t.Errorf("%d snapshots, want %d", len(lines), tc.lines)
				}
			}
			if !bytes.Contains(r.body, []byte(tc.contains)) {
				t.Errorf("body lacks %q: %s", tc.contains, r.body)
			}
		})
	}
	if n := f.counter(t, "archiver_query_requests_total", map[string]string{"endpoint": "snapshots", "code": "400"}); n == 0 {
		t.Error("query counter not incremented")
	}
}

// counter reads one counter from the fixture's registry (0 if absent).
func (f *fixture) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if want, ok := labels[lp.GetName()]; ok && want != lp.GetValue() {
					continue metrics
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

func TestReadTokens(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.ReadTokens = func() []string { return []string{readToken, "other"} } })
	f.seed(t, "10.0.0.5", 1)
	tests := []struct {
		name, auth string
		code       int
	}{
		{"none", "", 401},
		{"wrong", "Bearer nope", 401},
		{"prefix", "Bearer " + readToken[:3], 401},
		{"basic", "Basic " + readToken, 401},
		{"good", "Bearer " + readToken, 200},
		{"second", "bearer other", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, p := range []string{"/api/v1/snapshots/10.0.0.5/2026-11-27", "/api/v1/snapshots/10.0.0.5/latest", "/api/v1/files", "/api/v1/agents"} {
				r := f.do(t, "GET", p, nil, map[string]string{"Authorization": tc.auth})
				if r.code != tc.code {
					t.Errorf("%s: code %d, want %d", p, r.code, tc.code)
				}
				if tc.code == 401 && r.env.ErrorType != "unauthorized" {
					t.Errorf("%s: errorType %q", p, r.env.ErrorType)
				}
			}
		})
	}
	if r := f.do(t, "GET", "/healthz", nil, nil); r.code != 200 {
		t.Errorf("healthz needs no token, got %d", r.code)
	}
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func zst(b []byte) []byte {
	out, err := snapshot.AppendEncoded(nil, snapshot.Zstd, b)
	if err != nil {
		panic(err)
	}
	return out
}

func multipartBody(b []byte) (string, []byte) {
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", "snapshot.json")
	fw.Write(b)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func TestPush(t *testing.T) {
	good := []byte(`{"schema_version":1,"host":{"hostname":"h"}}`)
	big := []byte(`{"schema_version":1,"pad":"` + strings.Repeat("x", 2048) + `"}`)
	mpType, mpBody := multipartBody(good)
	auth := "Bearer " + writeToken
	tests := []struct {
		name    string
		mod     func(*Options)
		path    string
		body    []byte
		hdr     map[string]string
		code    int
		result  string
		storeIP string // where the snapshot must land ("" = nothing stored)
	}{
		{"plain", nil, "/api/v1/snapshots", good, map[string]string{"Authorization": auth}, 200, "stored", "127.0.0.1"},
		{"upload alias", nil, "/upload", good, map[string]string{"Authorization": auth}, 200, "stored", "127.0.0.1"},
		{"gzip", nil, "/api/v1/snapshots", gz(good), map[string]string{"Authorization": auth, "Content-Encoding": "gzip"}, 200, "stored", "127.0.0.1"},
		{"zstd", nil, "/api/v1/snapshots", zst(good), map[string]string{"Authorization": auth, "Content-Encoding": "zstd"}, 200, "stored", "127.0.0.1"},
		{"multipart", nil, "/upload", mpBody, map[string]string{"Authorization": auth, "Content-Type": mpType}, 200, "stored", "127.0.0.1"},
		{"gzipped multipart", nil, "/upload", gz(mpBody), map[string]string{"Authorization": auth, "Content-Type": mpType, "Content-Encoding": "gzip"}, 200, "stored", "127.0.0.1"},
		{"bad zstd", nil, "/api/v1/snapshots", good, map[string]string{"Authorization": auth, "Content-Encoding": "zstd"}, 400, "bad_request", ""},
		{"zstd bomb", func(o *Options) { o.MaxBodyBytes = func() int64 { return 1024 } }, "/api/v1/snapshots", zst(big), map[string]string{"Authorization": auth, "Content-Encoding": "zstd"}, 413, "too_large", ""},
		{"bad multipart", nil, "/upload", good, map[string]string{"Authorization": auth, "Content-Type": mpType}, 400, "bad_request", ""},
		{"no token", nil, "/api/v1/snapshots", good, nil, 401, "unauthorized", ""},
		{"bad token", nil, "/api/v1/snapshots", good, map[string]string{"Authorization": "Bearer x"}, 401, "unauthorized", ""},
		{"push disabled", func(o *Options) { o.WriteTokens = func() []string { return nil } }, "/api/v1/snapshots", good, map[string]string{"Authorization": auth}, 403, "forbidden", ""},
		{"cidr", func(o *Options) { o.PushAllowed = func(netip.Addr) bool { return false } }, "/api/v1/snapshots", good, map[string]string{"Authorization": auth}, 403, "forbidden", ""},
		{"not json", nil, "/api/v1/snapshots", []byte("hello"), map[string]string{"Authorization": auth}, 400, "bad_request", ""},
		{"no schema", nil, "/api/v1/snapshots", []byte(`{"a":1}`), map[string]string{"Authorization": auth}, 400, "bad_request", ""},
		{"bad gzip", nil, "/api/v1/snapshots", good, map[string]string{"Authorization": auth, "Content-Encoding": "gzip"}, 400, "bad_request", ""},
		{"brotli", nil, "/api/v1/snapshots", good, map[string]string{"Authorization": auth, "Content-Encoding": "br"}, 415, "bad_request", ""},
		{"too large", func(o *Options) { o.MaxBodyBytes = func() int64 { return 1024 } }, "/api/v1/snapshots", big, map[string]string{"Authorization": auth}, 413, "too_large", ""},
		{"gzip bomb", func(o *Options) { o.MaxBodyBytes = func() int64 { return 1024 } }, "/api/v1/snapshots", gz(big), map[string]string{"Authorization": auth, "Content-Encoding": "gzip"}, 413, "too_large", ""},
		{"xff untrusted", nil, "/api/v1/snapshots", good, map[string]string{"Authorization": auth, "X-Forwarded-For": "10.9.9.9"}, 200, "stored", "127.0.0.1"},
		{"xff trusted", func(o *Options) { o.TrustedProxies = loopbackProxies }, "/api/v1/snapshots", good,
			map[string]string{"Authorization": auth, "X-Forwarded-For": "6.6.6.6, 10.9.9.9, 127.0.0.2"}, 200, "stored", "10.9.9.9"},
		{"xff garbage", func(o *Options) { o.TrustedProxies = loopbackProxies }, "/api/v1/snapshots", good,
			map[string]string{"Authorization": auth, "X-Forwarded-For": "../../etc"}, 400, "bad_request", ""},
		{"xff cidr applies to client", func(o *Options) {
			o.TrustedProxies = loopbackProxies
			o.PushAllowed = func(ip netip.Addr) bool { return netip.MustParsePrefix("10.0.0.0/8").Contains(ip) }
		}, "/api/v1/snapshots", good, map[string]string{"Authorization": auth, "X-Forwarded-For": "192.168.1.1"}, 403, "forbidden", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.mod)
			r := f.do(t, "POST", tc.path, bytes.NewReader(tc.body), tc.hdr)
			if r.code != tc.code {
				t.Fatalf("code %d, want %d: %s", r.code, tc.code, r.body)
			}
			if tc.code != 200 && (r.env.Status != "error" || r.env.Error == "") {
				t.Errorf("error envelope missing: %s", r.body)
			}
			if got := f.counter(t, "archiver_push_requests_total", map[string]string{"result": tc.result}); got != 1 {
				t.Errorf("push_requests_total{result=%q} = %v, want 1", tc.result, got)
			}
			files, err := f.store.Files(netip.Addr{})
			if err != nil {
				t.Fatal(err)
			}
			if tc.storeIP == "" {
				if len(files) != 0 {
					t.Fatalf("stored %+v, want nothing", files)
				}
				if got := f.pushSeries(t); len(got) != 0 {
					t.Errorf("last archived series %v for a push that stored nothing", got)
				}
				return
			}
			if len(files) != 1 || files[0].IP != tc.storeIP || files[0].Snapshots != 1 {
				t.Fatalf("files %+v, want one snapshot under %s", files, tc.storeIP)
			}
			line, err := f.store.Latest(netip.MustParseAddr(tc.storeIP))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(line, []byte(`"snapshot":`+string(good))) {
				t.Errorf("snapshot not spliced verbatim: %s", line)
			}
			var rec struct {
				ScrapedAt time.Time `json:"scraped_at"`
			}
			if err := json.Unmarshal(line, &rec); err != nil {
				t.Fatal(err)
			}
			want := map[string]float64{tc.storeIP: float64(rec.ScrapedAt.UnixNano()) / 1e9}
			if got := f.pushSeries(t); !maps.Equal(got, want) {
				t.Errorf("last archived series (source=push) %v, want %v", got, want)
			}
		})
	}
}

// pushSeries reads archiver_agent_last_archived_timestamp_seconds
// {source="push"} from the fixture's registry, by target.
func (f *fixture) pushSeries(t *testing.T) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, s := range lastArchivedSeries(t, f.reg) {
		if s.labels["source"] != scrape.SourcePush {
			t.Errorf("series %v from the push intake, want source=push", s.labels)
		}
		out[s.labels["target"]] = s.value
	}
	return out
}

// series is one sample of a gathered metric.
type series struct {
	labels map[string]string
	value  float64
}

// lastArchivedSeries gathers archiver_agent_last_archived_timestamp_seconds from g.
func lastArchivedSeries(t *testing.T, g prometheus.Gatherer) []series {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []series
	for _, mf := range mfs {
		if mf.GetName() != "archiver_agent_last_archived_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			s := series{labels: map[string]string{}, value: m.GetGauge().GetValue()}
			for _, lp := range m.GetLabel() {
				s.labels[lp.GetName()] = lp.GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

func TestPushAfterCloseIsUnavailable(t *testing.T) {
	f := newFixture(t, nil)
	f.store.Close()
	r := f.do(t, "POST", "/api/v1/snapshots", strings.NewReader(`{"schema_version":1}`), map[string]string{"Authorization": "Bearer " + writeToken})
	if r.code != 503 || r.env.ErrorType != "unavailable" {
		t.Fatalf("code %d %s", r.code, r.body)
	}
	if r := f.do(t, "GET", "/readyz", nil, nil); r.code != 503 {
		t.Fatalf("readyz after close: %d", r.code)
	}
}

func TestLifecycleEndpoints(t *testing.T) {
	reloadErr := errors.New("bad config: boom")
	var reloads int
	tests := []struct {
		name, method, path string
		mod                func(*Options)
		code               int
		contains           string
	}{
		{"healthz", "GET", "/healthz", nil, 200, "Healthy"},
		{"readyz", "GET", "/readyz", nil, 200, "Ready"},
		{"prometheus healthy", "GET", "/-/healthy", nil, 200, "Healthy"},
		{"prometheus ready", "GET", "/-/ready", nil, 200, "Ready"},
		{"not ready", "GET", "/readyz", func(o *Options) { o.Ready = func() error { return errors.New("config not loaded") } }, 503, "config not loaded"},
		{"reload", "POST", "/-/reload", func(o *Options) { o.EnableLifecycle = true; o.Reload = func() error { reloads++; return nil } }, 200, ""},
		{"reload fails", "POST", "/-/reload", func(o *Options) { o.EnableLifecycle = true; o.Reload = func() error { return reloadErr } }, 500, "boom"},
		{"reload without lifecycle", "POST", "/-/reload", func(o *Options) { o.Reload = func() error { reloads++; return nil } }, 403, "Lifecycle API is not enabled."},
		{"reload by PUT without lifecycle", "PUT", "/-/reload", func(o *Options) { o.Reload = func() error { reloads++; return nil } }, 403, "Lifecycle API is not enabled."},
		{"reload by GET", "GET", "/-/reload", func(o *Options) { o.Reload = func() error { return nil } }, 405, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.mod)
			r := f.do(t, tc.method, tc.path, nil, nil)
			if r.code != tc.code || !bytes.Contains(r.body, []byte(tc.contains)) {
				t.Fatalf("code %d body %q, want %d containing %q", r.code, r.body, tc.code, tc.contains)
			}
		})
	}
	if reloads != 1 {
		t.Errorf("reload called %d times, want 1", reloads)
	}
}

// TestDayStreamLarge streams a day larger than every buffer on the way and
// checks the envelope is one valid JSON document with every snapshot.
func TestDayStreamLarge(t *testing.T) {
	f := newFixture(t, nil)
	const n = 300
	pad := strings.Repeat("p", 20<<10)
	for i := range n {
		err := f.store.Append(store.Record{IP: netip.MustParseAddr("10.0.0.5"), ScrapedAt: today.Add(time.Duration(i) * time.Second),
			Snapshot: fmt.Appendf(nil, `{"schema_version":1,"seq":%d,"pad":"%s"}`, i, pad)})
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.Get(f.srv.URL + "/api/v1/snapshots/10.0.0.5/2026-11-27")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var env struct {
		Status string `json:"status"`
		Data   []struct {
			Snapshot struct {
				Seq int `json:"seq"`
			} `json:"snapshot"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		t.Fatal(err)
	}
	if env.Status != "success" || len(env.Data) != n {
		t.Fatalf("status %q, %d snapshots, want %d", env.Status, len(env.Data), n)
	}
	for i, d := range env.Data {
		if d.Snapshot.Seq != i {
			t.Fatalf("snapshot %d has seq %d: not oldest first", i, d.Snapshot.Seq)
		}
	}
}

// TestQueriesWaitForASlot checks that with every slot taken a query waits
// instead of running, gives up with 503 when its client does, and runs
// once a slot is free.
func TestQueriesWaitForASlot(t *testing.T) {
	a := &api{slots: make(chan struct{}, 1)}
	a.slots <- struct{}{}
	ran := false
	h := a.limited(func(http.ResponseWriter, *http.Request) { ran = true })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	rec := httptest.NewRecorder()
	h(rec, httptest.NewRequest("GET", "/api/v1/files", nil).WithContext(ctx))
	if ran || rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("ran %v, code %d: want to wait and give up with 503", ran, rec.Code)
	}
	<-a.slots
	h(httptest.NewRecorder(), httptest.NewRequest("GET", "/api/v1/files", nil))
	if !ran {
		t.Fatal("query did not run with a free slot")
	}
	if len(a.slots) != 0 {
		t.Fatal("slot not given back")
	}
}

func loopbackProxies() []netip.Prefix { return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }

// TestPushFollowsReloadedSettings changes the trusted proxies and the body
// limit between two pushes on one handler, as a config reload does.
func TestPushFollowsReloadedSettings(t *testing.T) {
	var mu sync.Mutex
	limit, proxies := int64(1<<20), []netip.Prefix(nil)
	f := newFixture(t, func(o *Options) {
		o.MaxBodyBytes = func() int64 { mu.Lock(); defer mu.Unlock(); return limit }
		o.TrustedProxies = func() []netip.Prefix { mu.Lock(); defer mu.Unlock(); return proxies }
	})
	body := zst([]byte(`{"schema_version":1,"pad":"` + strings.Repeat("x", 4096) + `"}`))
	hdr := map[string]string{"Authorization": "Bearer " + writeToken, "Content-Encoding": "zstd", "X-Forwarded-For": "10.1.2.3"}
	if r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader(body), hdr); r.code != 200 || !strings.Contains(string(r.body), `"ip":"127.0.0.1"`) {
		t.Fatalf("before reload: %d %s, want 200 stored under the peer 127.0.0.1", r.code, r.body)
	}
	mu.Lock()
	limit, proxies = 1024, loopbackProxies()
	mu.Unlock()
	if r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader(body), hdr); r.code != http.StatusRequestEntityTooLarge {
		t.Fatalf("after lowering the limit: %d %s, want 413", r.code, r.body)
	}
	mu.Lock()
	limit = 1 << 20
	mu.Unlock()
	if r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader(body), hdr); r.code != 200 || !strings.Contains(string(r.body), `"ip":"10.1.2.3"`) {
		t.Fatalf("after trusting loopback: %d %s, want 200 stored under 10.1.2.3", r.code, r.body)
	}
}
