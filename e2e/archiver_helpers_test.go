package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// archiverProc is a running archiver with its config file and data directory.
type archiverProc struct {
	*Proc
	base   string // http://127.0.0.1:port
	config string
	data   string
	args   []string
}

// startArchiver writes cfg to dir/archiver.yml and runs the archiver on it
// with its data in dir/data, waiting until it answers /readyz.
func startArchiver(t *testing.T, dir, cfg string, extra ...string) *archiverProc {
	t.Helper()
	a := &archiverProc{config: filepath.Join(dir, "archiver.yml"), data: filepath.Join(dir, "data")}
	if cfg != "" {
		archWriteFile(t, a.config, cfg)
	}
	port := FreePort(t, "127.0.0.1")
	a.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	a.args = append([]string{
		"--config.file=" + a.config,
		"--storage.path=" + a.data,
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port),
		"--log.level=debug",
	}, extra...)
	a.restart(t)
	return a
}

// restart starts the archiver again with the same flags (after a kill).
func (a *archiverProc) restart(t *testing.T) {
	t.Helper()
	a.Proc = Start(t, Binary(t, "archiver"), a.args...)
	WaitHTTP(t, a.Proc, a.base+"/readyz")
}

// archExporter runs the real exporter on ip and returns its "ip:port".
func archExporter(t *testing.T, ip string) string {
	t.Helper()
	addr := net.JoinHostPort(ip, strconv.Itoa(FreePort(t, ip)))
	p := Start(t, Binary(t, "exporter"), "--web.listen-address="+addr)
	WaitHTTP(t, p, "http://"+addr+"/snapshot")
	return addr
}

// archFakeAgent serves h on ip, for agents no real exporter can imitate
// (hanging, garbage, oversized). It stops when the test ends.
func archFakeAgent(t *testing.T, ip string, h http.HandlerFunc) string {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return l.Addr().String()
}

func archWriteFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// archAgentInfo mirrors one entry of /api/v1/agents.
type archAgentInfo struct {
	Target    string            `json:"target"`
	IP        string            `json:"ip"`
	Labels    map[string]string `json:"labels"`
	Health    string            `json:"health"`
	LastError string            `json:"last_error"`
}

// archAPIData fetches an API URL and decodes the envelope's data into v; it
// returns an error (not a test failure) so it can sit inside WaitFor.
func archAPIData(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var env struct {
		Status string          `json:"status"`
		Data   json.RawMessage `json:"data"`
		Error  string          `json:"error"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("GET %s: status %d, decode: %w", url, resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || env.Status != "success" {
		return fmt.Errorf("GET %s: status %d: %s", url, resp.StatusCode, env.Error)
	}
	return json.Unmarshal(env.Data, v)
}

func (a *archiverProc) agents() (map[string]archAgentInfo, error) {
	var list []archAgentInfo
	if err := archAPIData(a.base+"/api/v1/agents", &list); err != nil {
		return nil, err
	}
	out := map[string]archAgentInfo{}
	for _, ag := range list {
		out[ag.Target] = ag
	}
	return out, nil
}

// lines returns the lines stored for ip, across all its day files, read
// straight from disk.
func (a *archiverProc) lines(t *testing.T, ip string) [][]byte {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(a.data, ip, "*.jsonl"))
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for line := range bytes.Lines(b) {
			out = append(out, line)
		}
	}
	return out
}

// waitLines waits until at least n lines are stored for ip.
func (a *archiverProc) waitLines(t *testing.T, ip string, n int) {
	t.Helper()
	WaitFor(t, 30*time.Second, fmt.Sprintf("%d lines for %s", n, ip), func() error {
		if got := len(a.lines(t, ip)); got < n {
			return fmt.Errorf("%d lines", got)
		}
		return nil
	})
}

// metric returns the value of the first sample of /metrics whose name and
// labels start with series, e.g. `archiver_scrapes_total{result="timeout"}`.
func (a *archiverProc) metric(series string) (float64, error) {
	resp, err := http.Get(a.base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, series+" ") {
			return strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, series)), 64)
		}
	}
	return 0, fmt.Errorf("no sample %s in /metrics", series)
}

// archLine is the part of an archived line the tests look at.
type archLine struct {
	IP        string            `json:"ip"`
	Target    string            `json:"target"`
	Labels    map[string]string `json:"labels"`
	ScrapedAt time.Time         `json:"scraped_at"`
	Snapshot  struct {
		SchemaVersion int `json:"schema_version"`
	} `json:"snapshot"`
}

func archParseLine(t *testing.T, line []byte) archLine {
	t.Helper()
	var l archLine
	if err := json.Unmarshal(line, &l); err != nil {
		t.Fatalf("stored line is not valid JSON: %v: %.200q", err, line)
	}
	return l
}

// archFakeSnapshot is a valid snapshot of about size bytes, with enough
// process entries to look like a real one.
func archFakeSnapshot(host string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"schema_version":1,"collected_at":"%s","agent":{"version":"e2e"},"host":{"hostname":%q},"users":[],"processes":[`, time.Now().UTC().Format(time.RFC3339), host)
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"pid":%d,"name":"proc-%d","cmdline":"/usr/bin/proc-%d --flag=%d"}`, i+1, i, i, i*7)
	}
	b.WriteString("]}")
	return b.Bytes()
}
