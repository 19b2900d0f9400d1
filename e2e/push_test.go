//go:build linux

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	cfg := filepath.Join(dir, "archiver.yml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("scrape_interval: 60s\napi:\n  write_tokens_file: %s\n", tokens)), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t, "127.0.0.1"))
	data := filepath.Join(dir, "data")
	arch := Start(t, Binary(t, "archiver"), "--config.file="+cfg, "--storage.path="+data, "--web.listen-address="+addr)
	WaitHTTP(t, arch, "http://"+addr+"/readyz")

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
		IP       string `json:"ip"`
		Snapshot struct {
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
}
