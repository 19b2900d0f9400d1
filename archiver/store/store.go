// Package store keeps every archived snapshot as one line of an append-only
// JSONL file per agent IP and UTC day (<root>/<ip>/<YYYY-MM-DD>.jsonl), and
// reads those files back for the query API without ever serving a torn line.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
)

// Record is one snapshot to archive, with where and when it was taken.
type Record struct {
	IP        netip.Addr        // agent address as reached (scrape) or client address (push)
	Target    string            // "host:port" as registered ("" for pushes without one)
	Labels    map[string]string // target labels, written sorted by key
	ScrapedAt time.Time         // the file date is ScrapedAt's UTC date; zero means now
	// Snapshot is the raw JSON object exactly as the agent sent it, already
	// validated with intake.CheckRaw; it is spliced verbatim, never re-encoded.
	Snapshot []byte
}

// Options tunes durability, descriptor use and retention.
type Options struct {
	// SyncInterval bounds how long written data may stay unsynced
	// (default 1s): the batch size of the group commit.
	SyncInterval time.Duration
	// MaxOpenFiles bounds the descriptors held for appending (default 1024,
	// effective minimum 16); idle files are closed least-recently-used first.
	// Descriptors are shared with sockets, so 10,000 agents must not mean
	// 10,000 open files. Reads use a few more, briefly.
	MaxOpenFiles int
	// Retention deletes whole day files older than this; 0 keeps forever.
	Retention time.Duration
	// RetentionSize deletes the oldest whole days, across all agents, while
	// the archive on local disk is larger than this many bytes; 0 = no
	// limit. Today's (UTC) files are never deleted for size.
	RetentionSize int64
	// Logger receives recoveries and I/O failures (default: discard).
	Logger *slog.Logger
	// Registerer receives the store's metrics (default: a private registry).
	Registerer prometheus.Registerer
	// CompressAfter gzips a day's files to <date>.jsonl.gz once the day has
	// ended this long ago (0 = never; at least an hour). Reads are
	// unchanged. It costs CPU in proportion to the data, one core at about
	// 230 MB/s: a 100 MB/s archive keeps almost half a core busy.
	CompressAfter time.Duration
	// idleAfter closes a file not appended to for this long (default
	// idleClose); a field so tests need not wait minutes.
	idleAfter time.Duration
	// SyncFiles fsyncs each written file (and new directories) instead of
	// calling syncfs(2) on the storage filesystem once per round. syncfs
	// costs less CPU when thousands of files are written per second, but
	// also flushes (and waits for) other programs' data on the same
	// filesystem, and an error makes every file of the round suspect. Always
	// on where syncfs is missing or does not report errors (Linux < 5.8).
	SyncFiles bool

	// Bucket, when set, receives every closed segment (see remote.go), and
	// reads serve the bucket's segments beside the local files. Local
	// compaction is off then: segments are compressed as they are uploaded.
	Bucket objstore.Bucket
	// RemoteID names this archiver in object names, so archivers storing
	// the same address and day never write the same object (see RemoteID).
	RemoteID string
	// SegmentMaxAge closes a live day file this long after its first line
	// (default 1h); a day's file is also closed once the day has ended.
	SegmentMaxAge time.Duration
	// LocalRetention keeps uploaded segments on local disk this long
	// (default 48h) before they are read from the bucket only.
	LocalRetention time.Duration
	// RemoteRetentionSize deletes the oldest whole dates (UTC, every
	// agent's and every archiver's segments of it) from the bucket while
	// it holds more than this many compressed bytes; 0 = no limit. Today's
	// date is never deleted for size. It bounds the bucket as a whole, so
	// every archiver sharing it should have the same value (see
	// bucketretention.go for what a run costs).
	RemoteRetentionSize int64
	// CloseUploadTimeout bounds how long Close waits to upload the
	// segments it closes (default 10s, well inside a service manager's
	// stop timeout); the rest go at the next start.
	CloseUploadTimeout time.Duration
}

// ErrClosed is returned by appends after Close.
var ErrClosed = errors.New("store is closed")

// ErrNotFound is returned by reads when the agent or day has no file.
var ErrNotFound = errors.New("not found")

// numShards spreads files over independent writer goroutines so one slow
// open or write does not stall every agent, while keeping the goroutine
// count (and so scheduling cost on a 2-core machine) small.
const numShards = 8

