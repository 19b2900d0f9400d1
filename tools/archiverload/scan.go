package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// diskCount is what the storage directory holds after a run.
type diskCount struct {
	Files       int
	IPs         int
	Lines       int64 // every complete line
	Bytes       int64
	InWindow    int64 // lines whose scraped_at is in [from, to)
	WindowBytes int64
	Malformed   int64 // lines without a readable scraped_at or not ending in "}}"
	Torn        int64 // files whose last line has no newline
	Compressed  int   // .jsonl.gz files (not read)
	// PerIP counts lines in the window per ip directory, to find agents
	// that were starved rather than merely late.
	PerIP map[string]int64
}

var scrapedAtKey = []byte(`"scraped_at":"`)

// countStored reads every day file under root and counts snapshot lines,
// those scraped in [from, to) separately.
func countStored(root string, from, to time.Time) (diskCount, error) {
	c := diskCount{PerIP: map[string]int64{}}
	ips, err := os.ReadDir(root)
	if err != nil {
		return c, fmt.Errorf("list storage %s: %w", root, err)
	}
	buf := make([]byte, 0, 1<<20)
	for _, ip := range ips {
		if !ip.IsDir() {
			continue
		}
		c.IPs++
		c.PerIP[ip.Name()] += 0
		days, err := os.ReadDir(filepath.Join(root, ip.Name()))
		if err != nil {
			return c, fmt.Errorf("list %s: %w", ip.Name(), err)
		}
		for _, d := range days {
			name := d.Name()
			switch {
			case strings.HasSuffix(name, ".jsonl.gz"):
				c.Compressed++
				continue
			case !strings.HasSuffix(name, ".jsonl"):
				continue
			}
			c.Files++
			path := filepath.Join(root, ip.Name(), name)
			f, err := os.Open(path)
			if err != nil {
				return c, fmt.Errorf("open %s: %w", path, err)
			}
			err = c.addFile(f, ip.Name(), from, to, buf)
			f.Close()
			if err != nil {
				return c, fmt.Errorf("read %s: %w", path, err)
			}
		}
	}
	return c, nil
}

func (c *diskCount) addFile(r io.Reader, ip string, from, to time.Time, buf []byte) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(buf, 64<<20)
	sc.Split(splitLines)
	for sc.Scan() {
		line := sc.Bytes()
		if line[len(line)-1] != '\n' {
			c.Torn++
			break
		}
		c.Lines++
		c.Bytes += int64(len(line))
		at, ok := scrapedAt(line)
		if !ok || !bytes.HasSuffix(line, []byte("}}\n")) {
			c.Malformed++
			continue
		}
		if !at.Before(from) && at.Before(to) {
			c.InWindow++
			c.WindowBytes += int64(len(line))
			c.PerIP[ip]++
		}
	}
	return sc.Err()
}

// splitLines is bufio.ScanLines keeping the newline, so a torn last line
// (no newline) can be told apart from a complete one.
func splitLines(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		return i + 1, data[:i+1], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// scrapedAt finds the record's scraped_at among the envelope fields that
// precede the snapshot, without decoding the 100 KB line.
func scrapedAt(line []byte) (time.Time, bool) {
	head := line[:min(len(line), 4096)]
	i := bytes.Index(head, scrapedAtKey)
	if i < 0 {
		return time.Time{}, false
	}
	rest := head[i+len(scrapedAtKey):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(rest[:j]))
	return t, err == nil
}
