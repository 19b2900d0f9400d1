package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseStatTimes(t *testing.T) {
	tests := []struct {
		name      string
		stat      string
		user, sys float64
		ok        bool
	}{
		{"plain", "42 (archiver) S 1 42 42 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 100 0 0", 2.5, 0.75, true},
		{"spaces and parens in name", "42 (a (b) c) R 1 42 42 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 1 0 0", 0.01, 0.02, true},
		{"short", "42 (x) S 1 2 3", 0, 0, false},
		{"no name", "garbage", 0, 0, false},
		{"not numbers", "42 (x) S 1 42 42 0 -1 0 0 0 0 0 a b 0 0", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, s, err := parseStatTimes([]byte(tt.stat))
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && (u != tt.user || s != tt.sys) {
				t.Fatalf("got %v/%v, want %v/%v", u, s, tt.user, tt.sys)
			}
		})
	}
}

func TestSampleSelf(t *testing.T) {
	s, err := sampleProc(os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if s.FDs < 3 || s.HWMBytes <= 0 || s.Threads < 1 {
		t.Fatalf("implausible sample of this process: %+v", s)
	}
	if len(threadStates(os.Getpid())) < 1 {
		t.Fatal("no thread states for this process")
	}
}

func TestHistogramQuantile(t *testing.T) {
	h := histogram{bounds: []float64{0.1, 0.5, 1, math.Inf(1)}, counts: []float64{50, 90, 99, 100}}
	tests := []struct{ q, want float64 }{{0.5, 0.1}, {0.25, 0.05}, {0.7, 0.3}, {0.99, 1}, {1, 1}}
	for _, tt := range tests {
		if got := h.quantile(tt.q); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	before := histogram{bounds: h.bounds, counts: []float64{50, 50, 50, 50}}
	if got := h.sub(before).quantile(0.5); math.Abs(got-0.35) > 1e-9 {
		t.Errorf("quantile of difference = %v, want 0.35", got)
	}
	if !math.IsNaN((histogram{}).quantile(0.5)) {
		t.Error("empty histogram must give NaN")
	}
}

func TestLags(t *testing.T) {
	base := time.Unix(1_800_000_000, 0)
	iv := 5 * time.Second
	// Scrapes at phase 4.9s, one late by 300ms, one landing past the next
	// boundary (wraps modulo the interval) and one missed interval.
	arr := []time.Time{
		base.Add(4900 * time.Millisecond), base.Add(9900 * time.Millisecond),
		base.Add(15200 * time.Millisecond), base.Add(20100 * time.Millisecond), base.Add(29900 * time.Millisecond),
	}
	got := relativeLags(arr, iv)
	want := []time.Duration{0, 0, 300 * time.Millisecond, 200 * time.Millisecond, 0}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("relativeLags = %v, want %v", got, want)
		}
	}
	ds := []time.Duration{5, 1, 3, 2, 4}
	sortDurations(ds)
	if percentile(ds, 0.5) != 3 || percentile(ds, 0.99) != 5 || percentile(nil, 0.5) != 0 {
		t.Fatalf("percentile wrong on %v", ds)
	}
}

func TestCountStored(t *testing.T) {
	root := t.TempDir()
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	line := func(at time.Time) string {
		return `{"ip":"127.0.0.2","target":"127.0.0.2:9110","labels":{"job":"x"},"scraped_at":"` + at.Format(time.RFC3339Nano) + `","snapshot":{"schema_version":1}}` + "\n"
	}
	write := func(ip, name, content string) {
		if err := os.MkdirAll(filepath.Join(root, ip), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, ip, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := strings.Repeat("x", 300_000)
	write("127.0.0.2", "2026-11-27.jsonl",
		line(t0.Add(-time.Second))+line(t0)+line(t0.Add(4*time.Second))+
			`{"ip":"127.0.0.2","scraped_at":"`+t0.Format(time.RFC3339)+`","snapshot":{"a":"`+big+`"}}`+"\n"+
			line(t0.Add(10*time.Second))+`{"ip":"127.0.0.2","scraped_at":"`)
	write("127.0.0.3", "2026-11-27.jsonl", line(t0.Add(time.Second))+"not json\n")
	write("127.0.0.4", "2026-11-26.jsonl.gz", "")
	write("127.0.0.5", "2026-11-27.jsonl", line(t0.Add(-time.Hour)))

	c, err := countStored(root, t0, t0.Add(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if c.InWindow != 4 || c.Lines != 8 || c.Malformed != 1 || c.Torn != 1 || c.Files != 3 || c.Compressed != 1 || c.IPs != 4 {
		t.Fatalf("count = %+v", c)
	}
	if c.PerIP["127.0.0.2"] != 3 || c.PerIP["127.0.0.3"] != 1 || c.PerIP["127.0.0.5"] != 0 {
		t.Fatalf("per-ip counts = %v", c.PerIP)
	}
	if _, err := countStored(filepath.Join(root, "missing"), t0, t0); err == nil {
		t.Fatal("missing storage must be an error")
	}
}

func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	path, err := writeConfig(dir, []string{"127.0.0.2:9110", "127.0.0.3:9110"}, 5*time.Second, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"scrape_interval: 5s", "scrape_timeout: 5s", "targets.json"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func TestSummarizeStates(t *testing.T) {
	got := summarizeStates(map[string]int{"R user": 3, "D syncfs": 1}, 5)
	if got != "R user 75%, D syncfs 25%" {
		t.Fatalf("summary = %q", got)
	}
	if syscallName("306 0x3 0 0") != "syncfs" || syscallName("running") != "user" || syscallName("999 0") != "syscall#999" {
		t.Fatal("syscall names wrong")
	}
}
