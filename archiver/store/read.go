package store

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Query narrows a day read. Zero From/To leave that side open; Limit 0
// means all lines.
type Query struct {
	From, To time.Time // inclusive bounds on scraped_at
	Limit    int
}

// FileInfo describes one stored day file for the files listing.
type FileInfo struct {
	IP         string `json:"ip"`
	Date       string `json:"date"`
	Bytes      int64  `json:"bytes"`
	Snapshots  int64  `json:"snapshots"`
	Compressed bool   `json:"compressed"`
}

// maxLine bounds one stored line when reading; the push and scrape body
// limits keep real lines far below it.
const maxLine = 256 << 20

// readBufSize is the read chunk: large enough that a 100 KB line costs one
// copy, small enough to keep many concurrent streams cheap.
const readBufSize = 1 << 20

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// errStop ends a scan early without error (limit reached).
var errStop = errors.New("stop")

// ReadDay calls emit with each complete line (without its newline) of ip's
// file for day, oldest first, filtered by q. The file is read in chunks up
// to its size when opened, so lines appended meanwhile are not included and
// memory stays bounded whatever the file size. emit must not keep line.
// ErrNotFound means there is no file for that day.
func (s *Store) ReadDay(ctx context.Context, ip netip.Addr, day time.Time, q Query, emit func(line []byte) error) error {
	r, closeFn, err := s.openDay(ip, day)
	if err != nil {
		return err
	}
	defer closeFn()
	filter := !q.From.IsZero() || !q.To.IsZero()
	n := 0
	return scanLines(ctx, r, func(line []byte) error {
		if filter {
			t, ok := lineTime(line)
			if !ok || (!q.From.IsZero() && t.Before(q.From)) || (!q.To.IsZero() && t.After(q.To)) {
				return nil
			}
		}
		if err := emit(line); err != nil {
			return err
		}
		n++
		if q.Limit > 0 && n >= q.Limit {
			return errStop
		}
		return nil
	})
}

