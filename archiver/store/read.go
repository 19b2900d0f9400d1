package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
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
	// Part numbers a file sealed after a failed fsync (see partName);
	// the parts of a day are listed in the order they are read.
	Part int `json:"part,omitempty"`
	// Remote marks a segment read from object storage, written by the
	// archiver named Archiver (see Options.RemoteID).
	Remote   bool   `json:"remote,omitempty"`
	Archiver string `json:"archiver,omitempty"`
}

// maxLine bounds one stored line when reading; the push and scrape body
// limits keep real lines far below it.
const maxLine = 256 << 20

// readBufSize is the read chunk: large enough that a 100 KB line costs one
// copy, small enough to keep many concurrent streams cheap.
const readBufSize = 1 << 20

var readBufs = sync.Pool{New: func() any { b := make([]byte, readBufSize); return &b }}

// servable is a cheap sanity check on a line before it is served: the
// store writes each line whole, so anything else (an empty line, bytes
// written by another program) would only break the caller's JSON.
func servable(line []byte) bool {
	return len(line) >= 2 && line[0] == '{' && line[len(line)-1] == '}'
}

// errStop ends a scan early without error (limit reached).
var errStop = errors.New("stop")

// ReadDay calls emit with each complete line (without its newline) of ip's
// file for day, oldest first, filtered by q. The file is read in chunks up
// to its size when opened, so lines appended meanwhile are not included and
// memory stays bounded whatever the file size. emit must not keep line.
// ErrNotFound means there is no file for that day. Lines that cannot be a
// stored record (see servable) are skipped.
func (s *Store) ReadDay(ctx context.Context, ip netip.Addr, day time.Time, q Query, emit func(line []byte) error) error {
	f := &lineFilter{q: q, emit: emit}
	if s.opts.Bucket == nil {
		return s.readLocalDay(ctx, ip, day, f)
	}
	return s.readMergedDay(ctx, ip, day, f)
}

// lineFilter applies a Query to the lines of one or more segments.
type lineFilter struct {
	q    Query
	emit func(line []byte) error
	n    int
}

// line emits line if it passes; errStop ends the segment being read
// (past to, or the limit reached).
func (f *lineFilter) line(line []byte) error {
	if !servable(line) {
		return nil
	}
	q := f.q
	if !q.From.IsZero() || !q.To.IsZero() {
		t, ok := lineTime(line)
		if ok && !q.To.IsZero() && t.After(q.To.Add(orderSlack)) {
			return errStop // every later line of this segment is later than to
		}
		if !ok || (!q.From.IsZero() && t.Before(q.From)) || (!q.To.IsZero() && t.After(q.To)) {
			return nil
		}
	}
	if err := f.emit(line); err != nil {
		return err
	}
	f.n++
	if f.full() {
		return errStop
	}
	return nil
}

func (f *lineFilter) full() bool { return f.q.Limit > 0 && f.n >= f.q.Limit }

// readLocalDay reads ip's day from local disk through f.
func (s *Store) readLocalDay(ctx context.Context, ip netip.Addr, day time.Time, f *lineFilter) error {
	var seekTo time.Time
	if !f.q.From.IsZero() {
		seekTo = f.q.From.Add(-orderSlack)
	}
	r, closeFn, err := s.openDay(ip, day, seekTo)
	if err != nil {
		return err
	}
	defer closeFn()
	return scanLines(ctx, r, f.line)
}

// dayPart is one open file of a day (see partName for the order).
type dayPart struct {
	f  *os.File
	gz bool
	// live is the part being appended to: read up to its size when
	// opened. Every other plain part is read up to its last newline, so
	// a fragment a crash left at its end is not glued to the next part.
	live bool
}

type dayParts []dayPart

func (p dayParts) close() {
	for _, part := range p {
		part.f.Close()
	}
}

