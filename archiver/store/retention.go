package store

import (
	"net/netip"
	"path"
	"time"
)

// maintainEvery is how often old days are looked for; days end once a day,
// so the exact period hardly matters.
const maintainEvery = time.Hour

// maintain deletes expired days and compresses finished ones, one after the
// other, so the two never work on the same file at once.
func (s *Store) maintain() {
	defer s.bgDone.Done()
	run := func(now time.Time) {
		if s.opts.Retention > 0 {
			s.applyRetention(now)
		}
		if s.opts.CompressAfter > 0 {
			s.compressDays(now)
		}
	}
	run(time.Now())
	t := time.NewTicker(maintainEvery)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case now := <-t.C:
			run(now)
		}
	}
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
	emptied := map[string]bool{}
	for _, d := range days {
		if d.date >= cutoff {
			emptied[d.dir] = false
			continue
		}
		p := path.Join(d.dir, d.name)
		if err := s.root.Remove(p); err != nil {
			s.log.Error("retention: cannot delete", "file", p, "err", err)
			emptied[d.dir] = false
			continue
		}
		s.forgetCount(d)
		s.m.retained.Inc()
		s.log.Info("retention: deleted day file", "file", p)
		if _, seen := emptied[d.dir]; !seen {
			emptied[d.dir] = true
		}
	}
	for dir, empty := range emptied {
		if empty {
			// Fails harmlessly if a writer created a new day meanwhile.
			_ = s.root.Remove(dir)
		}
	}
}