// Store appends snapshot lines to day files and serves them back. It is safe
// for use by many goroutines.
type Store struct {
	dir     string
	root    *os.Root
	rootDir *os.File // held for syncfs
	fsSync  *fsSync  // one syncfs for every shard that needs one
	wholeFS bool     // sync rounds use syncfs instead of per-file fsync
	opts    Options
	log     *slog.Logger
	m       *metrics
	rm      *remoteMetrics // nil without a bucket
	markers markers
	// compressing bounds the segments compressed for upload at once to half
	// the cores (at least one): a backlog of segments (after the bucket was
	// down, or at midnight when every day's last segment closes) must not
	// take every core from the scrapes. Transfers are not bounded by it.
	compressing chan struct{}
	shards      []*shard

	closeMu sync.RWMutex
	closed  bool

	// layout guards the set of files making up a day while compaction
	// renames them: readers hold it only while opening a day's parts.
	layout sync.RWMutex

	// parted holds "<dir>/<date>" of the days that have numbered parts
	// (see partName), so reads list a directory only for those; guarded by
	// layout.
	parted map[string]bool

	stop     chan struct{}
	bgDone   sync.WaitGroup
	counts   countCache
	health   health
	usage    *diskUsage
	requests sync.Pool
	probes   atomic.Uint64
}

// Open opens (creating if needed) the store under dir, cuts torn last lines
// left by a crash before anything can read them, and starts the writers.
func Open(dir string, opts Options) (*Store, error) {
	if opts.SyncInterval <= 0 {
		opts.SyncInterval = time.Second
	}
	if opts.MaxOpenFiles <= 0 {
		opts.MaxOpenFiles = 1024
	}
	if opts.idleAfter <= 0 {
		opts.idleAfter = idleClose
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	if opts.Bucket != nil {
		if opts.SegmentMaxAge <= 0 {
			opts.SegmentMaxAge = time.Hour
		}
		if opts.LocalRetention <= 0 {
			opts.LocalRetention = 48 * time.Hour
		}
		if opts.CloseUploadTimeout <= 0 {
			opts.CloseUploadTimeout = 10 * time.Second
		}
		opts.RemoteID = RemoteID(opts.RemoteID)
	}
	// Day files hold user names and command lines: only the archiver's
	// user may read them (0600 files in 0700 directories).
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create storage directory: %w", err)
	}
	restrictRoot(dir, opts.Logger)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open storage directory: %w", err)
	}
	usage := &diskUsage{}
	m, err := newMetrics(opts.Registerer, dir, usage)
	if err != nil {
		root.Close()
		return nil, err
	}
	rootDir, err := root.Open(".")
	if err != nil {
		m.unregister(opts.Registerer)
		root.Close()
		return nil, fmt.Errorf("open storage directory: %w", err)
	}
	s := &Store{
		dir:     dir,
		root:    root,
		rootDir: rootDir,
		fsSync:  newFSSync(rootDir),
		wholeFS: haveSyncfs && !opts.SyncFiles && syncfsReportsErrors(),
		opts:    opts,
		log:     opts.Logger,
		m:       m,
		parted:  map[string]bool{},
		usage:   usage,
		stop:    make(chan struct{}),
	}
	s.counts.files = map[string]countEntry{}
	if opts.Bucket != nil {
		s.compressing = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
		if s.rm, err = newRemoteMetrics(opts.Registerer); err != nil {
			m.unregister(opts.Registerer)
			rootDir.Close()
			root.Close()
			return nil, err
		}
	}
	if haveSyncfs && !opts.SyncFiles && !s.wholeFS {
		s.log.Warn("syncfs does not report write errors before Linux 5.8: fsyncing each file instead")
	}
	if err := s.recover(); err != nil {
		m.unregister(opts.Registerer)
		rootDir.Close()
		root.Close()
		return nil, err
	}
	// With per-file fsyncs, half of each shard's descriptors hold files open
	// for appending and the other half bounds files dropped from that set
	// but not yet fsynced; with syncfs a dropped file is closed at once.
	perShard := max(1, opts.MaxOpenFiles/numShards)
	if !s.wholeFS {
		perShard = max(1, perShard/2)
	}
	for range numShards {
		sh := newShard(s, perShard)
		s.shards = append(s.shards, sh)
		go sh.writeLoop()
		go sh.syncLoop(opts.SyncInterval)
	}
	s.bgDone.Add(1)
	go s.maintain(opts)
	if opts.Bucket != nil {
		s.bgDone.Add(1)
		go s.remoteLoop()
		if opts.Retention > 0 {
			s.bgDone.Add(1)
			go s.bucketLoop("retention", time.Hour, s.bucketAgeRun)
		}
		if opts.RemoteRetentionSize > 0 {
			s.bgDone.Add(1)
			go s.bucketLoop("size retention", bucketSizeMin, s.bucketSizeRetention)
		}
	}
	return s, nil
}