// openParts opens a day's parts, oldest lines first, under the layout
// lock, so a compaction or seal committing meanwhile is seen wholly before
// or wholly after; once open, the files stay readable whatever is renamed.
func (s *Store) openParts(dir, date string) (dayParts, error) {
	var p dayParts
	var errs []error
	open := func(n string, gz, live bool) {
		f, err := s.root.Open(path.Join(dir, n))
		if err == nil {
			p = append(p, dayPart{f: f, gz: gz, live: live})
		} else if !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	live := partName(date, livePart)
	s.layout.RLock()
	open(live+".gz", true, false)
	if !s.parted[dir+"/"+date] {
		open(hidden(live, compressingSuffix), false, false)
		open(live, false, true)
	} else if names, err := s.listDir(dir); err != nil {
		if !errors.Is(err, fs.ErrNotExist) { // deleted whole by retention
			errs = append(errs, err)
		}
	} else {
		var hiddenParts, plainParts []int
		for _, n := range names {
			base, isHidden := strings.CutPrefix(n, ".")
			if isHidden {
				if base, isHidden = strings.CutSuffix(base, compressingSuffix); !isHidden {
					continue
				}
			}
			d, part, compressed, ok := parseDayName(base)
			if !ok || compressed || d != date {
				continue
			}
			if isHidden {
				hiddenParts = append(hiddenParts, partOrder(part))
			} else {
				plainParts = append(plainParts, partOrder(part))
			}
		}
		slices.Sort(hiddenParts)
		slices.Sort(plainParts)
		for _, o := range hiddenParts {
			open(hidden(partName(date, orderPart(o)), compressingSuffix), false, false)
		}
		for _, o := range plainParts {
			open(partName(date, orderPart(o)), false, o == partOrder(livePart))
		}
	}
	s.layout.RUnlock()
	if err := errors.Join(errs...); err != nil {
		p.close()
		return nil, fmt.Errorf("open %s/%s: %w", dir, live, err)
	}
	if len(p) == 0 {
		return nil, ErrNotFound
	}
	return p, nil
}

// orderPart is partOrder's inverse.
func orderPart(o int) int {
	if o == partOrder(livePart) {
		return livePart
	}
	return o
}

// openDay returns a reader over all of ip's lines for day, oldest first,
// ending at the live part's size when opened.
func (s *Store) openDay(ip netip.Addr, day time.Time, seekTo time.Time) (io.Reader, func(), error) {
	p, err := s.openParts(dirName(ip.Unmap().WithZone("")), day.UTC().Format(time.DateOnly))
	if err != nil {
		return nil, nil, err
	}
	var readers []io.Reader
	closers := []func(){p.close}
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	for _, part := range p {
		f := part.f
		if part.gz {
			zr, err := gzip.NewReader(f)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("gunzip %s: %w", f.Name(), err)
			}
			closers = append(closers, func() { zr.Close() })
			readers = append(readers, zr)
			continue
		}
		fi, err := f.Stat()
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("stat %s: %w", f.Name(), err)
		}
		size := fi.Size()
		if !part.live {
			end, err := lastNewline(f, size)
			if err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("read %s: %w", f.Name(), err)
			}
			size = end + 1
		}
		start := int64(0)
		if len(p) == 1 && !seekTo.IsZero() && size >= bisectMin {
			if start, err = seekTime(f, size, seekTo); err != nil {
				closeAll()
				return nil, nil, fmt.Errorf("seek in %s: %w", f.Name(), err)
			}
		}
		readers = append(readers, io.NewSectionReader(f, start, size-start))
	}
	return io.MultiReader(readers...), closeAll, nil
}

// orderSlack bounds how far out of scraped_at order lines of a day file can
// be: a line is written when its scrape ends, so disorder is at most the
// longest scrape plus queueing. Time-bounded reads start and stop this far
// beyond their bounds and filter exactly in between.
const orderSlack = 15 * time.Minute

// bisectMin is the file size from which a read with a from bound looks
// for its start by bisection instead of scanning from the top.
var bisectMin int64 = 8 << 20

// seekTime returns the offset of a line start at or before the first line
// whose scraped_at is not before t, by bisection over line starts: a few
// small reads instead of scanning a day of gigabytes for an evening hour.
func seekTime(f *os.File, size int64, t time.Time) (int64, error) {
	lo, hi := int64(0), size // lo is a line start before t; the answer is in [lo, hi)
	buf := make([]byte, 64<<10)
	for hi-lo > int64(len(buf)) {
		mid := lo + (hi-lo)/2
		start, at, ok, err := lineAfter(f, buf, mid, hi)
		if err != nil {
			return 0, err
		}
		if !ok {
			hi = mid // no whole line starts in [mid, hi)
			continue
		}
		if at.Before(t) {
			lo = start
		} else {
			hi = mid
		}
	}
	return lo, nil
}

// lineAfter finds the first line starting after offset off (and before
// limit) and the scraped_at of that line, reading forward in buf-sized
// steps. ok is false when no such line or time is found.
func lineAfter(f *os.File, buf []byte, off, limit int64) (start int64, at time.Time, ok bool, err error) {
	start = -1
	for pos := off; pos < limit && start < 0; {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), limit-pos)], pos)
		if err != nil && err != io.EOF {
			return 0, time.Time{}, false, err
		}
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			start = pos + int64(i) + 1
		}
		pos += int64(n)
		if n == 0 {
			break
		}
	}
	if start < 0 || start >= limit {
		return 0, time.Time{}, false, nil
	}
	n, err := f.ReadAt(buf, start)
	if err != nil && err != io.EOF {
		return 0, time.Time{}, false, err
	}
	at, ok = lineTime(buf[:n])
	return start, at, ok, nil
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

