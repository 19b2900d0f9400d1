//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// stackDir lays out a temporary copy of the repository's monitoring files
// with the same relative paths (prometheus.yml, archiver.yml,
// deploy/targets/agents.yml, deploy/prometheus/...), so the configs are the
// shipped ones with only addresses and intervals changed.
type stackDir struct {
	t   *testing.T
	dir string
}

func newStackDir(t *testing.T) *stackDir {
	t.Helper()
	return &stackDir{t: t, dir: t.TempDir()}
}

func (s *stackDir) path(rel string) string { return filepath.Join(s.dir, filepath.FromSlash(rel)) }

func (s *stackDir) write(rel string, data []byte) {
	s.t.Helper()
	p := s.path(rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stackDir) copyFromRepo(rel string) {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(), filepath.FromSlash(rel)))
	if err != nil {
		s.t.Fatal(err)
	}
	s.write(rel, data)
}

// targets writes a file_sd file listing addrs.
func (s *stackDir) targets(rel string, addrs ...string) {
	s.t.Helper()
	groups := []map[string]any{}
	if len(addrs) > 0 {
		groups = append(groups, map[string]any{"targets": addrs, "labels": map[string]string{"env": "e2e"}})
	}
	data, err := yaml.Marshal(groups)
	if err != nil {
		s.t.Fatal(err)
	}
	s.write(rel, data)
}

// rewriteYAML loads a shipped YAML file into a generic map, lets edit
// change it, and writes the result to the same relative path.
func (s *stackDir) rewriteYAML(rel string, edit func(m map[string]any)) {
	s.t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(), filepath.FromSlash(rel)))
	if err != nil {
		s.t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(data, &m); err != nil {
		s.t.Fatalf("parse %s: %v", rel, err)
	}
	edit(m)
	out, err := yaml.Marshal(m)
	if err != nil {
		s.t.Fatal(err)
	}
	s.write(rel, out)
}

var (
	buildCheckMu sync.Mutex
	buildChecked = map[string]error{}
)

// canBuild reports whether ./pkg compiles, so a part of the stack that is
// not written yet can be skipped with a clear message instead of failing.
// The answer is kept for the whole test binary.
func canBuild(t *testing.T, pkg string) error {
	t.Helper()
	buildCheckMu.Lock()
	defer buildCheckMu.Unlock()
	if err, ok := buildChecked[pkg]; ok {
		return err
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, "./"+pkg)
	cmd.Dir = RepoRoot()
	var err error
	if out, e := cmd.CombinedOutput(); e != nil {
		err = fmt.Errorf("%v: %s", e, strings.TrimSpace(string(out)))
	}
	buildChecked[pkg] = err
	return err
}

// promClient talks to the Prometheus HTTP API.
type promClient struct {
	base string
	hc   *http.Client
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

type promResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

func (c promClient) get(path string, params url.Values) (json.RawMessage, error) {
	resp, err := c.hc.Get(c.base + path + "?" + params.Encode())
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	var r promResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("%s: status %d, body %.200q: %w", path, resp.StatusCode, body, err)
	}
	if r.Status != "success" {
		return nil, fmt.Errorf("%s: %s: %s", path, r.ErrorType, r.Error)
	}
	return r.Data, nil
}

// query runs an instant query and returns its samples; scalar results
// count as one sample.
func (c promClient) query(expr string) ([]promSample, error) {
	data, err := c.get("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	var res struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, fmt.Errorf("decode result of %q: %w", expr, err)
	}
	switch res.ResultType {
	case "vector":
		var ss []promSample
		err := json.Unmarshal(res.Result, &ss)
		return ss, err
	case "scalar":
		return []promSample{{}}, nil
	default:
		return nil, fmt.Errorf("%q: unexpected result type %s", expr, res.ResultType)
	}
}

// queryRange runs expr over the last span at step, the way a Grafana time
// series panel does, and reports how many series came back.
func (c promClient) queryRange(expr string, span, step time.Duration) (int, error) {
	now := time.Now()
	data, err := c.get("/api/v1/query_range", url.Values{
		"query": {expr},
		"start": {fmt.Sprint(now.Add(-span).Unix())},
		"end":   {fmt.Sprint(now.Unix())},
		"step":  {step.String()},
	})
	if err != nil {
		return 0, err
	}
	var res struct {
		Result []json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &res); err != nil {
		return 0, fmt.Errorf("decode range result of %q: %w", expr, err)
	}
	return len(res.Result), nil
}

// scrapeNames fetches a /metrics page and returns the sample names on it.
func scrapeNames(t *testing.T, metricsURL string) map[string]bool {
	t.Helper()
	code, body := Get(t, metricsURL)
	if code != http.StatusOK {
		t.Fatalf("GET %s: status %d", metricsURL, code)
	}
	names := map[string]bool{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// ruleExprs reads every rule of a rule file: record or alert name and expr
// (a second rule of one alert name as name#2).
func ruleExprs(t *testing.T, rel string) (records map[string]string, alerts map[string]string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(RepoRoot(), filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct {
				Record string `yaml:"record"`
				Alert  string `yaml:"alert"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("parse %s: %v", rel, err)
	}
	records, alerts = map[string]string{}, map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.Record != "" {
				records[r.Record] = r.Expr
			} else {
				// The warning and critical tiers of an alert share its name.
				key := r.Alert
				for i := 2; alerts[key] != ""; i++ {
					key = fmt.Sprintf("%s#%d", r.Alert, i)
				}
				alerts[key] = r.Expr
			}
		}
	}
	return records, alerts
}

func newHTTPClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }

func jsonUnmarshal(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	return nil
}

// alertSink stands in for Alertmanager: it accepts Prometheus' alert posts
// (POST /api/v2/alerts) on loopback and keeps each alert's labels.
type alertSink struct {
	addr   string
	mu     sync.Mutex
	alerts []map[string]string
}

func newAlertSink(t *testing.T) *alertSink {
	t.Helper()
	a := &alertSink{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v2/alerts" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		var posted []struct {
			Labels map[string]string `json:"labels"`
		}
		if err := json.NewDecoder(r.Body).Decode(&posted); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		a.mu.Lock()
		for _, p := range posted {
			a.alerts = append(a.alerts, p.Labels)
		}
		a.mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)
	a.addr = strings.TrimPrefix(srv.URL, "http://")
	return a
}

func (a *alertSink) received() []map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]map[string]string(nil), a.alerts...)
}
