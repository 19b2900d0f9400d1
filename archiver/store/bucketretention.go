package store

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/thanos-io/objstore"
)

// Size retention of the bucket (Options.RemoteRetentionSize) bounds the
// bucket as a whole, every archiver's segments together, the way
// --storage.retention.size bounds local disk (applySizeRetention): while
// the bucket is larger than the limit, the oldest UTC date goes, whole,
// for every agent and archiver; today's date never does. Each agent day
// goes manifests first, so it is never half served.
//
// The size comes from a listing: manifest names carry their segment's
// compressed bytes. What a run costs decides how it works. The bucket is
// laid out <address>/<date>/<archiver>/…, so the segments of one date are
// spread over every address: summing one date costs one LIST per agent
// (5,000 for a 5,000-agent fleet) for about 50 names each, while a
// recursive listing of an address returns all its dates at 1,000 names a
// page. Measuring everything per address, in parallel, is therefore the
// cheapest exact count: ⌈A/1,000⌉ + A × ⌈names per agent / 1,000⌉ LISTs,
// 25,005 for 5,000 agents over 90 days (4,500 names each). Caching the
// totals of past dates and listing only the recent ones per address would
// still cost 1 + k LISTs per agent (the dates to find, k of them to sum),
// so it would save little and could miss late uploads to old days.
//
// So the measurement is rare instead: each run plans the next one for when
// the bucket would reach the limit at the growth of the last whole date
// (between bucketSizeMin and bucketSizeMax), about once a day in steady
// state, and publishes that plan in the retention state object shared by
// the archivers on the bucket; the others skip their runs until then. The
// first run waits bucketRunFirst (with jitter) after start, so a
// restarting or crash-looping archiver never lists the bucket.
//
// N archivers may run at once (their plans race, or the state is gone):
// every delete tolerates "not found", a date is only ever deleted whole
// and oldest first, so two runs delete the same dates and the second finds
// less; only the deleted-days counter may count such a day twice.
const (
	// retentionStateName is the object the archivers share the size
	// retention's state in; not an address directory, so reads, Files
	// and the age retention pass it by.
	retentionStateName = "_prexmon/retention"
	// bucketListWorkers list (and delete) that many addresses at once: a
	// LIST takes tens of milliseconds, and 25,000 in a row would take
	// twenty minutes.
	bucketListWorkers = 8
	// listPage is how many names one LIST returns (S3, GCS and Azure
	// alike), for the request counts logged.
	listPage = 1000

	reasonAge  = "age"
	reasonSize = "size"
)

var (
	// bucketSizeMin and bucketSizeMax bound the time between two runs:
	// never hourly listings of millions of names, but at least a daily
	// look, since other archivers (or a changed limit) change the picture.
	bucketSizeMin = time.Hour
	bucketSizeMax = 24 * time.Hour
	// bucketRunFirst is the delay before the first run of either bucket
	// retention after start, and the jitter added to it; variables so
	// tests need not wait.
	bucketRunFirst = 15 * time.Minute
	// bucketRunJitter spreads the wake-ups of archivers that read the
	// same planned time (or all wake after midnight for the age retention).
	bucketRunJitter = 10 * time.Minute
)

// retentionState is what the archivers sharing a bucket tell each other
// about its size retention, in the object retentionStateName.
type retentionState struct {
	// DeletedThrough is the newest date deleted whole for size: every
	// segment of it or an older date is gone on purpose, and a local copy
	// whose manifest is missing must not be uploaded again.
	DeletedThrough string `json:"deleted_through,omitempty"`
	// MeasuredAt, Bytes and Limit describe the last measurement, and
	// NextAt when the archiver that made it planned the next one.
	MeasuredAt time.Time `json:"measured_at"`
	Bytes      int64     `json:"bytes"`
	Limit      int64     `json:"limit"`
	NextAt     time.Time `json:"next_at"`
	Archiver   string    `json:"archiver"`
}

// bucketUsage is one measurement of the bucket.
type bucketUsage struct {
	total  int64
	byDate map[string]int64    // compressed segment bytes per date
	dirs   map[string][]string // date → address directories ("10.0.0.1/") holding any object of it
	all    []string            // every address directory
	lists  int                 // LIST requests, at listPage names each
}