// latestLocal returns the newest complete line on local disk for ip, read
// backwards from the end of its newest day file so the cost does not grow
// with the file.
func (s *Store) latestLocal(ip netip.Addr) ([]byte, error) {
	days, err := s.walk(ip.Unmap().WithZone(""))
	if err != nil {
		return nil, err
	}
	for i := len(days) - 1; i >= 0; i-- {
		if i < len(days)-1 && days[i].date == days[i+1].date {
			continue // plain and compressed parts of a day already looked at
		}
		line, err := s.lastLineOfDay(days[i].dir, days[i].date)
		if err != nil {
			return nil, err
		}
		if line != nil {
			return line, nil
		}
	}
	return nil, ErrNotFound
}

// lastLineOfDay looks for the last complete line in the newest part of the
// day that has one; nil means the day has none.
func (s *Store) lastLineOfDay(dir, date string) ([]byte, error) {
	p, err := s.openParts(dir, date)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer p.close()
	for i := len(p) - 1; i >= 0; i-- {
		if p[i].gz {
			break
		}
		line, err := lastLine(p[i].f)
		if err != nil || line != nil {
			return line, err
		}
	}
	if !p[0].gz {
		return nil, nil
	}
	gz := p[0].f
	zr, err := gzip.NewReader(gz)
	if err != nil {
		return nil, fmt.Errorf("gunzip %s: %w", gz.Name(), err)
	}
	defer zr.Close()
	var last []byte
	err = scanLines(context.Background(), zr, func(line []byte) error {
		if servable(line) {
			last = append(last[:0], line...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", gz.Name(), err)
	}
	return last, nil
}

// lastLine finds the last complete, servable line of f by reading
// backwards from its end.
func lastLine(f *os.File) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", f.Name(), err)
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
				return nil, fmt.Errorf("read %s: %w", f.Name(), err)
			}
			if servable(line) {
				return line, nil
			}
		}
		end = prev
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", f.Name(), err)
	}
	return nil, nil
}

// dayEntry is one day file found on disk.
type dayEntry struct {
	ip         netip.Addr
	dir, name  string
	date       string
	part       int
	compressed bool
	detached   bool // being compressed (name is .<part>.compressing)
	size       int64
	modTime    time.Time
}

// rank orders the kinds of parts of a day as they are read.
func (d dayEntry) rank() int {
	switch {
	case d.compressed:
		return 0
	case d.detached:
		return 1
	default:
		return 2
	}
}

// live says d is the file appended to.
func (d dayEntry) live() bool { return !d.compressed && !d.detached && d.part == livePart }

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
		days, err := s.listDays(ip, dir)
		if err != nil {
			return nil, err
		}
		out = append(out, days...)
	}
	slices.SortFunc(out, func(a, b dayEntry) int {
		return cmp.Or(a.ip.Compare(b.ip), cmp.Compare(a.date, b.date), cmp.Compare(a.rank(), b.rank()), cmp.Compare(partOrder(a.part), partOrder(b.part)))
	})
	return out, nil
}

// listDays lists one address directory under the layout lock, so a
// compaction's renames are seen wholly or not at all. A day being
// compressed is listed under its detached name.
func (s *Store) listDays(ip netip.Addr, dir string) ([]dayEntry, error) {
	s.layout.RLock()
	defer s.layout.RUnlock()
	d, err := s.root.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", dir, err)
	}
	entries, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []dayEntry
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		name := e.Name()
		base, detached := strings.CutPrefix(name, ".")
		if detached {
			if base, detached = strings.CutSuffix(base, compressingSuffix); !detached {
				continue
			}
		}
		date, part, compressed, ok := parseDayName(base)
		if !ok || (detached && compressed) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // removed meanwhile (retention)
		}
		out = append(out, dayEntry{ip: ip, dir: dir, name: name, date: date, part: part, compressed: compressed, detached: detached, size: info.Size(), modTime: info.ModTime()})
	}
	return out, nil
}

// localFiles lists the day files on local disk (of one address if only is
// valid) with their sizes and snapshot counts. Counting reads a file once; after that
// only bytes appended since are counted (see countEntry).
func (s *Store) localFiles(only netip.Addr) ([]FileInfo, error) {
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
		out = append(out, FileInfo{IP: d.ip.String(), Date: d.date, Bytes: d.size, Snapshots: n, Compressed: d.compressed, Part: d.part})
	}
	return out, nil
}

// countCache holds line-count checkpoints in memory; they are also saved
// beside the day files (see countFileName) so a restart does not re-read
// terabytes to list them.
type countCache struct {
	mu    sync.Mutex
	files map[string]countEntry
}

// countEntry says the first size bytes of a file hold count lines. For a
// plain day file, size is always just past a newline: appends never change
// bytes before that point (a torn tail is only ever cut after the last
// newline), so the checkpoint stays valid as the file grows and only the
// bytes after it need counting. For a compressed file it is the exact size.
type countEntry struct {
	size, count int64
	saved       int64 // size recorded in the count file
}