// restrictRoot makes an existing storage directory that others may enter
// private, which also covers address directories and day files an older
// version created 0755/0644. It only logs when it cannot (not the owner).
func restrictRoot(dir string, log *slog.Logger) {
	if runtime.GOOS == "windows" {
		return // permissions are ACLs there; Chmod only sets read-only
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm()&0o077 == 0 {
		return
	}
	if err := os.Chmod(dir, fi.Mode().Perm()&0o700); err != nil {
		log.Warn("storage directory is open to other users and cannot be restricted", "path", dir, "mode", fi.Mode().Perm(), "err", err)
		return
	}
	log.Warn("storage directory was open to other users; restricted to its owner", "path", dir, "was", fi.Mode().Perm(), "now", fi.Mode().Perm()&0o700)
}

// Append stores r as one line. It returns once the line is written to the
// file (so it survives the process being killed); it is on stable storage
// within about SyncInterval.
func (s *Store) Append(r Record) error {
	return s.append(context.Background(), r, false)
}

// AppendSync stores r and returns only once the line is fsynced, for
// acknowledgements that promise durability (pushes). Concurrent callers
// share fsyncs (group commit). If ctx ends first the line may still be
// stored, but the caller must not acknowledge it.
func (s *Store) AppendSync(ctx context.Context, r Record) error {
	return s.append(ctx, r, true)
}

// Submit queues r to be stored durably, as AppendSync does, and returns
// once it is queued; wait returns once the line is fsynced (see
// AppendSync). Lines submitted for one address are written in the order
// Submit was called: a caller that decides the order of an address's lines
// (the push intake, filing by age) holds its lock across Submit alone, not
// the fsync. If ctx ends while the writer's queue is full, nothing is
// queued and ctx's error is returned.
func (s *Store) Submit(ctx context.Context, r Record) (wait func(context.Context) error, err error) {
	req, err := s.enqueue(ctx, r, true)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return s.await(ctx, r.IP, req) }, nil
}

func (s *Store) append(ctx context.Context, r Record, durable bool) error {
	req, err := s.enqueue(context.Background(), r, durable)
	if err != nil {
		return err
	}
	return s.await(ctx, r.IP, req)
}

// enqueue encodes r and hands it to the writer of its address's shard,
// which writes in the order it receives; ctx bounds the wait for room in
// the queue.
func (s *Store) enqueue(ctx context.Context, r Record, durable bool) (*request, error) {
	if !r.IP.IsValid() {
		s.m.writeErrors.Inc()
		return nil, errors.New("append: invalid IP address")
	}
	r.IP = r.IP.Unmap().WithZone("")
	if r.ScrapedAt.IsZero() {
		r.ScrapedAt = time.Now()
	}
	r.ScrapedAt = r.ScrapedAt.UTC()
	if y := r.ScrapedAt.Year(); y < 1 || y > 9999 {
		s.m.writeErrors.Inc()
		return nil, fmt.Errorf("append %s: scrape time %v has no RFC 3339 date", r.IP, r.ScrapedAt)
	}

	req := s.getRequest()
	line, err := appendLine(req.line[:0], &r)
	req.line = line
	if err != nil {
		s.putRequest(req)
		s.m.writeErrors.Inc()
		return nil, fmt.Errorf("append %s: %w", r.IP, err)
	}
	req.dir = dirName(r.IP)
	req.name = r.ScrapedAt.Format(time.DateOnly) + ".jsonl"
	req.sync = durable
	sh := s.shards[shardOf(req.dir)]

	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		s.putRequest(req)
		return nil, ErrClosed
	}
	select {
	case sh.reqs <- req:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		s.putRequest(req)
		return nil, fmt.Errorf("append %s: %w", r.IP, ctx.Err())
	}
	s.closeMu.RUnlock()
	return req, nil
}

// await waits for the writer's verdict on req, queued for ip.
func (s *Store) await(ctx context.Context, ip netip.Addr, req *request) error {
	ip = ip.Unmap().WithZone("")
	var err error
	select {
	case err = <-req.done:
	case <-ctx.Done():
		// The writer still owns req; leave it to the garbage collector.
		return fmt.Errorf("append %s: %w", ip, ctx.Err())
	}
	s.putRequest(req)
	if err != nil {
		return fmt.Errorf("append %s: %w", ip, err)
	}
	return nil
}

// Writable reports why the store cannot take writes, for /readyz: closed,
// appends failing (the last open, write or fsync failed, as on a full or
// read-only disk; cleared once a later line is written and synced), or a
// directory that refuses new files.
func (s *Store) Writable() error {
	s.closeMu.RLock()
	closed := s.closed
	s.closeMu.RUnlock()
	if closed {
		return ErrClosed
	}
	if err := s.health.err(); err != nil {
		return fmt.Errorf("appends are failing: %w", err)
	}
	// Concurrent probes each use their own file.
	probe := fmt.Sprintf(".writable-probe-%d", s.probes.Add(1))
	f, err := s.root.OpenFile(probe, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("storage not writable: %w", err)
	}
	_, werr := f.Write([]byte{'\n'})
	cerr := f.Close()
	rerr := s.root.Remove(probe)
	if err := errors.Join(werr, cerr, rerr); err != nil {
		return fmt.Errorf("storage not writable: %w", err)
	}
	return nil
}

