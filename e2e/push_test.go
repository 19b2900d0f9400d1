//go:build linux

package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExporterPushOnce pushes a real exporter's snapshot into a real
// archiver, as an agent behind NAT would, and checks both a good and a bad
// token.
func TestExporterPushOnce(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "push.tokens")
	if err := os.WriteFile(tokens, []byte("good-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	arch := startArchiver(t, dir, fmt.Sprintf("scrape_interval: 60s\napi:\n  write_tokens_file: %s\n", tokens))
	addr, data := strings.TrimPrefix(arch.base, "http://"), arch.data

	exporter := Binary(t, "exporter")
	push := func(token string) (*Proc, error) {
		tokFile := filepath.Join(dir, "agent.token")
		if err := os.WriteFile(tokFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		p := Start(t, exporter, "--push.once", "--push.url=http://"+addr, "--push.bearer-token-file="+tokFile)
		return p, p.Wait(t, 60*time.Second)
	}
	if p, err := push("wrong-token"); err == nil {
		t.Fatalf("push with a wrong token exited 0:\n%s", p.Output())
	}
	if p, err := push("good-token"); err != nil {
		t.Fatalf("push failed: %v\n%s", err, p.Output())
	}

	// Acknowledged means durable: the line is on disk under the client IP.
	day := time.Now().UTC().Format(time.DateOnly)
	raw, err := os.ReadFile(filepath.Join(data, "127.0.0.1", day+".jsonl"))
	if err != nil {
		t.Fatalf("pushed snapshot not stored: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	if len(lines) != 1 {
		t.Fatalf("%d lines stored, want exactly 1 (the rejected push must not be stored)", len(lines))
	}
	var rec struct {
		IP        string    `json:"ip"`
		ScrapedAt time.Time `json:"scraped_at"`
		Snapshot  struct {
			SchemaVersion int               `json:"schema_version"`
			Processes     []json.RawMessage `json:"processes"`
		} `json:"snapshot"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatalf("stored line is not JSON: %v", err)
	}
	if rec.IP != "127.0.0.1" || rec.Snapshot.SchemaVersion != 1 || len(rec.Snapshot.Processes) == 0 {
		t.Fatalf("stored record: ip %q, schema %d, %d processes", rec.IP, rec.Snapshot.SchemaVersion, len(rec.Snapshot.Processes))
	}

	// The pushing agent has its last-archived series, for the
	// ArchiverPushAgentSilent alert, and keeps it across a kill -9 and
	// restart of the archiver, found again in the archive.
	// Its value is the push's arrival, a moment after the collection
	// scraped_at stands for; after the restart, the newest line's time.
	const series = `archiver_agent_last_archived_timestamp_seconds{source="push",target="127.0.0.1"}`
	filed := float64(rec.ScrapedAt.UnixNano()) / 1e9
	for i, when := range []string{"after the push", "after a restart"} {
		lo, hi := filed, filed+30
		if i > 0 {
			arch.Kill()
			arch.restart(t)
			hi = filed + 1e-3
		}
		WaitFor(t, 10*time.Second, "the push series "+when, func() error {
			got, err := arch.metric(series)
			if err == nil && (got < lo-1e-3 || got > hi) {
				err = fmt.Errorf("%s = %v, want %v to %v (scraped_at %v)", series, got, lo, hi, rec.ScrapedAt)
			}
			return err
		})
	}
}

// exporterMetric reads one sample from the exporter's /metrics.
func exporterMetric(base, series string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no sample %s", series)
}

// collectedAts returns the collected_at of every stored line, in file order.
func collectedAts(t *testing.T, a *archiverProc, ip string) []time.Time {
	t.Helper()
	var out []time.Time
	for _, l := range pushedLines(t, a, ip) {
		out = append(out, l.collected)
	}
	return out
}

// pushedLine is when a stored snapshot was taken, and the scraped_at the
// archiver filed it under.
type pushedLine struct{ collected, filed time.Time }

func pushedLines(t *testing.T, a *archiverProc, ip string) []pushedLine {
	t.Helper()
	var out []pushedLine
	for _, line := range a.lines(t, ip) {
		var rec struct {
			ScrapedAt time.Time `json:"scraped_at"`
			Snapshot  struct {
				CollectedAt time.Time `json:"collected_at"`
			} `json:"snapshot"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("stored line is not JSON: %v", err)
		}
		out = append(out, pushedLine{collected: rec.Snapshot.CollectedAt, filed: rec.ScrapedAt})
	}
	return out
}

// TestExporterPushOutage takes the archiver away for 20 s while the
// exporter pushes every second (and is itself restarted), then starts it
// again on the same port and data: every snapshot of the outage arrives
// from the spool, in order, once.
// The archiver's rate limit (5 a second, bursts of 10) is lower than the
// replay would go, so the exporter also has to honour its 429s.
func TestExporterPushOutage(t *testing.T) {
	const outage = 20 * time.Second
	dir := t.TempDir()
	archWriteFile(t, filepath.Join(dir, "push.tokens"), "good-token\n")
	archWriteFile(t, filepath.Join(dir, "agent.token"), "good-token\n")
	a := startArchiver(t, dir, `scrape_interval: 60s
api:
  write_tokens_file: push.tokens
  push_rate_limit: {rate: 5, burst: 10}
`)
	web := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	args := []string{"--web.listen-address=" + web,
		"--push.url=" + a.base, "--push.interval=1s", "--push.timeout=5s",
		"--push.bearer-token-file=" + filepath.Join(dir, "agent.token"),
		"--push.spool.dir=" + filepath.Join(dir, "spool"),
		// A light collection keeps each second's snapshot on time on a
		// busy test machine, so that a gap means a lost snapshot.
		"--no-collector.processes"}
	exp := Start(t, Binary(t, "exporter"), args...)
	expBase := "http://" + web
	WaitHTTP(t, exp, expBase+"/metrics")
	a.waitLines(t, "127.0.0.1", 2)

	a.Kill()
	down := time.Now()
	// Halfway through, the exporter is stopped and started again: the
	// spool, and the snapshot that waited in memory, outlive it.
	WaitFor(t, outage, "snapshots spooled before the exporter restarts", func() error {
		n, err := exporterMetric(expBase, "host_exporter_push_spool_snapshots")
		if err == nil && n < 5 {
			err = fmt.Errorf("%v spooled", n)
		}
		return err
	})
	if err := exp.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := exp.Wait(t, 15*time.Second); err != nil {
		t.Fatalf("exporter exit on SIGTERM: %v", err)
	}
	restarted := time.Now()
	exp = Start(t, Binary(t, "exporter"), args...)
	WaitHTTP(t, exp, expBase+"/metrics")
	// The outage is the test's subject, so it lasts its full length; what
	// happens during it is checked, not hoped for.
	WaitFor(t, outage+5*time.Second, "snapshots spooled during the outage", func() error {
		n, err := exporterMetric(expBase, "host_exporter_push_spool_snapshots")
		if err != nil {
			return err
		}
		if time.Since(down) < outage {
			return fmt.Errorf("outage still on (%v), %v spooled", time.Since(down).Round(time.Second), n)
		}
		if n < outage.Seconds()-3 {
			return fmt.Errorf("%v snapshots spooled after %v", n, time.Since(down).Round(time.Second))
		}
		return nil
	})
	a.restart(t)
	up := time.Now()

	WaitFor(t, 25*time.Second, "the spool to drain and a fresh snapshot to arrive", func() error {
		n, err := exporterMetric(expBase, "host_exporter_push_spool_snapshots")
		if err != nil {
			return err
		}
		ats := collectedAts(t, a, "127.0.0.1")
		if n != 0 || len(ats) == 0 || !ats[len(ats)-1].After(up) {
			return fmt.Errorf("%v still spooled, %d lines stored", n, len(ats))
		}
		return nil
	})

	ats := collectedAts(t, a, "127.0.0.1")
	inOutage := 0
	for i, at := range ats {
		if i > 0 && !at.After(ats[i-1]) {
			t.Fatalf("line %d collected at %v, not after line %d (%v): out of order or stored twice", i+1, at, i, ats[i-1])
		}
		// No gap but the restart's, while no exporter was running.
		if i > 0 && at.Sub(ats[i-1]) > 2500*time.Millisecond && !(ats[i-1].Before(restarted) && at.After(restarted)) {
			t.Errorf("%v between lines %d and %d: snapshots missing", at.Sub(ats[i-1]), i, i+1)
		}
		if at.After(down) && at.Before(up) {
			inOutage++
		}
	}
	// Less the few seconds the exporter was being restarted.
	if inOutage < int(outage.Seconds())-6 {
		t.Errorf("%d snapshots taken during the %v outage were stored, want about %d", inOutage, up.Sub(down).Round(time.Second), int(up.Sub(down).Seconds()))
	}
	// Replayed snapshots are filed when they were taken (the agent sends
	// their age), not all at the moment the archiver came back: agent and
	// archiver share a clock here, so scraped_at is collected_at, give or
	// take the time to send. (A replay that crossed midnight UTC is filed
	// at its arrival instead; the test then says so and checks no more.)
	lines := pushedLines(t, a, "127.0.0.1")
	crossed := false // a line of an earlier day was filed at its arrival, and those after it too
	for i, l := range lines {
		if l.collected.UTC().Truncate(24*time.Hour) != l.filed.UTC().Truncate(24*time.Hour) && !crossed {
			crossed = true
			t.Logf("line %d was collected on an earlier UTC day: filing by age not checked from there", i+1)
		}
		if d := l.filed.Sub(l.collected); !crossed && (d < -time.Second || d > 2*time.Second) {
			t.Errorf("line %d collected at %v, filed under %v: %v apart", i+1, l.collected, l.filed, d)
		}
		if i > 0 && l.filed.Before(lines[i-1].filed) {
			t.Errorf("line %d filed under %v, before line %d (%v)", i+1, l.filed, i, lines[i-1].filed)
		}
	}
	for _, reason := range []string{"rejected", "spool_full", "corrupt", "spool_error", "no_spool"} {
		if v, err := exporterMetric(expBase, `host_exporter_push_dropped_total{reason="`+reason+`"}`); err != nil || v != 0 {
			t.Errorf("dropped{%s} = %v (%v), want 0", reason, v, err)
		}
	}
	limited, _ := a.metric(`archiver_push_requests_total{result="rate_limited"}`)
	errs, _ := exporterMetric(expBase, `host_exporter_push_total{result="error"}`)
	t.Logf("%d lines, %d from the %v outage; archiver rate-limited %v pushes; exporter push errors %v",
		len(ats), inOutage, up.Sub(down).Round(time.Second), limited, errs)
}

// TestExporterPushTLS pushes to an archiver serving TLS with a self-signed
// certificate, trusted through the CA file of --push.http-config.file, the
// token coming from the same file.
func TestExporterPushTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key, pool := selfSignedCert(t, dir)
	archWriteFile(t, filepath.Join(dir, "push.tokens"), "tls-token\n")
	archWriteFile(t, filepath.Join(dir, "archiver.yml"), "scrape_interval: 60s\napi:\n  write_tokens_file: push.tokens\n")
	archWriteFile(t, filepath.Join(dir, "web.yml"), fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\n", cert, key))
	port := FreePort(t, "127.0.0.1")
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	arch := Start(t, Binary(t, "archiver"),
		"--config.file="+filepath.Join(dir, "archiver.yml"),
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.config.file="+filepath.Join(dir, "web.yml"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	WaitFor(t, 20*time.Second, "the archiver over TLS", func() error {
		if arch.Exited() {
			t.Fatalf("archiver exited:\n%s", arch.Output())
		}
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})

	exporter := Binary(t, "exporter")
	token := filepath.Join(dir, "agent.token")
	archWriteFile(t, token, "tls-token\n")
	// Without the CA the push fails on the certificate.
	p := Start(t, exporter, "--push.once", "--push.url="+base, "--push.timeout=5s", "--push.bearer-token-file="+token)
	if err := p.Wait(t, 60*time.Second); err == nil || !strings.Contains(p.Output(), "certificate") {
		t.Fatalf("push without the CA: %v\n%s", err, p.Output())
	}
	httpCfg := filepath.Join(dir, "push-http.yml")
	archWriteFile(t, httpCfg, fmt.Sprintf("tls_config:\n  ca_file: %s\nauthorization:\n  credentials_file: agent.token\n", cert))
	p = Start(t, exporter, "--push.once", "--push.url="+base, "--push.http-config.file="+httpCfg)
	if err := p.Wait(t, 60*time.Second); err != nil {
		t.Fatalf("push over TLS: %v\n%s", err, p.Output())
	}
	files, _ := filepath.Glob(filepath.Join(dir, "data", "127.0.0.1", "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("day files after a TLS push: %v", files)
	}
	// Both ways of giving the token at once are refused before any push.
	p = Start(t, exporter, "--push.once", "--push.url="+base, "--push.http-config.file="+httpCfg, "--push.bearer-token-file="+token)
	if err := p.Wait(t, 30*time.Second); err == nil || !strings.Contains(p.Output(), "use one of them") {
		t.Fatalf("token flag and authorization in the file: %v\n%s", err, p.Output())
	}
}
