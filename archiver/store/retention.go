package store

import (
	"errors"
	"io/fs"
	"maps"
	"net/netip"
	"path"
	"slices"
	"time"
)

// maintainEvery is how often old days are looked for and the archive size
// is counted again; days end once a day, so the exact period hardly
// matters.
const maintainEvery = time.Hour

// sizeCheckEvery is how often the running archive size is compared with
// RetentionSize, so a fast-growing archive is trimmed between the hourly
// runs; the check itself costs nothing.
const sizeCheckEvery = time.Minute

// maintain counts the archive, deletes expired days and compresses finished
// ones, one after the other, so no two of them work on the same file at
// once.
func (s *Store) maintain(opts Options) {
	defer s.bgDone.Done()
	// overToday says the last size retention could not get under the
	// limit (only today's files were left): the minutely check then waits
	// for the hourly run instead of walking the archive every minute.
	overToday := false
	run := func(now time.Time) {
		s.countUsage()
		if opts.Retention > 0 {
			s.applyRetention(now)
		}
		if opts.RetentionSize > 0 {
			overToday = !s.applySizeRetention(now)
		}
		if opts.CompressAfter > 0 && opts.Bucket == nil {
			s.compressDays(now)
		}
	}
	run(time.Now())
	full := time.NewTicker(maintainEvery)
	defer full.Stop()
	check := time.NewTicker(sizeCheckEvery)
	defer check.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-full.C:
			run(now)
		case now := <-check.C:
			if opts.RetentionSize > 0 && !overToday && s.usage.bytes.Load() > opts.RetentionSize {
				overToday = !s.applySizeRetention(now)
			}
		}
	}
}

// countUsage walks the archive and resets the running size to what it
// finds.
func (s *Store) countUsage() {
	before := s.usage.bytes.Load()
	days, err := s.walk(netip.Addr{})
	if err != nil {
		s.log.Error("cannot count storage size", "err", err)
		return
	}
	var total int64
	for _, d := range days {
		total += d.size
	}
	s.usage.set(total, before)
}

// applyRetention deletes whole day files whose day ended more than
// Retention before now, and then the address directories left empty.
func (s *Store) applyRetention(now time.Time) {
	cutoff := now.UTC().Add(-s.opts.Retention).Format(time.DateOnly)
	days, err := s.walk(netip.Addr{})
	if err != nil {
		s.log.Error("retention: cannot list storage", "err", err)
		return
	}
	var old []dayEntry
	for _, d := range days {
		if d.date < cutoff {
			old = append(old, d)
		}
	}
	s.deleteDays(days, old, "older than the retention")
}

// applySizeRetention deletes whole days, oldest date first across all
// agents, while the archive is larger than RetentionSize. Today's day
// (UTC), which is being appended to, is never deleted: when it alone is
// too large the archive stays over the limit, with a warning, and it
// returns false.
func (s *Store) applySizeRetention(now time.Time) bool {
	days, err := s.walk(netip.Addr{})
	if err != nil {
		s.log.Error("size retention: cannot list storage", "err", err)
		return true
	}
	var total int64
	for _, d := range days {
		total += d.size
	}
	if total <= s.opts.RetentionSize {
		return true
	}
	today := now.UTC().Format(time.DateOnly)
	byDate := map[string][]dayEntry{}
	var dates []string
	var uploaded map[string]string
	if s.opts.Bucket != nil {
		uploaded = map[string]string{}
		for _, d := range days {
			if _, seen := uploaded[d.dir]; !seen {
				uploaded[d.dir] = ""
				maps.Copy(uploaded, s.localMarkers(d.dir))
			}
		}
	}
	for _, d := range days {
		if d.date >= today {
			continue
		}
		if uploaded != nil && uploaded[path.Join(d.dir, d.name)] == "" {
			continue // not in the bucket yet: the only copy
		}
		if byDate[d.date] == nil {
			dates = append(dates, d.date)
		}
		byDate[d.date] = append(byDate[d.date], d)
	}
	slices.Sort(dates)
	var doomed []dayEntry
	for _, date := range dates {
		if total <= s.opts.RetentionSize {
			break
		}
		for _, d := range byDate[date] {
			total -= d.size
		}
		doomed = append(doomed, byDate[date]...)
	}
	s.deleteDays(days, doomed, "archive larger than the size retention")
	if total > s.opts.RetentionSize {
		s.log.Warn("size retention: the archive stays over the limit; today's files are never deleted", "bytes", total, "limit", s.opts.RetentionSize)
		return false
	}
	return true
}

// deleteDays deletes the doomed files of days (everything listed) and then
// the address directories left empty. A live part goes through its writer,
// which closes it first: a line arriving meanwhile starts a new file
// instead of vanishing into an unlinked one.
func (s *Store) deleteDays(days, doomed []dayEntry, why string) {
	kept := map[string]int{}
	for _, d := range days {
		kept[d.dir]++
	}
	for _, d := range doomed {
		p := path.Join(d.dir, d.name)
		var err error
		if d.live() {
			err = s.removeLive(d)
		} else {
			err = s.root.Remove(p)
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			s.log.Error("retention: cannot delete", "file", p, "err", err)
			continue
		}
		kept[d.dir]--
		s.forgetCount(d)
		s.forgetMarker(d)
		s.usage.add(-d.size)
		s.m.retained.Inc()
		s.log.Info("retention: deleted day file", "file", p, "reason", why)
	}
	for dir, n := range kept {
		if n == 0 {
			// Fails harmlessly if a writer created a new day meanwhile.
			_ = s.root.Remove(dir)
		}
	}
}

// removeLive deletes a live part in its shard's writer.
func (s *Store) removeLive(d dayEntry) error {
	return s.inWriter(opRemove, d)
}
