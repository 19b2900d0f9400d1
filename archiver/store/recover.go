package store

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"os"
	"path"
	"slices"
	"strconv"
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
		s.notePartedDays(dir, names)
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

// notePartedDays records the days of dir that have numbered parts.
func (s *Store) notePartedDays(dir string, names []string) {
	for _, name := range names {
		name = strings.TrimPrefix(name, ".")
		name = strings.TrimSuffix(name, compressingSuffix)
		name = strings.TrimSuffix(name, doneSuffix)
		if date, part, _, ok := parseDayName(name); ok && part != livePart {
			s.layout.Lock()
			s.parted[dir+"/"+date] = true
			s.layout.Unlock()
		}
	}
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

// newestDays returns the n newest live day files among names, without a
// stat per file. Sealed parts are never appended to again, and reads and
// compaction stop each part at its last newline.
func newestDays(names []string, n int) []string {
	var days []string
	for _, name := range names {
		if _, part, compressed, ok := parseDayName(name); ok && !compressed && part == livePart {
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

// A day's lines can span several files, its parts, read in this order:
//
//	<date>.jsonl.gz          compressed lines (gzip members, oldest first)
//	.<part>.compressing      a part being compressed (see compact.go)
//	<date>.<n>.jsonl         parts sealed after a failed sync, n = 1, 2, …
//	<date>.jsonl             the live part, the only one appended to
//
// Sealed parts exist only after an fsync failed (see shard.seal);
// compaction folds every part into the .gz in that order.
const livePart = 0

// partName is the name of part n of date: numbered for a sealed part, plain
// for the live one.
func partName(date string, n int) string {
	if n == livePart {
		return date + ".jsonl"
	}
	return date + "." + strconv.Itoa(n) + ".jsonl"
}

// parseDayName parses a day file name into its date, part and whether it
// is the compressed file; anything partName or gzip would not produce is
// rejected.
func parseDayName(name string) (date string, part int, compressed, ok bool) {
	base, compressed := strings.CutSuffix(name, ".jsonl.gz")
	if !compressed {
		var found bool
		if base, found = strings.CutSuffix(name, ".jsonl"); !found {
			return "", 0, false, false
		}
		if d, n, numbered := strings.Cut(base, "."); numbered {
			p, err := strconv.Atoi(n)
			if err != nil || p < 1 || strconv.Itoa(p) != n {
				return "", 0, false, false
			}
			base, part = d, p
		}
	}
	t, err := time.Parse(time.DateOnly, base)
	if err != nil || t.Format(time.DateOnly) != base {
		return "", 0, false, false
	}
	return base, part, compressed, true
}

// dayName parses a day file name into its date and whether it is gzipped.
func dayName(name string) (date string, compressed, ok bool) {
	date, _, compressed, ok = parseDayName(name)
	return date, compressed, ok
}

// nextPart is the number for a part of date sealed now: past every
// numbered part among names, hidden (being compressed) ones included.
func nextPart(names []string, date string) int {
	n := 0
	for _, name := range names {
		if base, ok := strings.CutPrefix(name, "."); ok {
			for _, suffix := range []string{compressingSuffix, doneSuffix, uploadedSuffix} {
				if b, ok := strings.CutSuffix(base, suffix); ok {
					name = b
				}
			}
		}
		if d, p, compressed, ok := parseDayName(name); ok && !compressed && d == date {
			n = max(n, p)
		}
	}
	return n + 1
}

// partOrder sorts the plain parts of a day: sealed ones by number, then
// the live one.
func partOrder(part int) int {
	if part == livePart {
		return math.MaxInt
	}
	return part
}
