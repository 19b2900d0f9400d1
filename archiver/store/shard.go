package store

import (
	"container/list"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"sync"
	"sync/atomic"
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
	// The round being collected: the fsSync mark taken before its first
	// write, and the newest health sequence seen before one of its writes.
	mark, healthSeq uint64
	marked          bool
	// poisoned holds the files (by key) a failed sync may have lost data
	// of; the writer seals each before the next append to that day.
	poisoned  map[string]error
	nPoisoned atomic.Int32

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
	dirty    bool
	evicted  bool
	refs     int
	poisoned error // a sync failed after lines were written
}

func newShard(s *Store, maxOpen int) *shard {
	return &shard{
		s:          s,
		reqs:       make(chan *request, 256),
		maxOpen:    maxOpen,
		files:      map[string]*dayFile{},
		dirs:       map[string]bool{},
		poisoned:   map[string]error{},
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
			switch req.op {
			case opDetach:
				req.done <- sh.detach(req)
			case opRemove:
				req.done <- sh.remove(req)
			case opSeal:
				req.done <- sh.closeSegment(req)
			default:
				sh.write(req)
			}
		case now := <-t.C:
			sh.sealPoisoned()
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
	// Both marks are taken before anything is written: a syncfs or a
	// failure from here on may concern this line.
	var mark uint64
	if sh.s.wholeFS {
		mark = sh.s.fsSync.mark()
	}
	healthSeq := sh.s.health.seq()
	df, err := sh.file(req.dir, req.name)
	if err != nil {
		m.writeErrors.Inc()
		sh.s.log.Error("cannot open day file", "file", req.dir+"/"+req.name, "err", err)
		sh.s.health.fail(err)
		req.done <- err
		return
	}
	n, err := writeLine(df.f, req.line)
	if err != nil {
		m.writeErrors.Inc()
		sh.s.log.Error("write failed", "file", df.key, "err", err)
		if n > 0 {
			// A partial line must not stay: the next line would complete
			// it into garbage. If the cut fails, drop the handle; the next
			// open repairs the tail before appending.
			if terr := df.f.Truncate(df.size); terr != nil {
				sh.s.log.Error("cannot cut partial line", "file", df.key, "err", terr)
				sh.s.usage.add(int64(n))
				sh.drop(df)
			}
		}
		err = fmt.Errorf("write %s: %w", df.key, err)
		sh.s.health.fail(err)
		req.done <- err
		return
	}
	df.size += int64(n)
	df.lastUse = time.Now()
	m.snapshots.Inc()
	m.bytes.Add(float64(n))
	sh.s.usage.add(int64(n))

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
	if !sh.marked || mark < sh.mark {
		sh.mark, sh.marked = mark, true
	}
	sh.healthSeq = max(sh.healthSeq, healthSeq)
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
	if sh.nPoisoned.Load() > 0 {
		sh.mu.Lock()
		cause, bad := sh.poisoned[key]
		sh.mu.Unlock()
		if bad {
			if err := sh.seal(dir, name, cause); err != nil {
				return nil, err
			}
		}
	}
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
	mark, healthSeq := sh.mark, sh.healthSeq
	sh.dirty, sh.waiters, sh.unsynced = nil, nil, 0
	sh.marked, sh.healthSeq = false, 0
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
	fileErr := map[*dayFile]error{}
	dirErr := map[string]error{}
	if sh.s.wholeFS {
		start := time.Now()
		err := sh.s.fsSync.Sync(mark)
		sh.s.m.fsyncDuration.Observe(time.Since(start).Seconds())
		if err != nil {
			err = fmt.Errorf("syncfs %s: %w", sh.s.dir, err)
			errs = append(errs, err)
			// Which file lost data is unknown: every file written in
			// this round is suspect.
			for _, df := range files {
				fileErr[df] = err
			}
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
				errs = append(errs, err)
			}
			// A file whose directory entry may not be durable is as
			// suspect as one whose data failed.
			err = errors.Join(err, dirErr[path.Dir(df.key)], dirErr["."])
			if err != nil {
				fileErr[df] = err
			}
		}
	}

	// A failed fsync may have dropped the dirty pages it could not write,
	// and the error is reported only once ("fsyncgate"): nothing written
	// to such a file is trusted again. Its waiters fail, and the writer
	// seals the file before the next line for that day.
	sh.mu.Lock()
	for df, err := range fileErr {
		df.poisoned = err
		sh.poisoned[df.key] = err
	}
	sh.nPoisoned.Store(int32(len(sh.poisoned)))
	answers := make([]error, len(waiters))
	for i, req := range waiters {
		answers[i] = req.file.poisoned // also set by an earlier round
	}
	sh.mu.Unlock()
	// Health first: a caller told its line is stored must find the store
	// writable, and one told it failed must find it not.
	err := errors.Join(errs...)
	if err != nil {
		sh.s.m.writeErrors.Add(float64(len(errs)))
		sh.s.health.fail(err)
		sh.s.log.Error("fsync failed; the files written since the last sync are sealed", "files", len(fileErr), "err", err)
	} else if len(files) > 0 {
		sh.s.health.ok(healthSeq)
	}
	for i, req := range waiters {
		req.done <- answers[i]
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
	return err
}

// sealPoisoned seals the poisoned files no line has come for since, so a
// restart cannot append to them either.
func (sh *shard) sealPoisoned() {
	if sh.nPoisoned.Load() == 0 {
		return
	}
	sh.mu.Lock()
	causes := maps.Clone(sh.poisoned)
	sh.mu.Unlock()
	for _, key := range slices.Sorted(maps.Keys(causes)) {
		dir, name := path.Split(key)
		if err := sh.seal(path.Clean(dir), name, causes[key]); err != nil {
			sh.s.log.Error("cannot seal day file", "file", key, "err", err)
		}
	}
}

// seal runs in the writer after a failed sync of dir/name: it closes the
// file and renames it to the day's next numbered part (see partName), so
// it is never appended to again while reads still find its lines, and the
// next line for that day starts a new file.
func (sh *shard) seal(dir, name string, cause error) error {
	key := dir + "/" + name
	if df := sh.files[key]; df != nil {
		sh.drop(df)
	}
	gone := func() error {
		sh.mu.Lock()
		sh.unpoison(key)
		sh.mu.Unlock()
		return nil
	}
	date, part, _, _ := parseDayName(name)
	if part != livePart {
		return gone()
	}
	names, err := sh.s.listDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return gone() // deleted by retention meanwhile
	}
	if err != nil {
		return fmt.Errorf("seal %s after a failed sync: %w", key, err)
	}
	sealed := partName(date, nextPart(names, date))
	sh.s.layout.Lock()
	err = sh.s.root.Rename(key, path.Join(dir, sealed))
	if err == nil {
		sh.s.parted[dir+"/"+date] = true
	}
	sh.s.layout.Unlock()
	if errors.Is(err, fs.ErrNotExist) {
		return gone() // detached for compaction or deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("seal %s after a failed sync: %w", key, err)
	}
	sh.s.forgetCount(dayEntry{dir: dir, name: name})
	sh.mu.Lock()
	sh.dirs[dir] = true // the rename is made durable with the next round
	sh.unpoison(key)
	sh.mu.Unlock()
	sh.s.log.Warn("day file sealed after a failed sync; later lines go to a new file", "file", key, "sealed_as", sealed, "cause", cause)
	return nil
}

// unpoison forgets that key needs sealing; sh.mu must be held.
func (sh *shard) unpoison(key string) {
	delete(sh.poisoned, key)
	sh.nPoisoned.Store(int32(len(sh.poisoned)))
}

// remove runs in the writer for retention: the file is closed first, so
// no line can be appended to it once it is unlinked.
func (sh *shard) remove(req *request) error {
	key := req.dir + "/" + req.name
	if df := sh.files[key]; df != nil {
		sh.drop(df)
	}
	return sh.s.root.Remove(key)
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
		if err = s.root.Mkdir(dir, 0o700); err == nil {
			newDir = true
		} else if !errors.Is(err, fs.ErrExist) {
			return nil, 0, false, false, fmt.Errorf("create directory %s: %w", dir, err)
		}
		f, err = s.root.OpenFile(p, os.O_RDWR|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
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

// syncFile, syncAll and writeLine are replaceable by tests that check what
// was synced when, or inject failures.
var (
	syncFile  = fdatasync
	syncAll   = syncfs
	writeLine = (*os.File).Write
)
