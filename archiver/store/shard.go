package store

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"sync"
	"time"
)

// kickBytes triggers an early sync round once this much data is unsynced in
// a shard, so a burst does not pile up a huge fsync at the next tick.
const kickBytes = 32 << 20

// shard owns a subset of the day files (chosen by IP) and writes them from a
// single goroutine: no per-file locks, one write syscall per line, and lines
// of one file can never interleave. A companion goroutine makes what was
// written since its last round durable (one syncfs, or an fsync per file),
// so appends never wait for the disk unless they ask to.
type shard struct {
	s       *Store
	reqs    chan *request
	maxOpen int

	// Owned by the writer goroutine.
	files map[string]*dayFile
	lru   list.List // of *dayFile, most recent first

	mu       sync.Mutex // guards the fields below and dayFile's sync state
	dirty    []*dayFile
	dirs     map[string]bool
	waiters  []*request
	unsynced int64
	evicted  int // dropped by the writer, still open until their fsync

	kick       chan struct{}
	stopSync   chan struct{}
	writerDone chan struct{}
	syncDone   chan struct{}
	finalErr   error
}

// dayFile is one open day file.
type dayFile struct {
	key     string
	f       *os.File
	size    int64
	elem    *list.Element
	lastUse time.Time

	// Guarded by shard.mu.
	dirty   bool
	evicted bool
	refs    int
}

func newShard(s *Store, maxOpen int) *shard {
	return &shard{
		s:          s,
		reqs:       make(chan *request, 256),
		maxOpen:    maxOpen,
		files:      map[string]*dayFile{},
		dirs:       map[string]bool{},
		kick:       make(chan struct{}, 1),
		stopSync:   make(chan struct{}),
		writerDone: make(chan struct{}),
		syncDone:   make(chan struct{}),
	}
}

// idleClose is how long a day file may go without appends before its
// descriptor is given back: yesterday's files and those of removed agents
// do not wait for the LRU to push them out.
const idleClose = 5 * time.Minute

func (sh *shard) writeLoop() {
	defer close(sh.writerDone)
	idle := sh.s.opts.idleAfter
	t := time.NewTicker(min(idle/2, time.Minute))
	defer t.Stop()
	for {
		select {
		case req, ok := <-sh.reqs:
			if !ok {
				return
			}
			if req.detach {
				req.done <- sh.detach(req)
				continue
			}
			sh.write(req)
		case now := <-t.C:
			for e := sh.lru.Back(); e != nil; e = sh.lru.Back() {
				df := e.Value.(*dayFile)
				if now.Sub(df.lastUse) < idle {
					break
				}
				sh.drop(df)
			}
		}
	}
}

func (sh *shard) write(req *request) {
	m := sh.s.m
	df, err := sh.file(req.dir, req.name)
	if err != nil {
		m.writeErrors.Inc()
		sh.s.log.Error("cannot open day file", "file", req.dir+"/"+req.name, "err", err)
		req.done <- err
		return
	}
	n, err := df.f.Write(req.line)
	if err != nil {
		m.writeErrors.Inc()
		sh.s.log.Error("write failed", "file", df.key, "err", err)
		if n > 0 {
			// A partial line must not stay: the next line would complete
			// it into garbage. If the cut fails, drop the handle; the next
			// open repairs the tail before appending.
			if terr := df.f.Truncate(df.size); terr != nil {
				sh.s.log.Error("cannot cut partial line", "file", df.key, "err", terr)
				sh.drop(df)
			}
		}
		req.done <- fmt.Errorf("write %s: %w", df.key, err)
		return
	}
	df.size += int64(n)
	df.lastUse = time.Now()
	m.snapshots.Inc()
	m.bytes.Add(float64(n))

	// Once a sync request is handed to the sync goroutine it may be answered
	// and reused at any moment: decide everything before that.
	durable := req.sync
	if !durable {
		req.done <- nil
	}
	sh.mu.Lock()
	if !df.dirty {
		df.dirty = true
		sh.dirty = append(sh.dirty, df)
	}
	sh.unsynced += int64(n)
	kick := durable || sh.unsynced >= kickBytes
	if durable {
		req.file = df
		sh.waiters = append(sh.waiters, req)
	}
	sh.mu.Unlock()
	if kick {
		select {
		case sh.kick <- struct{}{}:
		default:
		}
	}
}

// file returns the open day file dir/name, opening (and creating) it if
// needed and closing the least recently used file beyond maxOpen.
func (sh *shard) file(dir, name string) (*dayFile, error) {
	key := dir + "/" + name
	if df := sh.files[key]; df != nil {
		sh.lru.MoveToFront(df.elem)
		return df, nil
	}
	for len(sh.files) >= sh.maxOpen {
		sh.drop(sh.lru.Back().Value.(*dayFile))
	}
	f, size, created, newDir, err := sh.s.openAppend(dir, name)
	if err != nil {
		return nil, err
	}
	sh.s.m.openFiles.Inc()
	df := &dayFile{key: key, f: f, size: size}
	df.elem = sh.lru.PushFront(df)
	sh.files[key] = df
	if created {
		sh.mu.Lock()
		sh.dirs[dir] = true
		if newDir {
			sh.dirs["."] = true
		}
		sh.mu.Unlock()
	}
	return df, nil
}

// drop forgets df in the writer; it is closed now if nothing is pending on
// it, or after its fsync otherwise. When too many dropped files await their
// fsync, the writer runs a sync round itself: that is the back-pressure
// which keeps descriptors bounded however many agents there are.
func (sh *shard) drop(df *dayFile) {
	sh.lru.Remove(df.elem)
	delete(sh.files, df.key)
	sh.mu.Lock()
	// With syncfs the sync never needs this descriptor: close it at once.
	idle := sh.s.wholeFS || (!df.dirty && df.refs == 0)
	if !idle {
		df.evicted = true
		sh.evicted++
	}
	full := sh.evicted >= sh.maxOpen
	sh.mu.Unlock()
	if idle {
		sh.closeFile(df)
	}
	if full {
		sh.syncRound()
	}
}

