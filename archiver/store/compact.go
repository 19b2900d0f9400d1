package store

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"

	// Three times the standard library's speed at level 1, and smaller
	// output, on snapshot lines; any gzip reader reads it.
	"github.com/klauspost/compress/gzip"
)

// Finished days can be compressed to <date>.jsonl.gz (Options.CompressAfter).
// A day's file is first detached by its shard's writer (renamed to
// .<date>.jsonl.compressing), so no append can land in it meanwhile; a line
// arriving later for that day starts a new plain file, and reads join the
// parts: .gz, then .compressing, then plain. The compressed output is built
// in .<date>.jsonl.gz.tmp, which may start with the bytes of an existing
// .gz (gzip allows concatenated members). The commit is two renames under
// the layout lock, with a marker so a crash between them rolls forward:
//
//	.compressing → .done, .gz.tmp → .gz, remove .done
//
// Start-up finishes whatever a crash interrupted (recoverCompaction).
const (
	compressingSuffix = ".compressing"
	doneSuffix        = ".done"
	tmpSuffix         = ".gz.tmp"
)

// minCompressAfter keeps compaction clear of lines still arriving for a day
// that has just ended (scrapes begun before midnight).
const minCompressAfter = time.Hour

func hidden(name, suffix string) string { return "." + name + suffix }

// compressDays compresses every plain part of each day that ended at least
// CompressAfter before now, oldest part first: the .gz must keep the lines
// in the order they are read, so a day whose part fails keeps its later
// parts plain until the next run.
func (s *Store) compressDays(now time.Time) {
	after := max(s.opts.CompressAfter, minCompressAfter)
	days, err := s.walk(netip.Addr{})
	if err != nil {
		s.log.Error("compaction: cannot list storage", "err", err)
		return
	}
	failed := map[string]bool{}
	for _, d := range days {
		day := d.dir + "/" + d.date
		if d.compressed || failed[day] {
			continue
		}
		date, _ := time.Parse(time.DateOnly, d.date)
		if now.Sub(date.AddDate(0, 0, 1)) < after {
			continue
		}
		select {
		case <-s.stop:
			return
		default:
		}
		start := time.Now()
		part := partName(d.date, d.part)
		switch {
		case d.detached:
			// Left by an interrupted compaction: finish it.
			err = s.finishCompression(d.dir, part)
		case d.live():
			err = s.compressDay(d)
		default:
			err = s.compressSealed(d)
		}
		if err != nil {
			failed[day] = true
			s.log.Error("compaction failed", "file", path.Join(d.dir, d.name), "err", err)
			continue
		}
		s.log.Info("compressed day file", "file", path.Join(d.dir, d.name), "bytes", d.size, "duration", time.Since(start))
	}
}

// compressDay detaches d, a live part, from its writer and compresses it.
func (s *Store) compressDay(d dayEntry) error {
	if err := s.inWriter(opDetach, d); err != nil {
		return err
	}
	s.forgetCount(d)
	return s.finishCompression(d.dir, d.name)
}

// compressSealed compresses d, a sealed part: no writer holds it, so it
// is renamed out of the way here.
func (s *Store) compressSealed(d dayEntry) error {
	comp := path.Join(d.dir, hidden(d.name, compressingSuffix))
	s.layout.Lock()
	err := s.root.Rename(path.Join(d.dir, d.name), comp)
	s.layout.Unlock()
	if err != nil {
		return fmt.Errorf("detach %s/%s: %w", d.dir, d.name, err)
	}
	s.forgetCount(d)
	return s.finishCompression(d.dir, d.name)
}

// detach runs in the writer: it closes dir/name if open and renames it out
// of the way, so every later append for that day starts a new file.
func (sh *shard) detach(req *request) error {
	key := req.dir + "/" + req.name
	if df := sh.files[key]; df != nil {
		sh.drop(df)
	}
	// Compaction reads what is there and makes its own copy durable: a
	// seal pending for this file has nothing left to do.
	sh.mu.Lock()
	sh.unpoison(key)
	sh.mu.Unlock()
	comp := path.Join(req.dir, hidden(req.name, compressingSuffix))
	if _, err := sh.s.root.Stat(comp); err == nil {
		return fmt.Errorf("detach %s: an earlier compaction is unfinished", key)
	}
	sh.s.layout.Lock()
	defer sh.s.layout.Unlock()
	if err := sh.s.root.Rename(key, comp); err != nil {
		return fmt.Errorf("detach %s: %w", key, err)
	}
	return nil
}

// gzTemp is the output being built for the day whose part name is given;
// one per day, since a day's parts are compressed one after the other.
func gzTemp(part string) string {
	date, _, _, _ := parseDayName(part)
	return hidden(partName(date, livePart), tmpSuffix)
}

