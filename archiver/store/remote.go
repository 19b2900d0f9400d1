package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"net/netip"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/thanos-io/objstore"
	"github.com/thanos-io/objstore/client"
)

// Object storage (Options.Bucket) holds the closed segments of every day:
// a live day file is sealed into the day's next numbered part once it has
// been open for Options.SegmentMaxAge, once its UTC day has ended, and on
// Close; each sealed part is then compressed with zstd and uploaded as
//
//	<ip dir>/<date>/<remote id>/<first scraped_at ns>_<part>.jsonl.zst
//
// followed by its manifest, whose name carries what reads need without a
// GET of it:
//
//	<ip dir>/<date>/<remote id>/<first ns>_<part>_<last ns>_<lines>_<bytes>.zst.json
//
// Segments written by earlier versions are gzip (.jsonl.gz, manifest
// without ".zst"), and are read alike.
//
// A segment exists in the bucket only once its manifest does: an object
// without one (a crash between the two writes) is ignored by reads and
// written again, under the same name, when the part is uploaded again at
// start-up. After the manifest, a local marker .<part>.uploaded records the
// segment's name; the part leaves local disk once it is older than
// Options.LocalRetention and the manifest is found in the bucket.
const (
	uploadedSuffix = ".uploaded"
	manifestSuffix = ".json"
)

// The codecs of segment objects, as the object's last extension and the
// manifest names them. zstd at its fastest level compresses snapshot lines
// 2.2 times as fast as gzip level 1 and packs them 1.75 times as tight
// (7.9× against 4.5×, `go test -bench Codec ./archiver/store`), which is
// what lets one archiver upload while it scrapes 1,000 agents a second.
const (
	codecGzip = "gz"
	codecZstd = "zst"
)

// NewBucket opens the object storage described by conf, a Thanos
// bucket-config file (type: S3|GCS|AZURE|FILESYSTEM|…, config: {…}).
func NewBucket(conf []byte, logger *slog.Logger) (objstore.Bucket, error) {
	return client.NewBucket(kitLogger{logger}, conf, "archiver", nil)
}

// kitLogger hands objstore's go-kit log lines to slog at debug level.
type kitLogger struct{ l *slog.Logger }

func (k kitLogger) Log(kv ...any) error {
	k.l.Debug("objstore", kv...)
	return nil
}

var badIDChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// RemoteID turns a name (a host name, a shard) into the path element that
// keeps this archiver's objects apart from every other archiver's.
func RemoteID(name string) string {
	id := badIDChars.ReplaceAllString(name, "_")
	if id == "" || id == "." || id == ".." {
		return "archiver"
	}
	return id
}

// segment is one closed segment in the bucket, as its manifest names it.
type segment struct {
	dir, date, id string
	part          int
	first, last   time.Time
	lines, bytes  int64
	manifest      string
	codec         string // codecZstd, or codecGzip for segments of earlier versions
}

func (g segment) base() string {
	return path.Join(g.dir, g.date, g.id, strconv.FormatInt(g.first.UnixNano(), 10)+"_"+strconv.Itoa(g.part))
}

func (g segment) object() string {
	codec := g.codec
	if codec == "" {
		codec = codecGzip // as parseManifestName reads a name without ".zst"
	}
	return g.base() + ".jsonl." + codec
}

func (g segment) manifestName() string {
	codec := ""
	if g.codec == codecZstd {
		codec = "." + codecZstd
	}
	return fmt.Sprintf("%s_%d_%d_%d%s%s", g.base(), g.last.UnixNano(), g.lines, g.bytes, codec, manifestSuffix)
}