// bucketLoop runs one of the bucket's retentions until the store stops:
// first bucketRunFirst (with jitter) after start, so a restarting or
// crash-looping archiver never lists the bucket, then at the time run
// returns, or retry after a failed run, with jitter so archivers sharing
// the bucket do not wake together.
func (s *Store) bucketLoop(what string, retry time.Duration, run func(ctx context.Context, now time.Time) (next time.Time, err error)) {
	defer s.bgDone.Done()
	wait := bucketRunFirst + jitter(bucketRunFirst)
	for {
		t := time.NewTimer(wait)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		ctx, cancel := s.stopContext()
		next, err := run(ctx, time.Now())
		stopped := ctx.Err() != nil
		cancel()
		if stopped {
			return
		}
		if err != nil {
			s.log.Error(what+": object storage; retried later", "err", err, "retry_in", retry)
			next = time.Now().Add(retry)
		}
		wait = max(time.Until(next), 0) + jitter(bucketRunJitter)
	}
}

// stopContext is cancelled when the store stops.
func (s *Store) stopContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-s.stop:
		case <-ctx.Done():
		}
		cancel()
	}()
	return ctx, cancel
}

func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d)
}

// bucketSizeRetention measures the bucket, unless another archiver did
// recently with a limit no larger, deletes its oldest whole dates while it
// is larger than RemoteRetentionSize, and returns when it should run next.
func (s *Store) bucketSizeRetention(ctx context.Context, now time.Time) (time.Time, error) {
	limit := s.opts.RemoteRetentionSize
	st, err := s.readRetentionState(ctx)
	if err != nil {
		return time.Time{}, err
	}
	if now.Before(st.NextAt) && st.Limit > 0 && st.Limit <= limit {
		s.rm.bucketBytes.set(st.Bytes)
		s.log.Debug("size retention: measured recently", "by", st.Archiver, "at", st.MeasuredAt, "bytes", st.Bytes, "next", st.NextAt)
		return st.NextAt, nil
	}
	start := time.Now()
	u, err := s.measureBucket(ctx)
	if err != nil {
		return time.Time{}, err
	}
	s.rm.bucketBytes.set(u.total)
	today := now.UTC().Format(time.DateOnly)
	doomed, total := sizeDoomed(u.byDate, u.total, limit, today, st.DeletedThrough)
	s.log.Info("size retention: measured object storage", "bytes", u.total, "limit", limit, "dates", len(u.byDate),
		"list_requests", u.lists, "duration", time.Since(start).Round(time.Millisecond), "dates_to_delete", len(doomed))
	if len(doomed) > 0 {
		// Published before anything goes, so no archiver uploads again a
		// local copy of a day it finds half deleted.
		if err := s.updateRetentionState(ctx, func(st *retentionState) {
			st.DeletedThrough = max(st.DeletedThrough, doomed[len(doomed)-1])
		}); err != nil {
			return time.Time{}, err
		}
	}
	for _, date := range doomed {
		// Every address measured, not only those that held the date: a
		// part of it uploaded since, whose uploader read the state before
		// the date was published, is found by this listing (which comes
		// after the publishing). Agents hold every date, so this costs no
		// more LISTs in practice. (An address whose very first object is
		// such a part is left for the next run's stale dates.)
		if err := s.deleteBucketDate(ctx, date, u.all); err != nil {
			return time.Time{}, err
		}
		u.total -= u.byDate[date]
		s.rm.bucketBytes.set(u.total)
		s.log.Info("size retention: deleted date from object storage", "date", date, "agents", len(u.dirs[date]),
			"bytes", u.byDate[date], "reason", "object storage larger than the size retention")
	}
	if total > limit {
		s.log.Warn("size retention: object storage stays over the limit; today's date is never deleted", "bytes", total, "limit", limit)
	}
	next := now.Add(sizeRunDelay(now, total, limit, lastDayBytes(u.byDate, today)))
	err = s.updateRetentionState(ctx, func(st *retentionState) {
		st.MeasuredAt, st.Bytes, st.Limit, st.NextAt, st.Archiver = now, total, limit, next, s.opts.RemoteID
	})
	return next, err
}

