package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// FuzzTornTail writes arbitrary bytes as a day file and opens the store on
// it: afterwards the file must be exactly its old prefix up to and including
// the last newline, reads must return exactly the servable lines of that
// prefix, and Latest the last of them.
func FuzzTornTail(f *testing.F) {
	f.Add([]byte(""), uint8(0))
	f.Add([]byte("{\"a\":1}\n"), uint8(3))
	f.Add([]byte("{\"a\":1}\n{\"a\":2}\n{\"a\""), uint8(2))
	f.Add([]byte("no newline at all"), uint8(1))
	f.Add([]byte("\n\n\npartial"), uint8(0))
	f.Add([]byte("line\r\nline2\r"), uint8(7))
	f.Add([]byte("{}\n\n{\"a\"}\n{not}\nx}\n{"), uint8(4))
	// Durability is not what this checks; skipping the disk keeps the
	// fuzzer fast.
	origFile, origAll := syncFile, syncAll
	syncFile = func(*os.File) error { return nil }
	syncAll = func(*os.File) error { return nil }
	f.Cleanup(func() { syncFile, syncAll = origFile, origAll })
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		want := bytes.LastIndexByte(data, '\n')
		got, err := lastNewlineChunked(bytes.NewReader(data), int64(len(data)), int64(chunk)+1)
		if err != nil || got != int64(want) {
			t.Fatalf("lastNewline = %d, %v; want %d", got, err, want)
		}
		prefix := data[:want+1]

		dir := t.TempDir()
		p := filepath.Join(dir, "10.0.0.1", "2026-11-27.jsonl")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		after, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, prefix) {
			t.Fatalf("after recovery %q, want %q", after, prefix)
		}

		var lines [][]byte
		err = s.ReadDay(context.Background(), netip.MustParseAddr("10.0.0.1"), day, Query{}, func(l []byte) error {
			lines = append(lines, bytes.Clone(l))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var wantLines [][]byte
		if len(prefix) > 0 {
			for _, l := range bytes.Split(prefix[:len(prefix)-1], []byte{'\n'}) {
				if len(l) >= 2 && l[0] == '{' && l[len(l)-1] == '}' {
					wantLines = append(wantLines, l)
				}
			}
		}
		if len(lines) != len(wantLines) {
			t.Fatalf("read %d lines, want %d", len(lines), len(wantLines))
		}
		for i := range lines {
			if !bytes.Equal(lines[i], wantLines[i]) {
				t.Fatalf("line %d = %q, want %q", i, lines[i], wantLines[i])
			}
		}

		var wantLatest []byte
		if len(wantLines) > 0 {
			wantLatest = wantLines[len(wantLines)-1]
		}
		latest, err := s.Latest(netip.MustParseAddr("10.0.0.1"))
		switch {
		case wantLatest == nil && !errors.Is(err, ErrNotFound):
			t.Fatalf("Latest = %q, %v; want ErrNotFound", latest, err)
		case wantLatest != nil && (err != nil || !bytes.Equal(latest, wantLatest)):
			t.Fatalf("Latest = %q, %v; want %q", latest, err, wantLatest)
		}
	})
}

// TestRecoverNewestDaysOnly checks that start-up repairs only each agent's
// newest days, that an older torn file is still never served, and that an
// append repairs it first.
func TestRecoverNewestDaysOnly(t *testing.T) {
	dir := t.TempDir()
	good := `{"ip":"10.0.0.1","scraped_at":"2026-11-25T00:00:00Z","snapshot":{}}` + "\n"
	dates := []string{"2026-11-25", "2026-11-26", "2026-11-27"}
	for _, d := range dates {
		p := filepath.Join(dir, "10.0.0.1", d+".jsonl")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(good+`{"torn`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	s := openTest(t, dir, Options{Registerer: reg})
	if n := metricValue(t, reg, "archiver_torn_lines_cut_total"); n != 2 {
		t.Fatalf("cut %v torn lines at start-up, want 2 (newest days)", n)
	}
	for _, d := range dates[1:] {
		if b, _ := os.ReadFile(filepath.Join(dir, "10.0.0.1", d+".jsonl")); string(b) != good {
			t.Fatalf("%s not repaired: %q", d, b)
		}
	}
	old, _ := time.Parse(time.DateOnly, dates[0])
	if lines := readAll(t, s, netip.MustParseAddr("10.0.0.1"), old, Query{}); len(lines) != 1 {
		t.Fatalf("old torn day served %d lines, want 1", len(lines))
	}
	if err := s.Append(Record{IP: netip.MustParseAddr("10.0.0.1"), ScrapedAt: old, Snapshot: snap(1)}); err != nil {
		t.Fatal(err)
	}
	lines := readAll(t, s, netip.MustParseAddr("10.0.0.1"), old, Query{})
	if len(lines) != 2 || !json.Valid(lines[1]) {
		t.Fatalf("after append: %q", lines)
	}
	if n := metricValue(t, reg, "archiver_torn_lines_cut_total"); n != 3 {
		t.Fatalf("torn_lines_cut_total %v after append, want 3", n)
	}
}
