package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/prexmon/prexmon/exporter/snapshot"
	"github.com/prexmon/prexmon/tools/fakeagent/agent"
)

// TestBrowser drives the archiver's page in headless Chromium with read
// tokens set: the token prompt, the agents list (a real exporter, a down
// agent, and an imitation server from tools/fakeagent, whose made-up
// processes are what the screenshots show), the agent view, sorting, an
// earlier moment, the compare view showing a process started and a user
// logged in between, and a fleet search for that process. Screenshots go to
// $PREXMON_SCREENSHOTS (docs/screenshots when refreshing the README's) or
// the test's temporary directory.
func TestBrowser(t *testing.T) {
	browser := NeedCommand(t, "chromium")
	dir := t.TempDir()
	const token = "browser-read-token"
	archWriteFile(t, filepath.Join(dir, "read_tokens"), token+"\n")
	real := archExporter(t, "127.0.0.1")
	down := archFakeAgent(t, "127.0.0.2", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "maintenance", 503) })
	var compromised atomic.Pointer[time.Time] // when the miner started
	// The generator derives start times from the clock, so one machine's
	// processes, sessions and boot time are taken from a single snapshot:
	// only then does a diff show just what really started.
	base := agent.Generate(7, time.Now())
	fake := archFakeAgent(t, "127.0.0.3", func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		s := agent.Generate(7, now)
		s.Host, s.Users, s.Processes = base.Host, slices.Clone(base.Users), slices.Clone(base.Processes)
		if at := compromised.Load(); at != nil {
			s.Processes = append(s.Processes, snapshot.Process{PID: 31337, PPID: 1, Name: "kworker/u9:1", User: "www-data", State: "R",
				Cmdline: "/tmp/.cache/xmrig -o pool.example.net:3333 --donate-level 1", StartedAt: *at,
				CPUPercent: 180, RSSBytes: 2400 << 20, Threads: 4})
			s.Users = append(s.Users, snapshot.User{User: "mallory", Terminal: "pts/7", Host: "203.0.113.66", StartedAt: *at})
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s)
	})
	a := startArchiver(t, dir, fmt.Sprintf(`
scrape_interval: 1s
scrape_timeout: 900ms
static_configs:
  - targets: [%q, %q, %q]
    labels: {env: e2e}
api:
  read_tokens_file: read_tokens
`, real, down, fake))

	authGet := func(path string) (int, string, error) {
		req, _ := http.NewRequest("GET", a.base+path, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	latestHas := func(ip, s string) error {
		code, body, err := authGet("/api/v1/snapshots/" + ip + "/latest")
		if err != nil {
			return err
		}
		if code != 200 || !strings.Contains(body, s) {
			return fmt.Errorf("latest snapshot of %s (%d) lacks %q", ip, code, s)
		}
		return nil
	}
	WaitFor(t, 30*time.Second, "the exporter's first snapshot", func() error { return latestHas("127.0.0.1", `"processes"`) })
	WaitFor(t, 30*time.Second, "the imitation's first snapshot", func() error { return latestHas("127.0.0.3", `"processes"`) })
	WaitFor(t, 30*time.Second, "the down agent's error", func() error {
		_, body, err := authGet("/api/v1/agents")
		if err == nil && !strings.Contains(body, "503") {
			err = fmt.Errorf("agents: %s", body)
		}
		return err
	})
	// A moment before the miner, then the miner.
	_, before, err := authGet("/api/v1/snapshots/127.0.0.3/" + time.Now().UTC().Format(time.DateOnly) + "?fields=scraped_at")
	if err != nil {
		t.Fatal(err)
	}
	earlier := lastTime(before)
	if earlier == "" {
		t.Fatalf("no moment listed before the miner: %s", before)
	}
	at := time.Now().UTC().Truncate(time.Second)
	compromised.Store(&at)
	WaitFor(t, 30*time.Second, "a snapshot with the miner", func() error { return latestHas("127.0.0.3", "xmrig") })

	shots := os.Getenv("PREXMON_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, acancel := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(browser),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1400, 1100),
	)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	// Each step gets its own deadline, derived from the tab's context once
	// the browser runs, so a step that waits in vain fails alone and fast.
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	do := func(step string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 20*time.Second)
		defer scancel()
		if err := chromedp.Do(sctx, steps...); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		sctx, scancel := context.WithTimeout(bctx, 10*time.Second)
		defer scancel()
		s, err := chromedp.Run(sctx, chromedp.Text(css(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v", sel, err)
		}
		return s
	}
	eval := func(js string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return s
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	do("open the page and give the token",
		chromedp.Navigate(a.base+"/"),
		chromedp.WaitVisible(css("#auth")),
		chromedp.SendKeys(css("#token"), token),
		chromedp.Click(css("#auth-form button")),
		chromedp.WaitVisible(css(`#agents tbody tr[data-ip="127.0.0.2"]`)),
		chromedp.WaitVisible(css(`#agents tbody tr[data-ip="127.0.0.1"]`)),
		chromedp.WaitVisible(css(`#agents tbody tr[data-ip="127.0.0.3"]`)),
	)
	if row := text(`#agents tbody tr[data-ip="127.0.0.2"]`); !strings.Contains(row, "down") || !strings.Contains(row, "503") {
		t.Errorf("down agent row %q lacks its health and error", row)
	}
	if row := text(`#agents tbody tr[data-ip="127.0.0.1"]`); !strings.Contains(row, "up") || !strings.Contains(row, "env=e2e") {
		t.Errorf("exporter row %q lacks its health and labels", row)
	}
	shot("agents")
	do("filter the agents",
		chromedp.SendKeys(css("#agent-filter"), "503"),
		chromedp.WaitNotVisible(css(`#agents tbody tr[data-ip="127.0.0.1"]`)),
		chromedp.WaitVisible(css(`#agents tbody tr[data-ip="127.0.0.2"]`)),
	)
	eval(`(() => { const f = document.querySelector("#agent-filter"); f.value = ""; f.dispatchEvent(new Event("input")); return "" })()`)

	do("open the real exporter's agent view",
		chromedp.WaitVisible(css(`#agents tbody tr[data-ip="127.0.0.1"]`)),
		chromedp.Click(css(`#agents tbody tr[data-ip="127.0.0.1"]`)),
		chromedp.WaitVisible(css(`#processes tbody tr`)),
	)
	if host := text("#host"); !strings.Contains(host, "Kernel") {
		t.Errorf("host facts %q", host)
	}
	if loc, err := chromedp.Run(bctx, chromedp.Location()); err != nil || !strings.Contains(loc, "ip=127.0.0.1") {
		t.Errorf("location %s (%v) lacks ip=127.0.0.1", loc, err)
	}

	do("open the imitation by its bookmark and sort by memory",
		chromedp.Navigate(a.base+"/?ip=127.0.0.3"),
		chromedp.WaitVisible(css(`#processes tbody tr`)),
		chromedp.Click(css(`#processes button[data-sort="mem"]`)),
		chromedp.WaitVisible(css(`#processes[data-sort="mem"]`)),
	)
	sorted := eval(`[...document.querySelectorAll("#processes tbody tr")].slice(0, 8).map(r => r.children[4].textContent).join("|")`)
	if !sortedBytes(strings.Split(sorted, "|")) {
		t.Errorf("memory column not sorted descending: %q", sorted)
	}
	shot("agent")
	eval(`(() => { document.querySelector("#processes").parentElement.scrollIntoView(); return "" })()`)
	shot("processes")
	eval(`(() => { window.scrollTo(0, 0); return "" })()`)

	if shown := eval(fmt.Sprintf(`(() => { const s = document.querySelector("#moment"); s.value = %q; s.dispatchEvent(new Event("change")); return s.value })()`, earlier)); shown != earlier {
		t.Fatalf("moment %q not in the picker (got %q)", earlier, shown)
	}
	want := strings.Replace(strings.TrimSuffix(strings.SplitN(earlier, ".", 2)[0], "Z"), "T", " ", 1)
	WaitFor(t, 20*time.Second, "the earlier snapshot shown", func() error {
		if s := text("#shown-at"); !strings.Contains(s, want) {
			return fmt.Errorf("shown %q, want %q", s, want)
		}
		return nil
	})
	if procs := text("#processes tbody"); strings.Contains(procs, "xmrig") {
		t.Error("the earlier snapshot shows the miner")
	}
	eval(`(() => { const s = document.querySelector("#cmp-moment"); s.value = s.options[s.options.length-1].value; return s.value })()`)
	do("compare with the latest moment",
		chromedp.Click(css("#compare")),
		chromedp.WaitVisible(css("#compare-view")),
		chromedp.WaitVisible(css(`#processes tr.started`)),
	)
	if started := text("#started"); !strings.Contains(started, "xmrig -o pool.example.net") {
		t.Errorf("started processes %q lack the miner", started)
	}
	if in := text("#logged-in"); !strings.Contains(in, "mallory pts/7") {
		t.Errorf("users logged in %q lack mallory", in)
	}
	if hl := text(`#processes tr.started`); !strings.Contains(hl, "xmrig") {
		t.Errorf("highlighted row %q is not the miner", hl)
	}
	shot("compare")

	do("fleet search",
		chromedp.Click(css("#back")),
		chromedp.WaitVisible(css("#search-form")),
		chromedp.SendKeys(css("#search-text"), `xmrig|minerd`),
		chromedp.Click(css("#search-form button")),
		chromedp.WaitVisible(css(`#search-results[data-count="1"]`)),
	)
	if hits := text("#search-results tbody"); !strings.Contains(hits, "127.0.0.3") || !strings.Contains(hits, "31337 kworker/u9:1") {
		t.Errorf("search results %q lack the agent or the miner", hits)
	}
	shot("search")
	// The page itself reads nothing without the token.
	if code, _ := Get(t, a.base+"/api/v1/search?date="+time.Now().UTC().Format(time.DateOnly)+"&process=xmrig"); code != 401 {
		t.Errorf("search without token: %d, want 401", code)
	}
}

// lastTime is the latest scraped_at of a fields=scraped_at day answer.
func lastTime(body string) string {
	var env struct {
		Data []struct {
			ScrapedAt string `json:"scraped_at"`
		} `json:"data"`
	}
	if json.Unmarshal([]byte(body), &env) != nil {
		return ""
	}
	last := ""
	for _, d := range env.Data {
		if d.ScrapedAt > last {
			last = d.ScrapedAt
		}
	}
	return last
}

// sortedBytes reports whether sizes the page wrote ("12.5 MiB") are in
// descending order.
func sortedBytes(sizes []string) bool {
	units := map[string]float64{"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
	prev := -1.0
	for _, s := range sizes {
		num, unit, ok := strings.Cut(strings.TrimSpace(s), " ")
		n, err := strconv.ParseFloat(num, 64)
		if !ok || err != nil || units[unit] == 0 {
			return false
		}
		v := n * units[unit]
		if prev >= 0 && v > prev {
			return false
		}
		prev = v
	}
	return len(sizes) > 1
}