// sizeDoomed picks the dates to delete, oldest first, so that total gets
// to limit or below, never today's or a later one, and returns them with
// the total left. What is left of a date through deletedThrough (an upload
// that raced the run that deleted it, and whose archiver died before
// taking it back) goes whatever the total: it is gone for every archiver.
func sizeDoomed(byDate map[string]int64, total, limit int64, today, deletedThrough string) ([]string, int64) {
	var dates []string
	for d := range byDate {
		if d < today {
			dates = append(dates, d)
		}
	}
	slices.Sort(dates)
	var doomed []string
	for _, d := range dates {
		if total <= limit && (deletedThrough == "" || d > deletedThrough) {
			break
		}
		doomed = append(doomed, d)
		total -= byDate[d]
	}
	return doomed, total
}

// lastDayBytes is the size of the newest whole date before today: the
// bucket's growth per day.
func lastDayBytes(byDate map[string]int64, today string) int64 {
	newest := ""
	for d, n := range byDate {
		if d < today && d > newest && n > 0 {
			newest = d
		}
	}
	return byDate[newest]
}

// sizeRunDelay is how long until the bucket, total bytes now and growing
// by perDay a day, may pass limit: the next run deletes a date then.
func sizeRunDelay(now time.Time, total, limit, perDay int64) time.Duration {
	if total > limit {
		// Only today is left, which is never deleted: look again once it
		// has ended and its last segments are up.
		midnight := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
		return min(max(midnight.Sub(now)+time.Hour, bucketSizeMin), bucketSizeMax)
	}
	if perDay <= 0 {
		return bucketSizeMax
	}
	days := float64(limit-total) / float64(perDay)
	if days >= bucketSizeMax.Hours()/24 {
		return bucketSizeMax
	}
	return min(max(time.Duration(days*float64(24*time.Hour)), bucketSizeMin), bucketSizeMax)
}

// measureBucket sums the segment bytes per date over every address, from
// the manifest names of one recursive listing per address.
func (s *Store) measureBucket(ctx context.Context) (bucketUsage, error) {
	bkt := s.opts.Bucket
	u := bucketUsage{byDate: map[string]int64{}, dirs: map[string][]string{}}
	var dirs []string
	top := 0
	err := bkt.Iter(ctx, "", func(name string) error {
		top++
		if d, ok := strings.CutSuffix(name, "/"); ok {
			if _, ok := parseDirName(d); ok {
				dirs = append(dirs, name)
			}
		}
		return nil
	})
	if err != nil {
		return u, fmt.Errorf("list object storage: %w", err)
	}
	u.lists = pages(top)
	u.all = dirs
	var mu sync.Mutex
	err = forEach(ctx, dirs, func(ctx context.Context, dir string) error {
		bytes := map[string]int64{}
		names := 0
		err := bkt.Iter(ctx, dir, func(name string) error {
			names++
			date, _, _ := strings.Cut(strings.TrimPrefix(name, dir), "/")
			if _, err := time.Parse(time.DateOnly, date); err != nil {
				return nil
			}
			n := bytes[date] // any object, a torn upload's too, makes the date present
			if g, ok := parseManifestName(name); ok {
				n += g.bytes
			}
			bytes[date] = n
			return nil
		}, objstore.WithRecursiveIter())
		if err != nil {
			return fmt.Errorf("list %s in object storage: %w", dir, err)
		}
		mu.Lock()
		defer mu.Unlock()
		u.lists += pages(names)
		for date, n := range bytes {
			u.byDate[date] += n
			u.total += n
			u.dirs[date] = append(u.dirs[date], dir)
		}
		return nil
	})
	return u, err
}

// pages is the number of LIST requests that return n names.
func pages(n int) int { return max(1, (n+listPage-1)/listPage) }

// deleteBucketDate deletes date for every address in dirs.
func (s *Store) deleteBucketDate(ctx context.Context, date string, dirs []string) error {
	return forEach(ctx, dirs, func(ctx context.Context, dir string) error {
		n, err := s.deleteAgentDay(ctx, dir+date+"/")
		if err != nil {
			return err
		}
		if n > 0 {
			s.rm.deletedDays.WithLabelValues(reasonSize).Inc()
		}
		return nil
	})
}