// parseManifestName is manifestName's inverse.
func parseManifestName(name string) (segment, bool) {
	rest, ok := strings.CutSuffix(name, manifestSuffix)
	if !ok {
		return segment{}, false
	}
	codec := codecGzip
	if r, ok := strings.CutSuffix(rest, "."+codecZstd); ok {
		rest, codec = r, codecZstd
	}
	elems := strings.Split(rest, "/")
	if len(elems) != 4 {
		return segment{}, false
	}
	if _, ok := parseDirName(elems[0]); !ok {
		return segment{}, false
	}
	if _, err := time.Parse(time.DateOnly, elems[1]); err != nil {
		return segment{}, false
	}
	f := strings.Split(elems[3], "_")
	if len(f) != 5 {
		return segment{}, false
	}
	var n [5]int64
	for i, s := range f {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return segment{}, false
		}
		n[i] = v
	}
	return segment{
		dir: elems[0], date: elems[1], id: elems[2], part: int(n[1]),
		first: time.Unix(0, n[0]).UTC(), last: time.Unix(0, n[2]).UTC(),
		lines: n[3], bytes: n[4], manifest: name, codec: codec,
	}, true
}

// remoteMetrics are the archiver_remote_* metrics.
type remoteMetrics struct {
	uploads       *prometheus.CounterVec
	uploadedBytes prometheus.Counter
	lag           prometheus.Gauge
	pending       prometheus.Gauge
	deletedDays   *prometheus.CounterVec
	bucketBytes   *bucketBytes
}

func newRemoteMetrics(reg prometheus.Registerer) (*remoteMetrics, error) {
	m := &remoteMetrics{
		uploads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archiver_remote_uploads_total",
			Help: "Segment uploads to object storage by result (success, failure).",
		}, []string{"result"}),
		uploadedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "archiver_remote_uploaded_bytes_total",
			Help: "Compressed bytes of the segments uploaded to object storage.",
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "archiver_remote_upload_lag_seconds",
			Help: "How long the oldest closed segment not yet uploaded has waited; 0 when none waits.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "archiver_remote_pending_segments",
			Help: "Closed segments on local disk not yet uploaded to object storage.",
		}),
		deletedDays: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "archiver_remote_retention_deleted_days_total",
			Help: "Agent days deleted from object storage by the retention, by reason: age (--storage.retention) or size (--storage.remote.retention.size).",
		}, []string{"reason"}),
		bucketBytes: newBucketBytes(),
	}
	m.uploads.WithLabelValues("success")
	m.uploads.WithLabelValues("failure")
	m.deletedDays.WithLabelValues(reasonAge)
	m.deletedDays.WithLabelValues(reasonSize)
	for _, c := range []prometheus.Collector{m.uploads, m.uploadedBytes, m.lag, m.pending, m.deletedDays, m.bucketBytes} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register remote metrics: %w", err)
		}
	}
	return m, nil
}

// uploadWorkers upload segments at once. Each PUT waits on the network and
// on the store's own disk, so the workers mostly wait: with four, uploads to
// versitygw on loopback beside 1,000 scrapes/s stalled at about 35 segments a
// second. Compressing is bounded apart (Store.compressing), so more workers
// cost memory (a compressed segment each, about 8 MB for an hour of one
// agent) rather than cores.
const uploadWorkers = 8

// remoteEvery is how often segments are closed, uploaded and pruned; a
// variable so tests need not wait.
var remoteEvery = 30 * time.Second

// endedDayIdle is how long the file of a day that has ended must have
// been left alone before it is closed, so the scrapes that began before
// midnight land in it rather than in a tiny segment of their own.
var endedDayIdle = time.Minute