// openDay opens the plain or compressed file of ip's day.
func (s *Store) openDay(ip netip.Addr, day time.Time) (io.Reader, func(), error) {
	base := path.Join(dirName(ip.Unmap().WithZone("")), day.UTC().Format(time.DateOnly))
	f, err := s.root.Open(base + ".jsonl")
	compressed := false
	if errors.Is(err, fs.ErrNotExist) {
		f, err = s.root.Open(base + ".jsonl.gz")
		compressed = true
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, ErrNotFound
	}
	if err != nil {
		return nil, nil, fmt.Errorf("open %s: %w", base, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("stat %s: %w", base, err)
	}
	if !compressed {
		return io.LimitReader(f, fi.Size()), func() { f.Close() }, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("gunzip %s: %w", base, err)
	}
	return zr, func() { zr.Close(); f.Close() }, nil
}

// scanLines calls fn for every newline-terminated line of r. A trailing
// fragment without newline (a line being written right now) is skipped.
func scanLines(ctx context.Context, r io.Reader, fn func(line []byte) error) error {
	bp := readBufs.Get().(*[]byte)
	buf := *bp
	defer func() {
		if cap(buf) == readBufSize {
			readBufs.Put(&buf)
		} else {
			readBufs.Put(bp)
		}
	}()
	start, end := 0, 0
	for {
		if end == len(buf) {
			if start > 0 {
				end = copy(buf, buf[start:end])
				start = 0
			} else {
				if len(buf) >= maxLine {
					return fmt.Errorf("line longer than %d bytes", maxLine)
				}
				buf = append(buf[:end], make([]byte, len(buf))...)
			}
		}
		n, rerr := r.Read(buf[end:])
		end += n
		for {
			i := bytes.IndexByte(buf[start:end], '\n')
			if i < 0 {
				break
			}
			line := buf[start : start+i]
			start += i + 1
			if err := fn(line); err != nil {
				if err == errStop {
					return nil
				}
				return err
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read: %w", rerr)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// Latest returns the newest complete line stored for ip, read backwards from
// the end of its newest day file so the cost does not grow with the file.
func (s *Store) Latest(ip netip.Addr) ([]byte, error) {
	days, err := s.walk(ip.Unmap().WithZone(""))
	if err != nil {
		return nil, err
	}
	for i := len(days) - 1; i >= 0; i-- {
		d := days[i]
		line, err := s.lastLine(d)
		if err != nil {
			return nil, err
		}
		if line != nil {
			return line, nil
		}
	}
	return nil, ErrNotFound
}

func (s *Store) lastLine(d dayEntry) ([]byte, error) {
	p := path.Join(d.dir, d.name)
	f, err := s.root.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", p, err)
	}
	defer f.Close()
	if d.compressed {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, fmt.Errorf("gunzip %s: %w", p, err)
		}
		var last []byte
		err = scanLines(context.Background(), zr, func(line []byte) error {
			last = append(last[:0], line...)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		return last, nil
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", p, err)
	}
	end, err := lastNewline(f, fi.Size())
	for err == nil && end >= 0 {
		prev, perr := lastNewline(f, end)
		if perr != nil {
			err = perr
			break
		}
		if end-prev > 1 {
			line := make([]byte, end-prev-1)
			if _, err := f.ReadAt(line, prev+1); err != nil {
				return nil, fmt.Errorf("read %s: %w", p, err)
			}
			return line, nil
		}
		end = prev
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	return nil, nil
}

// dayEntry is one day file found on disk.
type dayEntry struct {
	ip         netip.Addr
	dir, name  string
	date       string
	compressed bool
	size       int64
	modTime    time.Time
}

// walk lists the day files of one address (valid only) or of all, sorted by
// address and date. Names that dirName/dayName would not produce are
// ignored, so stray files never reach a caller.
func (s *Store) walk(only netip.Addr) ([]dayEntry, error) {
	var dirs []string
	if only.IsValid() {
		dirs = []string{dirName(only)}
	} else {
		d, err := s.root.Open(".")
		if err != nil {
			return nil, fmt.Errorf("open storage: %w", err)
		}
		names, err := d.Readdirnames(-1)
		d.Close()
		if err != nil {
			return nil, fmt.Errorf("list storage: %w", err)
		}
		for _, n := range names {
			if _, ok := parseDirName(n); ok {
				dirs = append(dirs, n)
			}
		}
	}
	var out []dayEntry
	for _, dir := range dirs {
		ip, ok := parseDirName(dir)
		if !ok {
			continue
		}
		d, err := s.root.Open(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", dir, err)
		}
		entries, err := d.ReadDir(-1)
		d.Close()
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", dir, err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() {
				continue
			}
			date, compressed, ok := dayName(e.Name())
			if !ok {
				continue
			}
			info, err := e.Info()
			if err != nil {
				continue // removed meanwhile (retention)
			}
			out = append(out, dayEntry{ip: ip, dir: dir, name: e.Name(), date: date, compressed: compressed, size: info.Size(), modTime: info.ModTime()})
		}
	}
	slices.SortFunc(out, func(a, b dayEntry) int {
		return cmp.Or(a.ip.Compare(b.ip), cmp.Compare(a.date, b.date), cmp.Compare(a.name, b.name))
	})
	return out, nil
}

// Files lists the stored day files (of one address if only is valid) with
// their sizes and snapshot counts. Counts are cached per file and, files
// being append-only, a grown file costs only a count of its new bytes.
func (s *Store) Files(only netip.Addr) ([]FileInfo, error) {
	if only.IsValid() {
		only = only.Unmap().WithZone("")
	}
	days, err := s.walk(only)
	if err != nil {
		return nil, err
	}
	out := make([]FileInfo, 0, len(days))
	for _, d := range days {
		n, err := s.count(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, FileInfo{IP: d.ip.String(), Date: d.date, Bytes: d.size, Snapshots: n, Compressed: d.compressed})
	}
	return out, nil
}

// countCache remembers line counts by file; generation is bumped whenever a
// file may have shrunk, which invalidates every entry.
type countCache struct {
	mu         sync.Mutex
	files      map[string]countEntry
	generation atomic.Uint64
}

type countEntry struct {
	size, count int64
	modTime     time.Time
	generation  uint64
}

func (s *Store) count(d dayEntry) (int64, error) {
	key := path.Join(d.dir, d.name)
	gen := s.counts.generation.Load()
	s.counts.mu.Lock()
	c, ok := s.counts.files[key]
	s.counts.mu.Unlock()
	if ok && c.generation == gen && c.size == d.size && c.modTime.Equal(d.modTime) {
		return c.count, nil
	}
	from, base := int64(0), int64(0)
	if ok && c.generation == gen && !d.compressed && c.size <= d.size {
		from, base = c.size, c.count
	}
	n, err := s.countLines(key, d.compressed, from, d.size)
	if err != nil {
		return 0, err
	}
	s.counts.mu.Lock()
	s.counts.files[key] = countEntry{size: d.size, count: base + n, modTime: d.modTime, generation: gen}
	s.counts.mu.Unlock()
	return base + n, nil
}

func (s *Store) countLines(p string, compressed bool, from, to int64) (int64, error) {
	f, err := s.root.Open(p)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = io.NewSectionReader(f, from, to-from)
	if compressed {
		zr, err := gzip.NewReader(f)
		if err != nil {
			return 0, fmt.Errorf("gunzip %s: %w", p, err)
		}
		defer zr.Close()
		r = zr
	}
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	var n int64
	for {
		m, err := r.Read(*bp)
		n += int64(bytes.Count((*bp)[:m], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, fmt.Errorf("count lines of %s: %w", p, err)
		}
	}
}

// forgetCounts invalidates cached counts after a file was cut.
func (s *Store) forgetCounts() { s.counts.generation.Add(1) }