// finishCompression compresses dir/.name.compressing (name a part of a
// day) onto the day's .gz and commits the result.
func (s *Store) finishCompression(dir, name string) error {
	date, _, _, _ := parseDayName(name)
	comp := path.Join(dir, hidden(name, compressingSuffix))
	tmp := path.Join(dir, gzTemp(name))
	done := path.Join(dir, hidden(name, doneSuffix))
	gzName := path.Join(dir, partName(date, livePart)+".gz")

	src, err := s.root.Open(comp)
	if err != nil {
		return fmt.Errorf("open %s: %w", comp, err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return fmt.Errorf("stat %s: %w", comp, err)
	}
	// Only whole lines: a fragment left by a crash is dropped here.
	end, err := lastNewline(src, fi.Size())
	if err != nil {
		return fmt.Errorf("read %s: %w", comp, err)
	}
	out, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	oldSize, err := s.writeCompressed(out, gzName, stopReader{io.NewSectionReader(src, 0, end+1), s.stop})
	if err == nil {
		err = syncFile(out)
	}
	var newSize int64
	if err == nil {
		var ofi os.FileInfo
		if ofi, err = out.Stat(); err == nil {
			newSize = ofi.Size()
		}
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.root.Remove(tmp)
		return fmt.Errorf("compress %s: %w", comp, err)
	}

	s.layout.Lock()
	defer s.layout.Unlock()
	steps := []func() error{
		func() error { return s.root.Rename(comp, done) },
		func() error { return s.syncDir(dir) },
		func() error { return s.root.Rename(tmp, gzName) },
		func() error { return s.syncDir(dir) },
		func() error { return s.root.Remove(done) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return fmt.Errorf("commit %s: %w", gzName, err)
		}
	}
	s.usage.add(newSize - oldSize - fi.Size())
	return nil
}

// writeCompressed writes the existing gz (if any) and then src as a new
// gzip member to out, and returns the size of the existing gz.
func (s *Store) writeCompressed(out io.Writer, gzName string, src io.Reader) (int64, error) {
	var copied int64
	old, err := s.root.Open(gzName)
	switch {
	case err == nil:
		copied, err = io.Copy(out, old)
		old.Close()
		if err != nil {
			return 0, fmt.Errorf("copy %s: %w", gzName, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return 0, err
	}
	zw, err := gzip.NewWriterLevel(out, gzip.BestSpeed)
	if err != nil {
		return 0, err
	}
	if _, err := io.Copy(zw, src); err != nil {
		return 0, err
	}
	return copied, zw.Close()
}

// recoverCompaction rolls forward, in dir with the given file names, the
// commits a crash interrupted (a marker means the commit had begun) and
// removes output that was never committed. A detached file without marker
// is left for the maintenance loop to compress again: reads include it.
func (s *Store) recoverCompaction(dir string, names []string) error {
	has := map[string]bool{}
	for _, n := range names {
		has[n] = true
	}
	committing := map[string]bool{} // the .gz.tmp names a marker commits
	for _, n := range names {
		if !strings.HasPrefix(n, ".") {
			continue
		}
		if base, ok := strings.CutSuffix(n[1:], doneSuffix); ok {
			date, _, compressed, day := parseDayName(base)
			if !day || compressed {
				continue
			}
			tmp := gzTemp(base)
			committing[tmp] = true
			if has[tmp] {
				if err := s.root.Rename(path.Join(dir, tmp), path.Join(dir, partName(date, livePart)+".gz")); err != nil {
					return fmt.Errorf("finish compaction of %s/%s: %w", dir, base, err)
				}
				has[tmp] = false
				if err := s.syncDir(dir); err != nil {
					return err
				}
			}
			if err := s.root.Remove(path.Join(dir, n)); err != nil {
				return fmt.Errorf("finish compaction of %s/%s: %w", dir, base, err)
			}
			s.log.Warn("finished an interrupted compaction", "file", path.Join(dir, base))
		}
	}
	for _, n := range names {
		if !strings.HasPrefix(n, ".") {
			continue
		}
		if _, ok := strings.CutSuffix(n[1:], tmpSuffix); ok && !committing[n] {
			if err := s.root.Remove(path.Join(dir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove %s/%s: %w", dir, n, err)
			}
		}
	}
	return nil
}

// errStopping ends a compaction when the store closes; it is redone later.
var errStopping = errors.New("store is closing")

// stopReader fails once stop is closed, so Close never waits for a
// multi-gigabyte day to finish compressing.
type stopReader struct {
	r    io.Reader
	stop <-chan struct{}
}

func (r stopReader) Read(p []byte) (int, error) {
	select {
	case <-r.stop:
		return 0, errStopping
	default:
		return r.r.Read(p)
	}
}