// Close stops accepting appends, writes and fsyncs everything queued, and
// closes every file. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	for _, sh := range s.shards {
		close(sh.reqs)
	}
	s.closeMu.Unlock()

	close(s.stop)
	var errs []error
	for _, sh := range s.shards {
		<-sh.writerDone
		close(sh.stopSync)
		<-sh.syncDone
		errs = append(errs, sh.closeAll())
	}
	s.bgDone.Wait()
	if s.opts.Bucket != nil {
		// Writers are gone: close what they held and upload it while the
		// caller waits, within bounds.
		mark := s.fsSync.mark()
		s.sealAllLive()
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.CloseUploadTimeout)
		s.uploadPending(ctx, mark)
		cancel()
	}
	errs = append(errs, s.rootDir.Close(), s.root.Close())
	return errors.Join(errs...)
}

// request carries one encoded line, or another operation on a day file, to
// its shard's writer.
type request struct {
	op        requestOp
	dir, name string
	line      []byte
	sync      bool
	file      *dayFile
	done      chan error
}

type requestOp int

const (
	opWrite  requestOp = iota
	opDetach           // rename the file away for compaction
	opRemove           // delete the file for retention
	opSeal             // close the segment for upload
)

// inWriter runs op on d in the writer goroutine of d's shard, where no
// append can land in the file meanwhile, and returns its result.
func (s *Store) inWriter(op requestOp, d dayEntry) error {
	req := &request{op: op, dir: d.dir, name: d.name, done: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	s.shards[shardOf(d.dir)].reqs <- req
	s.closeMu.RUnlock()
	return <-req.done
}

// maxPooledLine keeps pathological lines from pinning memory in the pool.
const maxPooledLine = 4 << 20

func (s *Store) getRequest() *request {
	if r, ok := s.requests.Get().(*request); ok {
		return r
	}
	return &request{done: make(chan error, 1), line: make([]byte, 0, 128<<10)}
}

func (s *Store) putRequest(r *request) {
	if cap(r.line) > maxPooledLine {
		r.line = nil
	}
	r.file = nil
	s.requests.Put(r)
}

// dirName maps an address to its directory: IPv6 ':' becomes '_' so the
// name is valid on every OS.
func dirName(ip netip.Addr) string {
	return strings.ReplaceAll(ip.String(), ":", "_")
}

// parseDirName is dirName's inverse; it rejects anything dirName would not
// have produced.
func parseDirName(name string) (netip.Addr, bool) {
	ip, err := netip.ParseAddr(strings.ReplaceAll(name, "_", ":"))
	if err != nil || ip.Zone() != "" || ip.Is4In6() || dirName(ip) != name {
		return netip.Addr{}, false
	}
	return ip, true
}

func shardOf(dir string) int {
	h := uint32(2166136261)
	for i := 0; i < len(dir); i++ {
		h ^= uint32(dir[i])
		h *= 16777619
	}
	return int(h % numShards)
}

// health says whether appends currently work. Every failure is counted;
// a sync round clears the error only when one of its lines was begun after
// the last failure, so a success racing an older failure cannot hide it.
type health struct {
	failures atomic.Uint64
	mu       sync.Mutex
	last     error
}

// seq is taken before a line is written.
func (h *health) seq() uint64 { return h.failures.Load() }

func (h *health) fail(err error) {
	h.mu.Lock()
	h.last = err
	h.failures.Add(1)
	h.mu.Unlock()
}

// ok records that lines begun at seq are written and synced.
func (h *health) ok(seq uint64) {
	h.mu.Lock()
	if h.failures.Load() == seq {
		h.last = nil
	}
	h.mu.Unlock()
}

func (h *health) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.last
}

// diskUsage is the size of the day files on local disk: counted once by a
// walk in the background after Open and again every maintenance run, and
// kept current in between by the writers, compaction and retention, so a
// scrape never walks the archive.
type diskUsage struct {
	bytes atomic.Int64
	known atomic.Bool
}

func (u *diskUsage) add(n int64) { u.bytes.Add(n) }

// set replaces the total with a walk's result; what was added while the
// walk ran is kept, at the cost of counting twice the bytes the walk saw.
func (u *diskUsage) set(walked, before int64) {
	u.bytes.Add(walked - before)
	u.known.Store(true)
}
