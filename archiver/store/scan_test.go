package store

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestAddrsAndDays(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{
		"10.0.0.2/2026-11-25.jsonl.gz", "10.0.0.2/2026-11-26.jsonl", "10.0.0.2/2026-11-26.1.jsonl",
		"10.0.0.2/.2026-11-26.jsonl.count", "10.0.0.2/notes.txt",
		"2001_db8__1/2026-11-27.jsonl", "10.0.0.1/2026-11-27.jsonl",
		"not-an-ip/2026-11-27.jsonl",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(dir, Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addrs, err := s.Addrs()
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("2001:db8::1")}
	if !slices.Equal(addrs, want) {
		t.Errorf("Addrs = %v, want %v", addrs, want)
	}
	days, err := s.Days(netip.MustParseAddr("::ffff:10.0.0.2"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"2026-11-25", "2026-11-26"}; !slices.Equal(days, want) {
		t.Errorf("Days = %v, want %v", days, want)
	}
	if days, err := s.Days(netip.MustParseAddr("10.9.9.9")); err != nil || len(days) != 0 {
		t.Errorf("Days of an unknown address = %v, %v", days, err)
	}
	if at, ok := LineTime([]byte(`{"ip":"10.0.0.1","scraped_at":"2026-11-27T01:02:03.5Z","snapshot":{}}`)); !ok || !at.Equal(time.Date(2026, 11, 27, 1, 2, 3, 5e8, time.UTC)) {
		t.Errorf("LineTime = %v, %v", at, ok)
	}
}