// deleteAgentDay deletes everything under prefix (<address>/<date>/),
// manifests first, so a day being deleted is never half served, and
// returns how many objects it found. An object already gone (another
// archiver deleting the same day) is no error.
func (s *Store) deleteAgentDay(ctx context.Context, prefix string) (int, error) {
	bkt := s.opts.Bucket
	var manifests, objects []string
	if err := bkt.Iter(ctx, prefix, func(name string) error {
		if strings.HasSuffix(name, manifestSuffix) {
			manifests = append(manifests, name)
		} else {
			objects = append(objects, name)
		}
		return nil
	}, objstore.WithRecursiveIter()); err != nil {
		return 0, fmt.Errorf("list %s in object storage: %w", prefix, err)
	}
	for _, name := range append(manifests, objects...) {
		if err := bkt.Delete(ctx, name); err != nil && !bkt.IsObjNotFoundErr(err) {
			return 0, fmt.Errorf("delete %s: %w", name, err)
		}
	}
	return len(manifests) + len(objects), nil
}

// forEach calls f for every item, bucketListWorkers at once, and returns
// the first error, after which no further item is started.
func forEach(ctx context.Context, items []string, f func(context.Context, string) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	next := make(chan string)
	for range min(bucketListWorkers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for item := range next {
				if err := f(ctx, item); err != nil {
					once.Do(func() { firstErr = err; cancel() })
				}
			}
		}()
	}
	for _, item := range items {
		if ctx.Err() != nil {
			break
		}
		next <- item
	}
	close(next)
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return firstErr
}

// readRetentionState reads the shared state; none yet is the zero state.
// A state that does not parse (written by a later version, say) is
// treated as none, so the retention still runs.
func (s *Store) readRetentionState(ctx context.Context) (retentionState, error) {
	var st retentionState
	rc, err := s.opts.Bucket.Get(ctx, retentionStateName)
	if s.opts.Bucket.IsObjNotFoundErr(err) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read %s: %w", retentionStateName, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 1<<16))
	if err != nil {
		return st, fmt.Errorf("read %s: %w", retentionStateName, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		s.log.Warn("size retention: ignoring unreadable state", "object", retentionStateName, "err", err)
		return retentionState{}, nil
	}
	return st, nil
}

// updateRetentionState reads the state again just before changing and
// writing it, so DeletedThrough (which only grows) is lost only to a
// write racing within that moment, and the next run writes it again.
func (s *Store) updateRetentionState(ctx context.Context, change func(*retentionState)) error {
	st, err := s.readRetentionState(ctx)
	if err != nil {
		return err
	}
	through := st.DeletedThrough
	change(&st)
	st.DeletedThrough = max(st.DeletedThrough, through)
	b, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode %s: %w", retentionStateName, err)
	}
	if err := s.opts.Bucket.Upload(ctx, retentionStateName, strings.NewReader(string(b)+"\n")); err != nil {
		return fmt.Errorf("write %s: %w", retentionStateName, err)
	}
	return nil
}

// deletedByRetention says whether the bucket's retention deleted date on
// purpose (older than Retention, or deleted for size by any archiver), so
// a local copy whose manifest is missing is not to be uploaded again.
func (s *Store) deletedByRetention(now time.Time, date string, state func() (retentionState, error)) (bool, error) {
	if s.opts.Retention > 0 && date < now.UTC().Add(-s.opts.Retention).Format(time.DateOnly) {
		return true, nil
	}
	st, err := state()
	if err != nil {
		return false, err
	}
	return st.DeletedThrough != "" && date <= st.DeletedThrough, nil
}

// bucketBytes is archiver_remote_bucket_bytes, absent until measured.
type bucketBytes struct {
	desc *prometheus.Desc
	v    atomic.Int64 // < 0: not measured yet
}

func newBucketBytes() *bucketBytes {
	b := &bucketBytes{desc: prometheus.NewDesc("archiver_remote_bucket_bytes",
		"Compressed bytes of the segments of every archiver in object storage, as last measured by the size retention (--storage.remote.retention.size); absent until measured.", nil, nil)}
	b.v.Store(-1)
	return b
}

func (b *bucketBytes) set(n int64) { b.v.Store(n) }

func (b *bucketBytes) Describe(ch chan<- *prometheus.Desc) { ch <- b.desc }

func (b *bucketBytes) Collect(ch chan<- prometheus.Metric) {
	if v := b.v.Load(); v >= 0 {
		ch <- prometheus.MustNewConstMetric(b.desc, prometheus.GaugeValue, float64(v))
	}
}
