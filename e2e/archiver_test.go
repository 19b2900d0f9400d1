package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Every test here runs the real archiver binary against agents on their own
// loopback addresses (127.0.<test>.<n>), so tests run in parallel without
// sharing an address and every file lands under the agent's own IP.

func TestArchiverStaticAndFileSDAgents(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	static := archExporter(t, "127.0.1.2")
	fromFile := archExporter(t, "127.0.1.3")
	added := archExporter(t, "127.0.1.4")
	down := net.JoinHostPort("127.0.1.5", strconv.Itoa(FreePort(t, "127.0.1.5")))

	sd := filepath.Join(dir, "targets", "agents.yml")
	archWriteFile(t, sd, fmt.Sprintf("- targets: [%q]\n  labels: {env: sd}\n", fromFile))
	// refresh_interval is an hour: file changes must arrive through fsnotify.
	a := startArchiver(t, dir, fmt.Sprintf(`
scrape_interval: 1s
scrape_timeout: 900ms
static_configs:
  - targets: [%q, %q]
    labels: {env: static}
file_sd_configs:
  - files: ["targets/*.yml"]
    refresh_interval: 1h
`, static, down))

	a.waitLines(t, "127.0.1.2", 2)
	a.waitLines(t, "127.0.1.3", 2)
	for ip, want := range map[string]struct{ target, env string }{
		"127.0.1.2": {static, "static"},
		"127.0.1.3": {fromFile, "sd"},
	} {
		for _, line := range a.lines(t, ip) {
			l := archParseLine(t, line)
			if l.IP != ip || l.Target != want.target || l.Labels["env"] != want.env || l.Snapshot.SchemaVersion != 1 {
				t.Errorf("line under %s: ip %s target %s labels %v schema %d", ip, l.IP, l.Target, l.Labels, l.Snapshot.SchemaVersion)
			}
		}
	}
	var latest archLine
	if err := archAPIData(a.base+"/api/v1/snapshots/127.0.1.3/latest", &latest); err != nil {
		t.Fatal(err)
	}
	if latest.IP != "127.0.1.3" || latest.Target != fromFile || latest.Snapshot.SchemaVersion != 1 {
		t.Errorf("latest of 127.0.1.3: %+v", latest)
	}

	WaitFor(t, 20*time.Second, "the down agent reported down, the others up", func() error {
		ags, err := a.agents()
		if err != nil {
			return err
		}
		if d := ags[down]; d.Health != "down" || !strings.Contains(d.LastError, "refused") || d.IP != "127.0.1.5" {
			return fmt.Errorf("down agent: %+v", d)
		}
		for _, up := range []string{static, fromFile} {
			if ags[up].Health != "up" {
				return fmt.Errorf("agent %s: %+v", up, ags[up])
			}
		}
		return nil
	})
	if n := len(a.lines(t, "127.0.1.5")); n != 0 {
		t.Errorf("%d lines stored for the down agent", n)
	}

	// A broken file_sd file is rejected: its agents keep being scraped and
	// the reload metric says 0 until the file is fixed.
	archWriteFile(t, sd, fmt.Sprintf("- targets: [%q]\n  labelz: {env: sd}\n", added))
	WaitFor(t, 20*time.Second, "the broken file_sd file reported", func() error {
		if v, err := a.metric("archiver_config_last_reload_successful"); err != nil || v != 0 {
			return fmt.Errorf("reload successful %v (%v)", v, err)
		}
		return nil
	})
	a.waitLines(t, "127.0.1.3", len(a.lines(t, "127.0.1.3"))+2)

	archWriteFile(t, sd, fmt.Sprintf("- targets: [%q, %q]\n  labels: {env: sd}\n", fromFile, added))
	a.waitLines(t, "127.0.1.4", 2)
	if v, err := a.metric("archiver_config_last_reload_successful"); err != nil || v != 1 {
		t.Errorf("reload successful %v (%v) after the file_sd file was fixed", v, err)
	}

	archWriteFile(t, sd, fmt.Sprintf("- targets: [%q]\n  labels: {env: sd}\n", added))
	WaitFor(t, 20*time.Second, "the removed agent to leave /api/v1/agents", func() error {
		ags, err := a.agents()
		if err != nil {
			return err
		}
		if _, ok := ags[fromFile]; ok {
			return fmt.Errorf("%s still registered", fromFile)
		}
		return nil
	})
	removedAt := len(a.lines(t, "127.0.1.3"))
	a.waitLines(t, "127.0.1.2", len(a.lines(t, "127.0.1.2"))+3)
	// One scrape may have been in flight when the target was removed.
	if n := len(a.lines(t, "127.0.1.3")); n > removedAt+1 {
		t.Errorf("removed agent still archived: %d lines, %d at removal", n, removedAt)
	}
}

