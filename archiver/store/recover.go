package store

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"time"
)

// tailChunk is how much of a file's end is read per step when looking for
// its last newline.
const tailChunk = 64 << 10

// cutTornTail truncates f (of the given size) just after its last newline
// when it does not end with one, and returns how many bytes it cut. Lines are
// written in one write each, so the only fragment a crash can leave is at the
// end; everything before the last newline is left untouched.
func cutTornTail(f *os.File, size int64) (int64, error) {
	if size == 0 {
		return 0, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return 0, fmt.Errorf("read tail: %w", err)
	}
	if last[0] == '\n' {
		return 0, nil // the common case, at one small read
	}
	end, err := lastNewline(f, size)
	if err != nil {
		return 0, err
	}
	keep := end + 1 // -1 (no newline at all) keeps nothing
	if keep == size {
		return 0, nil
	}
	if err := f.Truncate(keep); err != nil {
		return 0, fmt.Errorf("truncate: %w", err)
	}
	if err := syncFile(f); err != nil {
		return 0, fmt.Errorf("fsync after truncate: %w", err)
	}
	return size - keep, nil
}

// lastNewline returns the offset of the last '\n' in the first size bytes
// of r, or -1, reading backwards in chunks.
func lastNewline(r io.ReaderAt, size int64) (int64, error) {
	return lastNewlineChunked(r, size, tailChunk)
}

func lastNewlineChunked(r io.ReaderAt, size int64, chunk int64) (int64, error) {
	buf := make([]byte, min(size, chunk))
	for end := size; end > 0; {
		start := max(0, end-int64(len(buf)))
		b := buf[:end-start]
		if _, err := r.ReadAt(b, start); err != nil && err != io.EOF {
			return 0, fmt.Errorf("read tail: %w", err)
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i), nil
		}
		end = start
	}
	return -1, nil
}

// recoverDays is how many of each agent's newest day files are checked for
// a torn tail at start-up. Lines carry the time they were received, so only
// the newest days can have been written when the process died; checking
// every file of a large store would cost minutes. Older files are safe
// anyway: reads never serve a fragment, and an append repairs the tail
// before writing.
const recoverDays = 2

// recover cuts torn tails in the newest day files before the store serves
// or appends anything. Only uncompressed files can be torn: compressed ones
// are written whole and renamed into place.
func (s *Store) recover() error {
	start := time.Now()
	d, err := s.root.Open(".")
	if err != nil {
		return fmt.Errorf("scan storage: %w", err)
	}
	dirs, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("scan storage: %w", err)
	}
	checked := 0
	for _, dir := range dirs {
		if _, ok := parseDirName(dir); !ok {
			continue
		}
		names, err := s.listDir(dir)
		if err != nil {
			return err
		}
		if err := s.recoverCompaction(dir, names); err != nil {
			return err
		}
		days := newestDays(names, recoverDays)
		for _, name := range days {
			if err := s.recoverFile(path.Join(dir, name)); err != nil {
				return err
			}
			checked++
		}
	}
	s.log.Info("storage checked for torn lines", "files", checked, "duration", time.Since(start))
	return nil
}

func (s *Store) listDir(dir string) ([]string, error) {
	d, err := s.root.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return names, nil
}

// newestDays returns the n newest uncompressed day files among names,
// without a stat per file.
func newestDays(names []string, n int) []string {
	var days []string
	for _, name := range names {
		if _, compressed, ok := dayName(name); ok && !compressed {
			days = append(days, name)
		}
	}
	slices.Sort(days)
	return days[max(0, len(days)-n):]
}

func (s *Store) recoverFile(p string) error {
	f, err := s.root.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", p, err)
	}
	n, err := cutTornTail(f, fi.Size())
	if err != nil {
		return fmt.Errorf("repair %s: %w", p, err)
	}
	if n > 0 {
		s.m.tornLines.Inc()
		s.log.Warn("cut torn last line", "file", p, "bytes", n)
	}
	return nil
}

// dayName parses a day file name into its date and whether it is gzipped.
func dayName(name string) (date string, compressed, ok bool) {
	base, compressed := strings.CutSuffix(name, ".jsonl.gz")
	if !compressed {
		var found bool
		base, found = strings.CutSuffix(name, ".jsonl")
		if !found {
			return "", false, false
		}
	}
	t, err := time.Parse(time.DateOnly, base)
	if err != nil || t.Format(time.DateOnly) != base {
		return "", false, false
	}
	return base, compressed, true
}