func (sh *shard) closeFile(df *dayFile) {
	if err := df.f.Close(); err != nil {
		sh.s.log.Error("close failed", "file", df.key, "err", err)
	}
	sh.s.m.openFiles.Dec()
}

func (sh *shard) syncLoop(interval time.Duration) {
	defer close(sh.syncDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-sh.kick:
		case <-sh.stopSync:
			sh.finalErr = sh.syncRound()
			return
		}
		sh.syncRound()
	}
}

// syncRound fsyncs the directories and files written since the previous
// round and then answers the AppendSync callers whose lines they hold: one
// fsync per file covers every line written before it (group commit). The
// sync goroutine and, under descriptor pressure, the writer may run rounds
// at once: each takes its own disjoint set of dirty files.
func (sh *shard) syncRound() error {
	sh.mu.Lock()
	files, dirs, waiters := sh.dirty, sh.dirs, sh.waiters
	sh.dirty, sh.waiters, sh.unsynced = nil, nil, 0
	if len(dirs) > 0 {
		sh.dirs = map[string]bool{}
	} else {
		dirs = nil // still the writer's map
	}
	for _, df := range files {
		df.dirty = false
		df.refs++
	}
	sh.mu.Unlock()
	if len(files) == 0 && len(dirs) == 0 {
		return nil
	}

	var errs []error
	var fileErr map[*dayFile]error
	dirErr := map[string]error{}
	if sh.s.wholeFS {
		start := time.Now()
		err := sh.s.fsSync.Sync()
		sh.s.m.fsyncDuration.Observe(time.Since(start).Seconds())
		if err != nil {
			err = fmt.Errorf("syncfs %s: %w", sh.s.dir, err)
			dirErr["."] = err
			errs = append(errs, err)
		}
	} else {
		// A new file's directory entry must be durable before its lines
		// count as stored; "." (the root) sorts first and holds the IP
		// directories.
		for _, d := range sortedKeys(dirs) {
			if err := sh.s.syncDir(d); err != nil {
				err = fmt.Errorf("fsync directory %s: %w", d, err)
				dirErr[d] = err
				errs = append(errs, err)
			}
		}
		for _, df := range files {
			start := time.Now()
			err := syncFile(df.f)
			sh.s.m.fsyncDuration.Observe(time.Since(start).Seconds())
			if err != nil {
				err = fmt.Errorf("fsync %s: %w", df.key, err)
				if fileErr == nil {
					fileErr = map[*dayFile]error{}
				}
				fileErr[df] = err
				errs = append(errs, err)
			}
		}
	}
	for _, req := range waiters {
		err := fileErr[req.file]
		if derr := dirErr[req.dir]; derr != nil {
			err = errors.Join(err, derr)
		}
		if derr := dirErr["."]; derr != nil {
			err = errors.Join(err, derr)
		}
		req.done <- err
	}

	sh.mu.Lock()
	var closing []*dayFile
	for _, df := range files {
		df.refs--
		if df.evicted && df.refs == 0 && !df.dirty {
			df.evicted = false
			sh.evicted--
			closing = append(closing, df)
		}
	}
	sh.mu.Unlock()
	for _, df := range closing {
		sh.closeFile(df)
	}
	err := errors.Join(errs...)
	if err != nil {
		sh.s.m.writeErrors.Add(float64(len(errs)))
		sh.s.syncErr.set(err)
		sh.s.log.Error("fsync failed", "err", err)
	}
	return err
}

// closeAll closes the writer's files once both goroutines have stopped.
func (sh *shard) closeAll() error {
	for _, df := range sh.files {
		sh.closeFile(df)
	}
	clear(sh.files)
	sh.lru.Init()
	return sh.finalErr
}

// openAppend opens dir/name for appending, creating the directory and file
// as needed, and repairs a tail that does not end in a newline so the next
// line cannot be glued onto a fragment.
func (s *Store) openAppend(dir, name string) (f *os.File, size int64, created, newDir bool, err error) {
	p := path.Join(dir, name)
	f, err = s.root.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.root.Mkdir(dir, 0o755); err == nil {
			newDir = true
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, 0, false, false, fmt.Errorf("create directory %s: %w", dir, err)
		}
		f, err = s.root.OpenFile(p, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			return f, 0, true, newDir, nil
		}
		if errors.Is(err, fs.ErrExist) {
			f, err = s.root.OpenFile(p, os.O_RDWR|os.O_APPEND, 0)
		}
	}
	if err != nil {
		return nil, 0, false, newDir, fmt.Errorf("open %s: %w", p, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, false, newDir, fmt.Errorf("stat %s: %w", p, err)
	}
	size = fi.Size()
	if size > 0 {
		cut, err := cutTornTail(f, size)
		if err != nil {
			f.Close()
			return nil, 0, false, newDir, fmt.Errorf("repair %s: %w", p, err)
		}
		if cut > 0 {
			s.m.tornLines.Inc()
			s.log.Warn("cut torn last line", "file", p, "bytes", cut)
			size -= cut
		}
	}
	return f, size, false, newDir, nil
}

func (s *Store) syncDir(dir string) error {
	d, err := s.root.Open(dir)
	if err != nil {
		return err
	}
	err = syncDirHandle(d)
	return errors.Join(err, d.Close())
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// syncFile and syncAll are replaceable by tests that check what was synced
// when.
var (
	syncFile = fdatasync
	syncAll  = syncfs
)