func TestArchiverMisbehavingAgentsDoNotDelayOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := archExporter(t, "127.0.2.2")
	hold := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
	}
	garbage := make([]byte, 4096)
	_, _ = rand.Read(garbage)
	big := archFakeSnapshot("big", 1<<20)
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	zw.Write(archFakeSnapshot("bomb", 4<<20))
	zw.Close()

	bad := map[string]struct {
		ip, errPart string
		h           http.HandlerFunc
	}{
		"hanging": {"127.0.2.3", "timed out", func(w http.ResponseWriter, r *http.Request) { hold(r) }},
		"slow": {"127.0.2.4", "timed out", func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i < 100 && r.Context().Err() == nil; i++ {
				w.Write([]byte(" "))
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		}},
		"garbage":   {"127.0.2.5", "invalid snapshot", func(w http.ResponseWriter, r *http.Request) { w.Write(garbage) }},
		"oversized": {"127.0.2.6", "too large", func(w http.ResponseWriter, r *http.Request) { w.Write(big) }},
		"gzip bomb": {"127.0.2.7", "too large", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(bomb.Bytes())
		}},
		"no schema": {"127.0.2.8", "schema_version", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"host":{}}`)) }},
		"error":     {"127.0.2.9", "500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }},
	}
	addrs := map[string]string{}
	quoted := []string{strconv.Quote(good)}
	for name, b := range bad {
		addrs[name] = archFakeAgent(t, b.ip, b.h)
		quoted = append(quoted, strconv.Quote(addrs[name]))
	}
	a := startArchiver(t, dir, fmt.Sprintf(`
scrape_interval: 1s
scrape_timeout: 500ms
body_size_limit: 256KiB
static_configs:
  - targets: [%s]
`, strings.Join(quoted, ", ")))

	WaitFor(t, 30*time.Second, "every misbehaving agent recorded down with its reason", func() error {
		ags, err := a.agents()
		if err != nil {
			return err
		}
		for name, b := range bad {
			ag := ags[addrs[name]]
			if ag.Health != "down" || !strings.Contains(ag.LastError, b.errPart) {
				return fmt.Errorf("%s agent: %+v, want down with %q", name, ag, b.errPart)
			}
		}
		return nil
	})
	for name, b := range bad {
		if n := len(a.lines(t, b.ip)); n != 0 {
			t.Errorf("%s agent: %d lines stored", name, n)
		}
	}
	for _, result := range []string{"timeout", "invalid", "too_large", "http_status"} {
		if v, err := a.metric(`archiver_scrapes_total{result="` + result + `"}`); err != nil || v < 1 {
			t.Errorf("scrapes with result %s: %v (%v)", result, v, err)
		}
	}

	// The good agent keeps its own schedule. Were it queued behind the
	// misbehaving ones it would wait for their timeouts (seven agents,
	// 3.5 s per round) every time; the median gap between its snapshots
	// must stay near the 1 s interval (a loaded CI machine may stretch a
	// few gaps, not most of them).
	a.waitLines(t, "127.0.2.2", len(a.lines(t, "127.0.2.2"))+6)
	var gaps []time.Duration
	var prev time.Time
	for _, line := range a.lines(t, "127.0.2.2") {
		l := archParseLine(t, line)
		if !prev.IsZero() {
			gaps = append(gaps, l.ScrapedAt.Sub(prev))
		}
		prev = l.ScrapedAt
	}
	slices.Sort(gaps)
	if median := gaps[len(gaps)/2]; median > 1500*time.Millisecond {
		t.Errorf("good agent delayed: median gap %v between its snapshots (all: %v)", median, gaps)
	}
}

// TestArchiverKill9KeepsEveryCompleteLine kills the archiver during heavy
// writing. What kill -9 guarantees (unlike a power cut, where only fsynced
// data survives, which a test cannot stage) is every byte the kernel already
// accepted: every line complete on disk just before the kill must still be
// there, unchanged and in order, after a restart. A line being written at
// the kill may be cut short (Linux stops a large write between pages on a
// fatal signal), so a torn tail is planted as well, to check that the
// restart cuts it and never serves it.
func TestArchiverKill9KeepsEveryCompleteLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	const agents = 40
	var quoted []string
	for i := range agents {
		body := archFakeSnapshot(fmt.Sprintf("agent-%d", i), 20<<10)
		addr := archFakeAgent(t, fmt.Sprintf("127.0.3.%d", i+2), func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
		quoted = append(quoted, strconv.Quote(addr))
	}
	a := startArchiver(t, dir, fmt.Sprintf(`
