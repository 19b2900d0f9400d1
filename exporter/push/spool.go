package push

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// Spool file names: the sequence number, zero-padded so that name order
// is push order, and the coding the file holds.
const (
	spoolExt    = ".json.zst"
	spoolDigits = 20
	spoolTemp   = ".tmp-" // a write in progress, or one a crash interrupted
)

// maxSpooled bounds what one spool file may decode to, and maxWindow the
// zstd window it may declare (the agent writes 1 MiB), so a damaged file
// cannot make the agent allocate without limit.
const (
	maxSpooled = 64 << 20
	maxWindow  = 4 << 20
)

// queue holds the snapshots waiting to be pushed, oldest first. A new
// snapshot waits in memory; once a push of it has failed, or a newer one
// has been taken, it goes to the spool directory, where it survives a
// restart, within maxBytes (oldest dropped first). Without a directory
// only the newest snapshot is kept, in memory.
//
// One sender takes the oldest entry at a time; file I/O happens under the
// lock, so no file is removed while this process has it open (Windows
// refuses that).
type queue struct {
	dir      string // "": memory only
	maxBytes int64
	m        *metrics
	log      *slog.Logger

	mu      sync.Mutex
	entries []*entry // oldest first; gone ones are trimmed lazily
	bytes   int64    // on disk
	files   int      // on disk
	next    uint64   // sequence number of the next snapshot
}

type entry struct {
	seq      uint64
	plain    []byte // while in memory
	file     string // name in the spool, once written
	size     int64
	inflight bool // taken by the sender
	gone     bool // delivered or dropped
}

// openQueue opens the spool in dir (created if missing; "" for none) and
// takes over the snapshots a previous run left there.
func openQueue(dir string, maxBytes int64, m *metrics, logger *slog.Logger) (*queue, error) {
	q := &queue{dir: dir, maxBytes: maxBytes, m: m, log: logger}
	if dir == "" {
		return q, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("push spool: %w", err)
	}
	// A spool that cannot be written is found now, not in the middle of
	// an outage.
	probe := spoolTemp + "probe"
	if err := writeFileAtomic(dir, probe, nil); err != nil {
		return nil, fmt.Errorf("push spool %s is not writable: %w", dir, err)
	}
	if err := os.Remove(filepath.Join(dir, probe)); err != nil {
		return nil, fmt.Errorf("push spool: %w", err)
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("push spool: %w", err)
	}
	for _, de := range des {
		name := de.Name()
		if strings.HasPrefix(name, spoolTemp) {
			// Written before a crash but never renamed: never complete.
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				logger.Warn("cannot remove unfinished spool file", "file", name, "err", err)
			}
			continue
		}
		seq, ok := parseSpoolName(name)
		if !ok || !de.Type().IsRegular() {
			logger.Warn("ignoring a file that is not a spooled snapshot", "dir", dir, "file", name)
			continue
		}
		info, err := de.Info()
		if err != nil {
			continue // removed meanwhile
		}
		q.entries = append(q.entries, &entry{seq: seq, file: name, size: info.Size()})
		q.bytes += info.Size()
		q.files++
	}
	slices.SortFunc(q.entries, func(a, b *entry) int { return cmp.Compare(a.seq, b.seq) })
	if n := len(q.entries); n > 0 {
		q.next = q.entries[n-1].seq + 1
		logger.Info("push spool holds snapshots from an earlier run", "dir", dir, "snapshots", n, "bytes", q.bytes)
	}
	q.makeRoom(0) // the limit may have shrunk since
	q.gauges()
	return q, nil
}

func spoolName(seq uint64) string {
	return fmt.Sprintf("%0*d%s", spoolDigits, seq, spoolExt)
}

func parseSpoolName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, spoolExt)
	if !ok || len(digits) != spoolDigits {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// add queues a new snapshot. A snapshot still waiting in memory has
// missed its turn: it goes to the spool, or, without one, is dropped.
func (q *queue) add(plain []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.entries {
		if e.gone || e.inflight || e.file != "" {
			continue
		}
		q.spill(e)
	}
	q.entries = append(q.entries, &entry{seq: q.next, plain: plain})
	q.next++
	q.trim()
}

// take returns the oldest queued snapshot and marks it in flight, or nil
// when the queue is empty. A spool file that cannot be read back is
// dropped with a log line and the next one taken.
func (q *queue) take() (*entry, []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.trim()
	for _, e := range q.entries {
		if e.gone {
			continue
		}
		if e.file == "" {
			e.inflight = true
			return e, e.plain
		}
		plain, err := q.load(e)
		if err != nil {
			q.log.Warn("skipping a spooled snapshot that cannot be read", "file", filepath.Join(q.dir, e.file), "err", err)
			q.drop(e, dropCorrupt)
			continue
		}
		e.inflight = true
		return e, plain
	}
	return nil, nil
}

// load reads a spool file back and checks it decodes to JSON.
func (q *queue) load(e *entry) ([]byte, error) {
	wire, err := os.ReadFile(filepath.Join(q.dir, e.file))
	if err != nil {
		return nil, err
	}
	plain, err := decodeZstd(wire)
	if err != nil {
		return nil, err
	}
	if !json.Valid(plain) {
		return nil, errors.New("not a JSON document")
	}
	return plain, nil
}

// done removes a delivered snapshot.
func (q *queue) done(e *entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e.inflight = false
	q.remove(e)
	q.trim()
	q.gauges()
}

// reject drops a snapshot the archiver will never accept.
func (q *queue) reject(e *entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e.inflight = false
	q.drop(e, dropRejected)
	q.trim()
}

// keep puts back a snapshot whose push failed, to be tried again: in the
// spool, or in memory while it is the newest.
func (q *queue) keep(e *entry) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e.inflight = false
	if e.gone || e.file != "" {
		return
	}
	if q.dir != "" {
		q.spill(e)
		return
	}
	if last := q.entries[len(q.entries)-1]; last != e {
		q.drop(e, dropNoSpool)
	}
}

