package store

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var day = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

func snap(i int) []byte {
	return fmt.Appendf(nil, `{"schema_version":1,"seq":%d,"pad":"%s"}`, i, strings.Repeat("x", i%50))
}

func openTest(t testing.TB, dir string, opts Options) *Store {
	t.Helper()
	s, err := Open(dir, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func readAll(t testing.TB, s *Store, ip netip.Addr, d time.Time, q Query) [][]byte {
	t.Helper()
	var lines [][]byte
	err := s.ReadDay(context.Background(), ip, d, q, func(line []byte) error {
		lines = append(lines, append([]byte(nil), line...))
		return nil
	})
	if err != nil {
		t.Fatalf("ReadDay: %v", err)
	}
	return lines
}

func TestAppendAndRead(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	ip := netip.MustParseAddr("10.0.0.5")
	for i := range 10 {
		err := s.Append(Record{IP: ip, Target: "10.0.0.5:9110", Labels: map[string]string{"env": "prod", "a": "q\"x"}, ScrapedAt: day.Add(time.Duration(i) * time.Minute), Snapshot: snap(i)})
		if err != nil {
			t.Fatal(err)
		}
	}
	lines := readAll(t, s, ip, day, Query{})
	if len(lines) != 10 {
		t.Fatalf("got %d lines, want 10", len(lines))
	}
	var rec struct {
		IP        string            `json:"ip"`
		Target    string            `json:"target"`
		Labels    map[string]string `json:"labels"`
		ScrapedAt time.Time         `json:"scraped_at"`
		Snapshot  struct {
			Seq int `json:"seq"`
		} `json:"snapshot"`
	}
	if err := json.Unmarshal(lines[3], &rec); err != nil {
		t.Fatalf("line not JSON: %v: %s", err, lines[3])
	}
	if rec.IP != "10.0.0.5" || rec.Labels["a"] != "q\"x" || rec.Snapshot.Seq != 3 || !rec.ScrapedAt.Equal(day.Add(3*time.Minute)) {
		t.Fatalf("bad record %+v", rec)
	}
	if _, err := os.Stat(filepath.Join(dir, "10.0.0.5", "2026-11-27.jsonl")); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, s, ip, day, Query{From: day.Add(2 * time.Minute), To: day.Add(5 * time.Minute), Limit: 3})
	if len(got) != 3 || !strings.Contains(string(got[0]), `"seq":2`) {
		t.Fatalf("filtered: %q", got)
	}
	last, err := s.Latest(ip)
	if err != nil || !strings.Contains(string(last), `"seq":9`) {
		t.Fatalf("latest %s %v", last, err)
	}
	files, err := s.Files(netip.Addr{})
	if err != nil || len(files) != 1 || files[0].Snapshots != 10 {
		t.Fatalf("files %+v %v", files, err)
	}
}
