package winsvc

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLogFileRotates(t *testing.T) {
	cases := []struct {
		name     string
		existing string // content of the log before opening
		writes   []string
		max      int64
		want     string // current file
		wantOld  string // .1 file, "" when absent
	}{
		{"fits", "", []string{"a\n", "b\n"}, 10, "a\nb\n", ""},
		{"rotates when full", "", []string{"aaaa\n", "bbbb\n", "cccc\n"}, 10, "cccc\n", "aaaa\nbbbb\n"},
		{"appends to an existing log", "old\n", []string{"new\n"}, 100, "old\nnew\n", ""},
		{"existing log counts toward the limit", "0123456789\n", []string{"x\n"}, 12, "x\n", "0123456789\n"},
		{"a line longer than max is written whole", "", []string{"0123456789ABCDEF\n", "y\n"}, 8, "y\n", "0123456789ABCDEF\n"},
		{"second rotation replaces .1", "", []string{"1111\n", "2222\n", "3333\n"}, 5, "3333\n", "2222\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "sub", "exporter.log")
			if tc.existing != "" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			l, err := OpenLogFile(path, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.writes {
				if n, err := l.Write([]byte(w)); err != nil || n != len(w) {
					t.Fatalf("Write(%q) = %d, %v", w, n, err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, path); got != tc.want {
				t.Errorf("log = %q, want %q", got, tc.want)
			}
			if got := readFile(t, path+".1"); got != tc.wantOld {
				t.Errorf("log.1 = %q, want %q", got, tc.wantOld)
			}
		})
	}
}

func TestLogFileClosed(t *testing.T) {
	l, err := OpenLogFile(filepath.Join(t.TempDir(), "x.log"), 100)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := l.Write([]byte("late\n")); !errors.Is(err, fs.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
}

func TestLogFileUnwritableDirectory(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenLogFile(filepath.Join(file, "exporter.log"), 100); err == nil {
		t.Fatal("opened a log under a regular file")
	}
}

// TestLogFileConcurrent writes from several goroutines across rotations:
// no line may be torn or lost, and the bound must hold.
func TestLogFileConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	const max = 4096
	l, err := OpenLogFile(path, max)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				fmt.Fprintf(l, "goroutine=%d line=%03d\n", g, i)
			}
		}()
	}
	wg.Wait()
	l.Close()
	cur, old := readFile(t, path), readFile(t, path+".1")
	for _, content := range []string{cur, old} {
		if int64(len(content)) > max {
			t.Errorf("file of %d bytes exceeds %d", len(content), max)
		}
		for _, line := range strings.Split(strings.TrimSuffix(content, "\n"), "\n") {
			if line != "" && !strings.HasPrefix(line, "goroutine=") || len(line) != len("goroutine=0 line=000") {
				t.Fatalf("torn line %q", line)
			}
		}
	}
	if !bytes.HasSuffix([]byte(cur), []byte("\n")) {
		t.Error("current file does not end with a whole line")
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return ""
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