// remoteLoop closes, uploads and prunes segments until the store stops.
func (s *Store) remoteLoop() {
	defer s.bgDone.Done()
	// A short max-age needs closer checks, or segments would run long.
	t := time.NewTicker(min(remoteEvery, max(s.opts.SegmentMaxAge/4, 100*time.Millisecond)))
	defer t.Stop()
	for {
		now := time.Now()
		// Taken before the renames that close segments, so the syncfs that
		// makes them durable reports any failure since (see fsSync).
		mark := s.fsSync.mark()
		ctx, cancel := s.stopContext()
		s.closeSegments(now)
		parts := s.uploadPending(ctx, mark)
		s.pruneLocal(ctx, now, parts)
		cancel()
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// closeSegments seals every live day file whose day has ended or whose
// first line is SegmentMaxAge old.
func (s *Store) closeSegments(now time.Time) {
	days, err := s.walk(netip0)
	if err != nil {
		s.log.Error("remote: cannot list storage", "err", err)
		return
	}
	today := now.UTC().Format(time.DateOnly)
	for _, d := range days {
		if !d.live() {
			continue
		}
		if d.date < today && now.Sub(d.modTime) < endedDayIdle {
			continue // lines of scrapes begun before midnight may still come
		}
		if d.date >= today {
			first, ok, err := s.firstLineTime(d)
			if err != nil {
				s.log.Error("remote: cannot read segment start", "file", path.Join(d.dir, d.name), "err", err)
				continue
			}
			if !ok || now.Before(closeAt(d.dir, d.date, first, s.opts.SegmentMaxAge)) {
				continue
			}
		}
		if err := s.sealLive(d); err != nil && !errors.Is(err, ErrClosed) {
			s.log.Error("remote: cannot close segment", "file", path.Join(d.dir, d.name), "err", err)
		}
	}
}

// closeAt is when the live segment of address directory dir and day date,
// whose first line is first, closes: at the first of the address's segment
// boundaries after first, which are maxAge apart from a point of the day's
// first maxAge set by the address (FNV-1a). So no segment is longer than
// maxAge, one that follows another is exactly that long, and the agents'
// segments close, compress and upload spread evenly over every maxAge.
// Closing each maxAge after its first line would do it all in a burst at
// every hour mark, since every agent's day begins at midnight and every
// agent's first file when the archiver starts (5,000 agents at 5 s: 360 GB
// at once), taking the cores the scrapes need.
func closeAt(dir, date string, first time.Time, maxAge time.Duration) time.Time {
	day, err := time.Parse(time.DateOnly, date)
	if err != nil || maxAge <= 0 {
		return first.Add(maxAge)
	}
	h := fnv.New64a()
	h.Write([]byte(dir))
	phase := day.Add(time.Duration(h.Sum64() % uint64(maxAge)))
	since := first.Sub(phase)
	if since < 0 {
		return phase
	}
	return phase.Add((since/maxAge + 1) * maxAge)
}

// firstLineTime is the scraped_at of the first line of d.
func (s *Store) firstLineTime(d dayEntry) (time.Time, bool, error) {
	f, err := s.root.Open(path.Join(d.dir, d.name))
	if err != nil {
		return time.Time{}, false, err
	}
	defer f.Close()
	buf := make([]byte, 4096)
	n, _ := f.ReadAt(buf, 0)
	t, ok := lineTime(buf[:n])
	return t, ok, nil
}

// sealLive asks d's writer to close it and rename it to the day's next
// part, which is then uploaded.
func (s *Store) sealLive(d dayEntry) error {
	return s.inWriter(opSeal, d)
}

// closeSegment runs in the writer of dir (or after the writers stopped):
// dir/name is closed and renamed to the day's next part.
func (sh *shard) closeSegment(req *request) error {
	key := req.dir + "/" + req.name
	if df := sh.files[key]; df != nil {
		sh.drop(df)
	}
	_, err := sh.s.rotate(req.dir, req.name)
	if errors.Is(err, errNoFile) {
		return nil
	}
	return err
}

var errNoFile = errors.New("no such day file")

// rotate renames the live file dir/name to the day's next numbered part.
func (s *Store) rotate(dir, name string) (string, error) {
	date, part, _, _ := parseDayName(name)
	if part != livePart {
		return "", errNoFile
	}
	names, err := s.listDir(dir)
	if err != nil {
		return "", err
	}
	sealed := partName(date, nextPart(names, date))
	key := path.Join(dir, name)
	s.layout.Lock()
	err = s.root.Rename(key, path.Join(dir, sealed))
	if err == nil {
		s.parted[dir+"/"+date] = true
	}
	s.layout.Unlock()
	if isNotExist(err) {
		return "", errNoFile
	}
	if err != nil {
		return "", fmt.Errorf("close segment %s: %w", key, err)
	}
	s.forgetCount(dayEntry{dir: dir, name: name})
	return sealed, nil
}

// sealAllLive closes every live segment once the writers have stopped, so
// a clean shutdown leaves nothing open to upload.
func (s *Store) sealAllLive() {
	days, err := s.walk(netip0)
	if err != nil {
		s.log.Error("remote: cannot list storage", "err", err)
		return
	}
	for _, d := range days {
		if d.live() {
			if _, err := s.rotate(d.dir, d.name); err != nil && !errors.Is(err, errNoFile) {
				s.log.Error("remote: cannot close segment", "file", path.Join(d.dir, d.name), "err", err)
			}
		}
	}
}

// sealedParts lists the closed parts on local disk and whether each has
// been uploaded (the segment name from its marker).
func (s *Store) sealedParts() ([]dayEntry, map[string]string, error) {
	days, err := s.walk(netip0)
	if err != nil {
		return nil, nil, err
	}
	var parts []dayEntry
	uploaded := map[string]string{}
	seenDir := map[string]bool{}
	for _, d := range days {
		if d.compressed || d.detached || d.part == livePart {
			continue
		}
		parts = append(parts, d)
		if !seenDir[d.dir] {
			seenDir[d.dir] = true
			for k, v := range s.localMarkers(d.dir) {
				uploaded[k] = v
			}
		}
	}
	return parts, uploaded, nil
}

// markers caches the .uploaded markers of each address directory once read,
// so the rounds and queries do not re-read thousands of small files: with
// 48 hours of hourly segments an agent keeps about 50.
type markers struct {
	mu   sync.Mutex
	dirs map[string]map[string]string // dir → part name → manifest
}

// localMarkers maps "<dir>/<part name>" to the manifest named by its
// .uploaded marker.
func (s *Store) localMarkers(dir string) map[string]string {
	s.markers.mu.Lock()
	defer s.markers.mu.Unlock()
	m, ok := s.markers.dirs[dir]
	if !ok {
		m = s.readMarkers(dir)
		if s.markers.dirs == nil {
			s.markers.dirs = map[string]map[string]string{}
		}
		s.markers.dirs[dir] = m
	}
	out := make(map[string]string, len(m))
	for part, manifest := range m {
		out[path.Join(dir, part)] = manifest
	}
	return out
}

// setMarker records (manifest != "") or forgets the marker of dir/part in
// the cache, once the file itself is written or removed.
func (s *Store) setMarker(dir, part, manifest string) {
	s.markers.mu.Lock()
	defer s.markers.mu.Unlock()
	m, ok := s.markers.dirs[dir]
	if !ok {
		return // read from disk when first needed
	}
	if manifest == "" {
		delete(m, part)
	} else {
		m[part] = manifest
	}
}

// forgetMarker removes the marker of a part deleted by retention.
func (s *Store) forgetMarker(d dayEntry) {
	if s.opts.Bucket == nil {
		return
	}
	s.setMarker(d.dir, d.name, "")
	if err := s.root.Remove(path.Join(d.dir, hidden(d.name, uploadedSuffix))); err != nil && !isNotExist(err) {
		s.log.Warn("cannot delete upload marker", "file", path.Join(d.dir, d.name), "err", err)
	}
}

func (s *Store) readMarkers(dir string) map[string]string {
	out := map[string]string{}
	names, err := s.listDir(dir)
	if err != nil {
		return out
	}
	for _, n := range names {
		base, ok := strings.CutPrefix(n, ".")
		if !ok {
			continue
		}
		if base, ok = strings.CutSuffix(base, uploadedSuffix); !ok {
			continue
		}
		b, err := s.root.ReadFile(path.Join(dir, n))
		if err != nil {
			continue
		}
		out[base] = strings.TrimSpace(string(b))
	}
	return out
}

// uploadPending uploads every closed part without marker, oldest first,
// sets the lag and pending metrics, and returns the closed parts it found.
func (s *Store) uploadPending(ctx context.Context, mark uint64) []dayEntry {
	parts, uploaded, err := s.sealedParts()
	if err != nil {
		s.log.Error("remote: cannot list storage", "err", err)
		return nil
	}
	var pending []dayEntry
	now := time.Now()
	today := now.UTC().Format(time.DateOnly)
	state := sync.OnceValues(func() (retentionState, error) { return s.readRetentionState(ctx) })
	for _, d := range parts {
		if _, ok := uploaded[path.Join(d.dir, d.name)]; ok {
			continue
		}
		// A part that waited out an outage of the bucket while the
		// bucket's retention deleted its date would bring part of that
		// day back until the next run deleted it again: it goes instead,
		// as the retention meant. (An unreadable state uploads it.)
		// (Today is never deleted: no GET of the state for its parts.)
		if d.date < today {
			if dropped, err := s.dropIfRetained(now, d, state); err == nil && dropped {
				continue
			}
		}
		pending = append(pending, d)
	}
	s.setLag(pending)
	if len(pending) > 0 && s.wholeFS {
		// One syncfs begun now covers the renames that closed every part
		// of the round: a directory fsync per part, each waiting for a
		// journal commit while the scrapes write 100 MB/s, held the
		// uploads to about 40 segments a second.
		if err := s.fsSync.Sync(mark); err != nil {
			s.rm.uploads.WithLabelValues("failure").Inc()
			s.log.Error("remote: cannot make closed segments durable; retried later", "err", err)
			return parts
		}
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		failed    bool
		done      = make([]bool, len(pending))
		nUploaded int
		start     = time.Now()
		before    = counterValue(s.rm.uploadedBytes)
	)
	slots := make(chan struct{}, uploadWorkers)
	for i, d := range pending {
		mu.Lock()
		stop := failed
		mu.Unlock()
		if stop || ctx.Err() != nil {
			break
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			err := s.upload(ctx, d)
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, errRetainedDuringUpload) {
				done[i] = true
				return
			}
			if err != nil && ctx.Err() != nil {
				failed = true // stopping: the part is uploaded at the next start
				return
			}
			if err != nil {
				s.rm.uploads.WithLabelValues("failure").Inc()
				s.log.Error("remote: upload failed; retried later", "file", path.Join(d.dir, d.name), "err", err)
				failed = true // the bucket is likely down: try again next round
				return
			}
			s.rm.uploads.WithLabelValues("success").Inc()
			nUploaded++
			done[i] = true
			var waiting []dayEntry
			for j, p := range pending {
				if !done[j] {
					waiting = append(waiting, p)
				}
			}
			s.setLag(waiting)
		}()
	}
	wg.Wait()
	if nUploaded > 0 {
		sent := counterValue(s.rm.uploadedBytes) - before
		took := time.Since(start)
		s.log.Info("uploaded segments", "segments", nUploaded, "waiting", len(pending)-nUploaded, "bytes", int64(sent), "duration", took.Round(time.Millisecond), "mb_per_second", fmt.Sprintf("%.1f", sent/1e6/took.Seconds()))
	}
	return parts
}

// counterValue reads a counter's value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

func (s *Store) setLag(pending []dayEntry) {
	s.rm.pending.Set(float64(len(pending)))
	var oldest time.Time
	for _, d := range pending {
		if oldest.IsZero() || d.modTime.Before(oldest) {
			oldest = d.modTime
		}
	}
	if oldest.IsZero() {
		s.rm.lag.Set(0)
		return
	}
	s.rm.lag.Set(max(0, time.Since(oldest).Seconds()))
}

// upload compresses the closed part d and writes its object, then its
// manifest, then the local marker.
func (s *Store) upload(ctx context.Context, d dayEntry) error {
	p := path.Join(d.dir, d.name)
	// The rename that closed the part must be durable before its name is
	// published, or a crash could reopen it as live and close it again
	// with more lines under a second name. With syncfs, uploadPending made
	// every rename durable with one call for the whole round.
	if !s.wholeFS {
		if err := s.syncDir(d.dir); err != nil {
			return fmt.Errorf("fsync directory %s: %w", d.dir, err)
		}
	}
	f, err := s.root.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	end, err := lastNewline(f, fi.Size())
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	g := segment{dir: d.dir, date: d.date, id: s.opts.RemoteID, part: d.part, codec: codecZstd}
	select {
	case s.compressing <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	zw := segmentEncoders.Get().(*zstd.Encoder)
	zw.Reset(&buf)
	err = scanLines(ctx, sectionOf(f, end+1), func(line []byte) error {
		if !servable(line) {
			return nil
		}
		if t, ok := lineTime(line); ok {
			if g.lines == 0 || t.Before(g.first) {
				g.first = t
			}
			if t.After(g.last) {
				g.last = t
			}
		}
		g.lines++
		if _, err := zw.Write(line); err != nil {
			return err
		}
		_, err := zw.Write([]byte{'\n'})
		return err
	})
	if err == nil {
		err = zw.Close()
	}
	zw.Reset(nil) // let go of buf, up to a segment, before pooling
	segmentEncoders.Put(zw)
	<-s.compressing
	// Closed before the part may be removed below (empty, or its date
	// deleted meanwhile): Windows cannot remove an open file.
	f.Close()
	if err != nil {
		return fmt.Errorf("compress %s: %w", p, err)
	}
	if g.lines == 0 {
		// Nothing to keep: an empty part is simply removed.
		return s.removePart(d)
	}
	g.bytes = int64(buf.Len())
	if err := s.opts.Bucket.Upload(ctx, g.object(), bytes.NewReader(buf.Bytes())); err != nil {
		return fmt.Errorf("upload %s: %w", g.object(), err)
	}
	if err := s.opts.Bucket.Upload(ctx, g.manifestName(), strings.NewReader(manifestJSON(g, end+1))); err != nil {
		return fmt.Errorf("upload %s: %w", g.manifestName(), err)
	}
	s.rm.uploadedBytes.Add(float64(g.bytes))
	if d.date < time.Now().UTC().Format(time.DateOnly) {
		if err := s.undoIfRetained(ctx, d, g); err != nil {
			return err
		}
	}
	marker := path.Join(d.dir, hidden(d.name, uploadedSuffix))
	if err := s.root.WriteFile(marker, []byte(g.manifestName()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", marker, err)
	}
	s.setMarker(d.dir, d.name, g.manifestName())
	s.log.Debug("uploaded segment", "file", p, "object", g.object(), "lines", g.lines, "bytes", g.bytes)
	return nil
}

// errRetainedDuringUpload is a part whose date the bucket's retention
// deleted while it was being uploaded: its objects were taken back out and
// it left local disk, as if the retention had found it there.
var errRetainedDuringUpload = errors.New("date deleted by the bucket's retention during the upload")

// undoIfRetained closes the race between uploading a part of a past date
// and a retention run deleting that date. A retention run publishes the
// date (size) or follows from the clock (age) before it lists the
// agent's day, so reading the state after the manifest is up settles it:
// either this read sees the date deleted, and the part's objects go again
// here, or the run's listing comes later and finds the manifest itself.
// An unreadable state leaves the upload standing; the next size run
// deletes what is left of a date it already deleted.
func (s *Store) undoIfRetained(ctx context.Context, d dayEntry, g segment) error {
	deleted, err := s.deletedByRetention(time.Now(), d.date, func() (retentionState, error) { return s.readRetentionState(ctx) })
	if err != nil {
		s.log.Warn("remote: cannot tell whether the retention deleted the date just uploaded", "object", g.object(), "err", err)
		return nil
	}
	if !deleted {
		return nil
	}
	for _, name := range []string{g.manifestName(), g.object()} {
		if err := s.opts.Bucket.Delete(ctx, name); err != nil && !s.opts.Bucket.IsObjNotFoundErr(err) {
			return fmt.Errorf("delete %s of a date the retention deleted: %w", name, err)
		}
	}
	if err := s.removePart(d); err != nil {
		return fmt.Errorf("remove %s of a date the retention deleted: %w", path.Join(d.dir, d.name), err)
	}
	s.log.Info("remote: the bucket's retention deleted the date of a segment while it was uploaded; deleted it too", "file", path.Join(d.dir, d.name), "object", g.object())
	return errRetainedDuringUpload
}

func manifestJSON(g segment, raw int64) string {
	return fmt.Sprintf(`{"ip_dir":%q,"date":%q,"archiver":%q,"part":%d,"object":%q,"first":%q,"last":%q,"lines":%d,"bytes":%d,"raw_bytes":%d}`+"\n",
		g.dir, g.date, g.id, g.part, path.Base(g.object()), g.first.Format(time.RFC3339Nano), g.last.Format(time.RFC3339Nano), g.lines, g.bytes, raw)
}

// removePart deletes a closed part with its marker and line count.
func (s *Store) removePart(d dayEntry) error {
	s.layout.Lock()
	err := s.root.Remove(path.Join(d.dir, d.name))
	s.layout.Unlock()
	if err != nil && !isNotExist(err) {
		return err
	}
	s.setMarker(d.dir, d.name, "")
	if err := s.root.Remove(path.Join(d.dir, hidden(d.name, uploadedSuffix))); err != nil && !isNotExist(err) {
		return err
	}
	s.forgetCount(d)
	s.usage.add(-d.size)
	return nil
}

// dropIfRetained deletes the closed part d from local disk if the bucket's
// retention deleted its day (see deletedByRetention), and says whether it
// did: then d must not be uploaded, even if deleting it failed (tried again
// next round). err is the retention state's, unreadable.
func (s *Store) dropIfRetained(now time.Time, d dayEntry, state func() (retentionState, error)) (bool, error) {
	deleted, err := s.deletedByRetention(now, d.date, state)
	if err != nil || !deleted {
		return false, err
	}
	if err := s.removePart(d); err != nil {
		s.log.Error("remote: cannot delete a segment of a day the retention deleted", "file", path.Join(d.dir, d.name), "err", err)
		return true, nil
	}
	s.log.Info("remote: segment of a day the bucket's retention deleted leaves local disk", "file", path.Join(d.dir, d.name))
	return true, nil
}

// pruneLocal deletes uploaded parts older than LocalRetention once their
// manifest is confirmed in the bucket.
func (s *Store) pruneLocal(ctx context.Context, now time.Time, parts []dayEntry) {
	uploaded := map[string]string{}
	for _, d := range parts {
		if _, seen := uploaded[d.dir]; !seen {
			uploaded[d.dir] = ""
			maps.Copy(uploaded, s.localMarkers(d.dir))
		}
	}
	state := sync.OnceValues(func() (retentionState, error) { return s.readRetentionState(ctx) })
	for _, d := range parts {
		manifest := uploaded[path.Join(d.dir, d.name)]
		if manifest == "" || now.Sub(d.modTime) < s.opts.LocalRetention {
			continue
		}
		exists, err := s.opts.Bucket.Exists(ctx, manifest)
		if err == nil && !exists {
			// A day the bucket's retention deleted must not go up again
			// (it would come back for ever): its local copy goes instead.
			dropped, err := s.dropIfRetained(now, d, state)
			if err != nil {
				s.log.Warn("remote: cannot tell whether a missing segment was deleted by retention; asked again later", "file", path.Join(d.dir, d.name), "err", err)
				continue
			}
			if dropped {
				continue
			}
		}
		if err != nil || !exists {
			if err == nil {
				// The marker lies (bucket emptied or pruned): upload again.
				s.setMarker(d.dir, d.name, "")
				_ = s.root.Remove(path.Join(d.dir, hidden(d.name, uploadedSuffix)))
			}
			continue
		}
		if err := s.removePart(d); err != nil {
			s.log.Error("remote: cannot delete uploaded segment", "file", path.Join(d.dir, d.name), "err", err)
		}
	}
}

// bucketRetention deletes whole agent days older than Retention from the
// bucket: manifests first, so a day being deleted is never half served.
func (s *Store) bucketRetention(ctx context.Context, now time.Time) error {
	cutoff := now.UTC().Add(-s.opts.Retention).Format(time.DateOnly)
	bkt := s.opts.Bucket
	err := bkt.Iter(ctx, "", func(dir string) error {
		if _, ok := parseDirName(strings.TrimSuffix(dir, "/")); !ok {
			return nil // not an address: the retention state, say
		}
		return bkt.Iter(ctx, dir, func(day string) error {
			date := path.Base(strings.TrimSuffix(day, "/"))
			if _, err := time.Parse(time.DateOnly, date); err != nil || date >= cutoff {
				return nil
			}
			if _, err := s.deleteAgentDay(ctx, day); err != nil {
				return err
			}
			s.rm.deletedDays.WithLabelValues(reasonAge).Inc()
			s.log.Info("retention: deleted day from object storage", "day", day)
			return nil
		})
	})
	return err
}

// bucketAgeRun is the age retention's turn of bucketLoop. It runs once a
// UTC day (it deletes whole days; each run lists every address, 5,000
// LISTs, 120,000 a day if hourly), in a goroutine of its own so its deletes
// never hold up closing and uploading, least of all just after midnight
// when every agent's day closes: the next run is five minutes past the
// next midnight, once the day that ended is closed.
func (s *Store) bucketAgeRun(ctx context.Context, now time.Time) (time.Time, error) {
	if err := s.bucketRetention(ctx, now); err != nil {
		return time.Time{}, err
	}
	return now.UTC().Truncate(24 * time.Hour).Add(24*time.Hour + 5*time.Minute), nil
}

// remoteSegments lists the segments in the bucket for dir (an address
// directory) and date ("" = every date), without those whose local copy
// is still on disk, oldest first.
func (s *Store) remoteSegments(ctx context.Context, dir, date string) ([]segment, error) {
	prefix := dir + "/"
	if date != "" {
		prefix += date + "/"
	}
	local := map[string]bool{}
	for part, manifest := range s.localMarkers(dir) {
		if _, err := s.root.Stat(part); err == nil {
			local[manifest] = true
		}
	}
	var out []segment
	err := s.opts.Bucket.Iter(ctx, prefix, func(name string) error {
		if g, ok := parseManifestName(name); ok && !local[name] && !s.isLocalCopy(g) {
			out = append(out, g)
		}
		return nil
	}, objstore.WithRecursiveIter())
	if err != nil {
		return nil, fmt.Errorf("list %s in object storage: %w", prefix, err)
	}
	sortSegments(out)
	return dedupeSegments(out), nil
}

// isLocalCopy says g is one of this archiver's segments whose part is
// still on local disk though its marker is not written yet (an upload
// finishing right now): the same part number and the same first line.
func (s *Store) isLocalCopy(g segment) bool {
	if g.id != s.opts.RemoteID {
		return false
	}
	name := partName(g.date, g.part)
	if _, err := s.root.Stat(path.Join(g.dir, name)); err != nil {
		return false
	}
	first, ok, err := s.firstLineTime(dayEntry{dir: g.dir, name: name})
	return err == nil && ok && first.Equal(g.first)
}

// netip0 asks walk for every address.
var netip0 netip.Addr

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

// segmentEncoders and segmentDecoders are kept for reuse: a zstd coder's
// tables cost more to build than a small segment to compress. One goroutine
// each, and a 1 MiB window: wider windows gained 0.2% on snapshot lines and
// cost memory in every upload worker and every reader.
var (
	segmentEncoders = sync.Pool{New: func() any {
		zw, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(segmentWindow)) // valid options cannot fail
		return zw
	}}
	segmentDecoders = sync.Pool{New: func() any {
		zr, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(segmentWindow),
			zstd.WithDecoderMaxMemory(segmentWindow))
		return zr
	}}
)

const segmentWindow = 1 << 20

func sectionOf(f *os.File, n int64) io.Reader { return io.NewSectionReader(f, 0, n) }

// dedupeSegments keeps one manifest per segment (object name without its
// codec), in order: a part uploaded as gzip by an earlier version whose
// marker was never written (a crash after the manifest) is uploaded again
// as zstd under another name, and its lines must not be served twice. The
// zstd copy is kept.
func dedupeSegments(gs []segment) []segment {
	byBase := map[string]int{}
	out := gs[:0]
	for _, g := range gs {
		if i, ok := byBase[g.base()]; ok {
			if g.codec == codecZstd {
				out[i] = g
			}
			continue
		}
		byBase[g.base()] = len(out)
		out = append(out, g)
	}
	return out
}

// sortSegments orders segments by first line, as they are read.
func sortSegments(gs []segment) {
	slices.SortFunc(gs, func(a, b segment) int {
		if c := a.first.Compare(b.first); c != 0 {
			return c
		}
		return strings.Compare(a.manifest, b.manifest)
	})
}