// close writes what waits in memory to the spool, so that it is sent
// after a restart.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, e := range q.entries {
		if !e.gone && e.file == "" {
			e.inflight = false
			if q.dir != "" {
				q.spill(e)
			} else {
				q.drop(e, dropNoSpool)
			}
		}
	}
	q.trim()
}

// pending is the number of snapshots queued, in memory and on disk.
func (q *queue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, e := range q.entries {
		if !e.gone {
			n++
		}
	}
	return n
}

// spill writes e to the spool, making room first; without a spool, e is
// dropped. The caller holds q.mu.
func (q *queue) spill(e *entry) {
	if q.dir == "" {
		q.drop(e, dropNoSpool)
		return
	}
	wire, err := snapshot.AppendEncoded(nil, snapshot.Zstd, e.plain)
	if err == nil && int64(len(wire)) > q.maxBytes {
		q.log.Warn("snapshot larger than the whole push spool; dropping it", "bytes", len(wire), "max_bytes", q.maxBytes)
		q.drop(e, dropSpoolFull)
		return
	}
	if err == nil {
		q.makeRoom(int64(len(wire)))
		err = writeFileAtomic(q.dir, spoolName(e.seq), wire)
	}
	if err != nil {
		q.log.Error("cannot spool a snapshot that was not pushed; it is lost", "dir", q.dir, "err", err)
		q.drop(e, dropSpoolError)
		return
	}
	e.file, e.size, e.plain = spoolName(e.seq), int64(len(wire)), nil
	q.bytes += e.size
	q.files++
	q.gauges()
	if err := syncDir(q.dir); err != nil {
		// The file is complete and in place; only a power loss could
		// still take its name away.
		q.log.Warn("cannot fsync the push spool directory", "dir", q.dir, "err", err)
	}
}

// makeRoom drops the oldest spooled snapshots until n more bytes fit.
// The caller holds q.mu.
func (q *queue) makeRoom(n int64) {
	for _, e := range q.entries {
		if q.bytes+n <= q.maxBytes {
			return
		}
		if e.gone || e.file == "" {
			continue
		}
		q.log.Warn("push spool full: dropping its oldest snapshot", "file", e.file, "max_bytes", q.maxBytes)
		q.drop(e, dropSpoolFull)
	}
}

// drop gives e up, counted by reason. The caller holds q.mu.
func (q *queue) drop(e *entry, reason string) {
	if e.gone {
		return
	}
	q.remove(e)
	q.m.dropped.WithLabelValues(reason).Inc()
	q.gauges()
}

// remove forgets e and deletes its file. The caller holds q.mu.
func (q *queue) remove(e *entry) {
	if e.gone {
		return
	}
	e.gone, e.plain = true, nil
	if e.file == "" {
		return
	}
	q.bytes -= e.size
	q.files--
	// A file left behind is sent again after a restart, which the
	// archiver recognises as a duplicate.
	if err := os.Remove(filepath.Join(q.dir, e.file)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		q.log.Warn("cannot remove spool file", "file", e.file, "err", err)
	}
}

// trim forgets gone entries at the front. The caller holds q.mu.
func (q *queue) trim() {
	i := 0
	for i < len(q.entries) && q.entries[i].gone {
		q.entries[i] = nil
		i++
	}
	q.entries = q.entries[i:]
}

func (q *queue) gauges() {
	q.m.spoolBytes.Set(float64(q.bytes))
	q.m.spoolSnapshots.Set(float64(q.files))
}

// writeFileAtomic writes name in dir so that it exists complete or not at
// all: a temporary file, fsynced, then renamed (the caller fsyncs the
// directory). The name is new, so nothing is ever renamed over a file (or
// an open one, as Windows would refuse).
func writeFileAtomic(dir, name string, data []byte) (err error) {
	tmp := filepath.Join(dir, spoolTemp+name)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, name))
}

// zstdDecoder reads spool files back; DecodeAll is safe for concurrent use.
var zstdDecoder = sync.OnceValues(func() (*zstd.Decoder, error) {
	return zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderMaxMemory(maxSpooled),
		zstd.WithDecoderMaxWindow(maxWindow),
	)
})

func decodeZstd(wire []byte) ([]byte, error) {
	if len(wire) == 0 {
		return nil, errors.New("empty file")
	}
	d, err := zstdDecoder()
	if err != nil {
		return nil, err
	}
	plain, err := d.DecodeAll(wire, nil)
	if err != nil {
		return nil, fmt.Errorf("zstd: %w", err)
	}
	return bytes.TrimSpace(plain), nil
}