// saveEvery is how far a checkpoint must advance before its count file is
// rewritten: a growing day is saved every few hundred snapshots, not at
// every listing.
const saveEvery = 16 << 20

// countFileName is the hidden file keeping the checkpoint of day file name.
// The walk ignores it, since it is not a day file name.
func countFileName(name string) string { return "." + name + ".count" }

func (s *Store) count(d dayEntry) (int64, error) {
	key := path.Join(d.dir, d.name)
	s.counts.mu.Lock()
	c, ok := s.counts.files[key]
	s.counts.mu.Unlock()
	if !ok {
		c, ok = s.loadCount(d)
	}
	if ok && c.size == d.size {
		return c.count, nil
	}
	f, err := s.root.Open(key)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if d.compressed || !ok || c.size > d.size || !endsWithNewline(f, c.size) {
		c = countEntry{saved: c.saved}
	}
	var next countEntry
	if d.compressed {
		n, err := countGzipLines(f)
		if err != nil {
			return 0, fmt.Errorf("count lines of %s: %w", key, err)
		}
		next = countEntry{size: d.size, count: n, saved: c.saved}
	} else {
		n, end, err := countLines(f, c.size, d.size)
		if err != nil {
			return 0, fmt.Errorf("count lines of %s: %w", key, err)
		}
		next = countEntry{size: end, count: c.count + n, saved: c.saved}
	}
	if !strings.HasPrefix(d.name, ".") && (next.size-next.saved >= saveEvery || (next.saved == 0 && next.size > 0)) {
		if s.saveCount(d, next) {
			next.saved = next.size
		}
	}
	s.counts.mu.Lock()
	s.counts.files[key] = next
	s.counts.mu.Unlock()
	return next.count, nil
}

func endsWithNewline(f *os.File, size int64) bool {
	if size == 0 {
		return true
	}
	var b [1]byte
	_, err := f.ReadAt(b[:], size-1)
	return err == nil && b[0] == '\n'
}

// countLines counts the newlines in [from, to) of f and returns the offset
// just past the last one (from if there is none).
func countLines(f *os.File, from, to int64) (n, end int64, err error) {
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	end = from
	for off := from; off < to; {
		b := (*bp)[:min(int64(len(*bp)), to-off)]
		m, err := f.ReadAt(b, off)
		b = b[:m]
		if c := bytes.Count(b, []byte{'\n'}); c > 0 {
			n += int64(c)
			end = off + int64(bytes.LastIndexByte(b, '\n')) + 1
		}
		off += int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, 0, err
		}
	}
	return n, end, nil
}

func countGzipLines(f *os.File) (int64, error) {
	zr, err := gzip.NewReader(f)
	if err != nil {
		return 0, err
	}
	defer zr.Close()
	bp := readBufs.Get().(*[]byte)
	defer readBufs.Put(bp)
	var n int64
	for {
		m, err := zr.Read(*bp)
		n += int64(bytes.Count((*bp)[:m], []byte{'\n'}))
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// loadCount reads a saved checkpoint; any problem just means counting anew.
func (s *Store) loadCount(d dayEntry) (countEntry, bool) {
	b, err := s.root.ReadFile(path.Join(d.dir, countFileName(d.name)))
	if err != nil {
		return countEntry{}, false
	}
	var c countEntry
	if _, err := fmt.Sscanf(string(b), "%d %d\n", &c.size, &c.count); err != nil || c.size < 0 || c.count < 0 {
		return countEntry{}, false
	}
	c.saved = c.size
	return c, true
}

// saveCount writes a checkpoint through a rename so a crash never leaves a
// half-written one. It is a cache: not fsynced, and failures only cost a
// recount later.
func (s *Store) saveCount(d dayEntry, c countEntry) bool {
	name := path.Join(d.dir, countFileName(d.name))
	tmp := name + ".tmp"
	if err := s.root.WriteFile(tmp, fmt.Appendf(nil, "%d %d\n", c.size, c.count), 0o600); err != nil {
		s.log.Debug("cannot save line count", "file", name, "err", err)
		return false
	}
	if err := s.root.Rename(tmp, name); err != nil {
		s.log.Debug("cannot save line count", "file", name, "err", err)
		s.root.Remove(tmp)
		return false
	}
	return true
}

// forgetCount drops the checkpoint of a deleted day file.
func (s *Store) forgetCount(d dayEntry) {
	s.counts.mu.Lock()
	delete(s.counts.files, path.Join(d.dir, d.name))
	s.counts.mu.Unlock()
	if err := s.root.Remove(path.Join(d.dir, countFileName(d.name))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		s.log.Warn("cannot delete line count", "file", d.name, "err", err)
	}
}