scrape_interval: 200ms
scrape_timeout: 150ms
static_configs:
  - targets: [%s]
`, strings.Join(quoted, ", ")))

	WaitFor(t, 30*time.Second, "heavy writing", func() error {
		n := 0
		for i := range agents {
			n += len(a.lines(t, fmt.Sprintf("127.0.3.%d", i+2)))
		}
		if n < 10*agents {
			return fmt.Errorf("%d lines", n)
		}
		return nil
	})
	files, _ := filepath.Glob(filepath.Join(a.data, "*", "*.jsonl"))
	before := map[string][]byte{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		before[f] = b[:bytes.LastIndexByte(b, '\n')+1]
	}
	if err := a.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.Kill()

	torn := files[0]
	f, err := os.OpenFile(torn, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(`{"ip":"127.0.3.2","target":"127.0.3.2:1","labels":{},"scraped_at":"2026-`))
	f.Close()

	// Restart with no agents so the files hold still while they are checked.
	archWriteFile(t, a.config, "scrape_interval: 1s\n")
	a.restart(t)
	if v, err := a.metric("archiver_torn_lines_cut_total"); err != nil || v < 1 {
		t.Errorf("torn lines cut: %v (%v), want >= 1", v, err)
	}
	kept := 0
	for f, old := range before {
		now, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(now, old) {
			t.Errorf("%s: %d bytes of complete lines before the kill are not a prefix of the %d bytes after restart", f, len(old), len(now))
		}
		if len(now) > 0 && now[len(now)-1] != '\n' {
			t.Errorf("%s: torn last line survived the restart", f)
		}
		for line := range bytes.Lines(now) {
			if l := archParseLine(t, line); l.Snapshot.SchemaVersion != 1 || !strings.HasPrefix(l.IP, "127.0.3.") {
				t.Errorf("%s: bad line %.120q", f, line)
			}
			kept++
		}
	}
	t.Logf("%d files, %d lines after restart", len(before), kept)

	// The API serves every line of a day file, the planted torn one excepted.
	ip := filepath.Base(filepath.Dir(torn))
	day := strings.TrimSuffix(filepath.Base(torn), ".jsonl")
	onDisk := bytes.Count(mustRead(t, torn), []byte("\n"))
	status, body := Get(t, a.base+"/api/v1/snapshots/"+ip+"/"+day)
	if status != http.StatusOK {
		t.Fatalf("day query: status %d: %.200s", status, body)
	}
	var served struct {
		Data []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &served); err != nil {
		t.Fatalf("day query is not one JSON document: %v", err)
	}
	if len(served.Data) != onDisk {
		t.Errorf("day query served %d snapshots, %d lines on disk", len(served.Data), onDisk)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestArchiverHostileQueryParameters(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := archFakeSnapshot("q", 2<<10)
	agent := archFakeAgent(t, "127.0.4.2", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	a := startArchiver(t, dir, fmt.Sprintf("scrape_interval: 1s\nstatic_configs:\n  - targets: [%q]\n", agent))
	a.waitLines(t, "127.0.4.2", 1)
	// A file outside storage that a traversal would reach.
	archWriteFile(t, filepath.Join(dir, "secret.jsonl"), `{"secret":true}`+"\n")
	today := time.Now().UTC().Format(time.DateOnly)

	for _, ok := range []string{
		"/api/v1/snapshots/127.0.4.2/latest",
		"/api/v1/snapshots/127.0.4.2/" + today + "?limit=1",
		"/api/v1/files?ip=127.0.4.2",
	} {
		if status, b := Get(t, a.base+ok); status != http.StatusOK {
			t.Errorf("GET %s: status %d: %.200s", ok, status, b)
		}
	}
	for _, path := range []string{
		"/api/v1/snapshots/..%2F..%2Fsecret/latest",
		"/api/v1/snapshots/127.0.4.2/..%2F..%2Fsecret",
		"/api/v1/snapshots/%2e%2e/latest",
		"/api/v1/snapshots/%2e%2e/%2e%2e",
		"/api/v1/snapshots/127.0.4.2/%2e%2e%2fsecret",
		"/api/v1/snapshots/..%252F..%252Fsecret/latest",
		"/api/v1/snapshots/127.0.4.2%2F..%2F..%2F/latest",
		"/api/v1/snapshots/127.0.4.2%00/latest",
		"/api/v1/snapshots/fe80::1%25eth0/latest",
		"/api/v1/snapshots/fe80::1%25..%2F..%2F/latest",
		"/api/v1/snapshots/not-an-ip/latest",
		"/api/v1/snapshots/127.0.4.002/latest",
		"/api/v1/snapshots/127.0.4.3/latest",
		"/api/v1/snapshots/127.0.4.2/2026-02-30",
		"/api/v1/snapshots/127.0.4.2/20260101",
		"/api/v1/snapshots/127.0.4.2/" + today + ".jsonl",
		"/api/v1/snapshots/127.0.4.2/" + strings.Repeat("9", 4096),
		"/api/v1/snapshots/127.0.4.2/" + today + "?limit=-1",
		"/api/v1/snapshots/127.0.4.2/" + today + "?limit=abc",
		"/api/v1/snapshots/127.0.4.2/" + today + "?from=yesterday",
		"/api/v1/snapshots/127.0.4.2/" + today + "?to=2026-01-01T00:00:00",
		"/api/v1/files?ip=..%2F..%2Fsecret",
		"/api/v1/files?ip=127.0.4.2%2F..",
		"/api/v1/snapshots/127.0.4.2/latest/../../../../secret.jsonl",
		"/api/v1/nothing-here",
	} {
		status, b := Get(t, a.base+path)
		if status < 400 || status > 499 {
			t.Errorf("GET %s: status %d, want 4xx: %.200s", path, status, b)
		}
		if bytes.Contains(b, []byte("secret")) && !bytes.Contains(b, []byte(`"error"`)) {
			t.Errorf("GET %s served a file outside storage: %.200s", path, b)
		}
		// A raw ../ is cleaned (and redirected) out of /api/v1/ by the mux.
		if strings.HasPrefix(path, "/api/v1/") && !strings.Contains(path, "/../") && !bytes.Contains(b, []byte(`"status":"error"`)) {
			t.Errorf("GET %s: not an API error envelope: %.200s", path, b)
		}
	}
	if a.Exited() {
		t.Fatal("archiver died on hostile queries")
	}
}

func TestArchiverReloadAndShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := archFakeSnapshot("r", 2<<10)
	first := archFakeAgent(t, "127.0.5.2", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	second := archFakeAgent(t, "127.0.5.3", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	good := fmt.Sprintf("scrape_interval: 1s\nstatic_configs:\n  - targets: [%q]\n", first)

	// A bad config at start-up is fatal, with the file and line named.
	badStart := filepath.Join(dir, "bad-start.yml")
	archWriteFile(t, badStart, "scrape_interval: 1s\nscrape_intervall: 2s\n")
	p := Start(t, Binary(t, "archiver"), "--config.file="+badStart, "--storage.path="+filepath.Join(dir, "bad-data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(FreePort(t, "127.0.0.1")))
	if err := p.Wait(t, 20*time.Second); err == nil {
		t.Error("archiver started with an unknown config key")
	}
	if out := p.Output(); !strings.Contains(out, "bad-start.yml") || !strings.Contains(out, "line 2") {
		t.Errorf("start-up error does not name the file and line:\n%s", out)
	}

	// Reloads here come only from SIGHUP and POST /-/reload.
	a := startArchiver(t, dir, good, "--config.auto-reload-interval=0", "--web.enable-lifecycle")
	a.waitLines(t, "127.0.5.2", 1)
	if v, err := a.metric("archiver_config_last_reload_successful"); err != nil || v != 1 {
		t.Errorf("reload successful %v (%v), want 1 after start", v, err)
	}

	// SIGHUP with a broken file: rejected, the old config keeps scraping.
	archWriteFile(t, a.config, good+"  - targets: [\"no-port\"]\n")
	if err := a.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, 10*time.Second, "reload failure reported", func() error {
		if v, err := a.metric("archiver_config_last_reload_successful"); err != nil || v != 0 {
			return fmt.Errorf("reload successful %v (%v)", v, err)
		}
		return nil
	})
	a.waitLines(t, "127.0.5.2", len(a.lines(t, "127.0.5.2"))+2)

	resp, err := http.Post(a.base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(string(msg), "no-port") {
		t.Errorf("POST /-/reload with a bad config: %d %s", resp.StatusCode, msg)
	}

	// A good file through POST /-/reload: the new agent is archived.
	archWriteFile(t, a.config, fmt.Sprintf("scrape_interval: 1s\nstatic_configs:\n  - targets: [%q, %q]\n", first, second))
	resp, err = http.Post(a.base+"/-/reload", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST /-/reload: status %d", resp.StatusCode)
	}
	if v, err := a.metric("archiver_config_last_reload_successful"); err != nil || v != 1 {
		t.Errorf("reload successful %v (%v), want 1", v, err)
	}
	if v, err := a.metric("archiver_config_last_reload_success_timestamp_seconds"); err != nil || time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("reload timestamp %v (%v)", v, err)
	}
	a.waitLines(t, "127.0.5.3", 1)

	// SIGTERM: a clean exit with every file ending in a whole line.
	if err := a.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := a.Wait(t, 30*time.Second); err != nil {
		t.Errorf("exit after SIGTERM: %v", err)
	}
	for _, ip := range []string{"127.0.5.2", "127.0.5.3"} {
		for _, line := range a.lines(t, ip) {
			archParseLine(t, line)
		}
	}
}

func TestArchiverConfigEditAppliesWithoutSignal(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := archFakeSnapshot("e", 2<<10)
	first := archFakeAgent(t, "127.0.6.2", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	second := archFakeAgent(t, "127.0.6.3", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	a := startArchiver(t, dir, fmt.Sprintf("scrape_interval: 1s\nstatic_configs:\n  - targets: [%q]\n", first),
		"--config.auto-reload-interval=200ms")
	a.waitLines(t, "127.0.6.2", 1)

	archWriteFile(t, a.config, fmt.Sprintf("scrape_interval: 1s\nstatic_configs:\n  - targets: [%q, %q]\n", first, second))
	a.waitLines(t, "127.0.6.3", 1)
	if v, err := a.metric("archiver_config_last_reload_successful"); err != nil || v != 1 {
		t.Errorf("reload successful %v (%v), want 1", v, err)
	}
}

// TestArchiverAuthBothWays: the archiver presents a bearer token to agents
// (http_client) and demands basic auth from its own clients (web config).
func TestArchiverAuthBothWays(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	body := archFakeSnapshot("auth", 2<<10)
	agent := archFakeAgent(t, "127.0.7.2", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Write(body)
	})
	archWriteFile(t, filepath.Join(dir, "agent.token"), "s3cret\n")
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	archWriteFile(t, filepath.Join(dir, "web.yml"), fmt.Sprintf("basic_auth_users:\n  admin: %s\n", hash))
	archWriteFile(t, filepath.Join(dir, "archiver.yml"), fmt.Sprintf(`
scrape_interval: 1s
static_configs:
  - targets: [%q]
http_client:
  authorization: {credentials_file: agent.token}
`, agent))
	port := FreePort(t, "127.0.0.1")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	p := Start(t, Binary(t, "archiver"),
		"--config.file="+filepath.Join(dir, "archiver.yml"),
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.config.file="+filepath.Join(dir, "web.yml"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))

	get := func(path string, auth bool) (int, error) {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		if auth {
			req.SetBasicAuth("admin", "pw")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	WaitFor(t, 20*time.Second, "the archiver to answer with credentials", func() error {
		if p.Exited() {
			t.Fatalf("archiver exited:\n%s", p.Output())
		}
		if code, err := get("/readyz", true); err != nil || code != http.StatusOK {
			return fmt.Errorf("status %d (%v)", code, err)
		}
		return nil
	})
	for _, path := range []string{"/metrics", "/api/v1/agents", "/api/v1/files"} {
		if code, err := get(path, false); err != nil || code != http.StatusUnauthorized {
			t.Errorf("GET %s without credentials: %d (%v), want 401", path, code, err)
		}
	}
	WaitFor(t, 20*time.Second, "a snapshot taken with the bearer token", func() error {
		files, _ := filepath.Glob(filepath.Join(dir, "data", "127.0.7.2", "*.jsonl"))
		if len(files) == 0 {
			return errors.New("no file for 127.0.7.2")
		}
		return nil
	})
}
