package store

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path"
	"strings"
	"time"
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

// compressDays compresses every plain day file whose day ended at least
// CompressAfter before now.
func (s *Store) compressDays(now time.Time) {
	after := max(s.opts.CompressAfter, minCompressAfter)
	days, err := s.walk(netip.Addr{})
	if err != nil {
		s.log.Error("compaction: cannot list storage", "err", err)
		return
	}
	for _, d := range days {
		if d.compressed {
			continue
		}
		detached, wasDetached := strings.CutPrefix(d.name, ".")
		if wasDetached {
			// Left by an interrupted compaction: finish it.
			detached = strings.TrimSuffix(detached, compressingSuffix)
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
		if wasDetached {
			err = s.finishCompression(d.dir, detached)
		} else {
			err = s.compressDay(d)
		}
		if err != nil {
			s.log.Error("compaction failed", "file", path.Join(d.dir, d.name), "err", err)
			continue
		}
		s.log.Info("compressed day file", "file", path.Join(d.dir, d.name), "bytes", d.size, "duration", time.Since(start))
	}
}

// compressDay detaches d from its writer and compresses it.
func (s *Store) compressDay(d dayEntry) error {
	req := &request{dir: d.dir, name: d.name, detach: true, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	s.shards[shardOf(d.dir)].reqs <- req
	s.closeMu.RUnlock()
	if err := <-req.done; err != nil {
		return err
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

// finishCompression compresses dir/.name.compressing onto dir/name.gz and
// commits the result.
func (s *Store) finishCompression(dir, name string) error {
	comp := path.Join(dir, hidden(name, compressingSuffix))
	tmp := path.Join(dir, hidden(name, tmpSuffix))
	done := path.Join(dir, hidden(name, doneSuffix))
	gzName := path.Join(dir, name+".gz")

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
	out, err := s.root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	err = s.writeCompressed(out, gzName, stopReader{io.NewSectionReader(src, 0, end+1), s.stop})
	if err == nil {
		err = syncFile(out)
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
	return nil
}

// writeCompressed writes the existing gz (if any) and then src as a new
// gzip member to out.
func (s *Store) writeCompressed(out io.Writer, gzName string, src io.Reader) error {
	old, err := s.root.Open(gzName)
	switch {
	case err == nil:
		_, err = io.Copy(out, old)
		old.Close()
		if err != nil {
			return fmt.Errorf("copy %s: %w", gzName, err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	zw, err := gzip.NewWriterLevel(out, gzip.BestSpeed)
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, src); err != nil {
		return err
	}
	return zw.Close()
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
	for _, n := range names {
		if !strings.HasPrefix(n, ".") {
			continue
		}
		if base, ok := strings.CutSuffix(n[1:], doneSuffix); ok {
			if _, _, day := dayName(base); !day {
				continue
			}
			if has[hidden(base, tmpSuffix)] {
				if err := s.root.Rename(path.Join(dir, hidden(base, tmpSuffix)), path.Join(dir, base+".gz")); err != nil {
					return fmt.Errorf("finish compaction of %s/%s: %w", dir, base, err)
				}
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
		if base, ok := strings.CutSuffix(n[1:], tmpSuffix); ok && !has[hidden(base, doneSuffix)] {
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
