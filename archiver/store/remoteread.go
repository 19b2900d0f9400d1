package store

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// prefetch is how many remote segments of a day are downloaded ahead of
// the one being read, so a day streams at the bucket's throughput rather
// than one round trip per segment.
const prefetch = 4

// remoteTimeout bounds the bucket listings of Latest and Files, which
// have no caller context.
const remoteTimeout = 30 * time.Second

// readMergedDay reads ip's day from the bucket's segments and the local
// parts, each segment in order of its first line: the local parts (open
// and not yet uploaded, or uploaded and kept) count as one segment.
func (s *Store) readMergedDay(ctx context.Context, ip netip.Addr, day time.Time, f *lineFilter) error {
	ip = ip.Unmap().WithZone("")
	dir, date := dirName(ip), day.UTC().Format(time.DateOnly)
	all, err := s.remoteSegments(ctx, dir, date)
	if err != nil {
		return err
	}
	q := f.q
	segs := all[:0:0]
	for _, g := range all {
		if (!q.To.IsZero() && g.first.After(q.To)) || (!q.From.IsZero() && g.last.Before(q.From)) {
			continue
		}
		segs = append(segs, g)
	}
	localStart, hasLocal, err := s.localDayStart(ctx, ip, day)
	if err != nil {
		return err
	}
	if !hasLocal && len(all) == 0 {
		return ErrNotFound
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fetched, taken := s.prefetchSegments(ctx, segs)
	localDone := !hasLocal
	for i, g := range segs {
		if !localDone && localStart.Before(g.first) {
			localDone = true
			if err := s.readLocalDay(ctx, ip, day, f); err != nil && !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		if f.full() {
			return nil
		}
		res := <-fetched[i]
		taken()
		if errors.Is(res.err, errSegmentGone) {
			// The retention deleted the day's objects while this query or
			// an upload was under way: what is gone is not served, and the
			// rest of the day still is.
			s.log.Warn("segment listed but gone from object storage; skipped", "object", g.object(), "err", res.err)
			continue
		}
		if res.err != nil {
			return res.err
		}
		if err := readSegment(ctx, g, res.data, f.line); err != nil {
			return err
		}
		if f.full() {
			return nil
		}
	}
	if !localDone {
		if err := s.readLocalDay(ctx, ip, day, f); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

type fetchResult struct {
	data []byte
	err  error
}

// prefetchSegments downloads segs in the background, at most prefetch
// not yet read by the caller, which calls done after taking each result;
// result i arrives on channel i.
func (s *Store) prefetchSegments(ctx context.Context, segs []segment) (results []chan fetchResult, done func()) {
	results = make([]chan fetchResult, len(segs))
	for i := range results {
		results[i] = make(chan fetchResult, 1)
	}
	slots := make(chan struct{}, prefetch)
	go func() {
		for i, g := range segs {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				data, err := s.getSegment(ctx, g)
				results[i] <- fetchResult{data, err}
			}()
		}
	}()
	return results, func() { <-slots }
}

// errSegmentGone is a listed segment whose object is not found: deleted by
// a retention run since the listing.
var errSegmentGone = errors.New("segment gone from object storage")

func (s *Store) getSegment(ctx context.Context, g segment) ([]byte, error) {
	rc, err := s.opts.Bucket.Get(ctx, g.object())
	if s.opts.Bucket.IsObjNotFoundErr(err) {
		return nil, fmt.Errorf("get %s: %w: %w", g.object(), errSegmentGone, err)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", g.object(), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", g.object(), err)
	}
	return data, nil
}

// readSegment calls fn with each line of the compressed segment data.
func readSegment(ctx context.Context, g segment, data []byte, fn func([]byte) error) error {
	var r io.Reader
	switch g.codec {
	case codecZstd:
		zr := segmentDecoders.Get().(*zstd.Decoder)
		if err := zr.Reset(bytes.NewReader(data)); err != nil {
			return fmt.Errorf("unzstd %s: %w", g.object(), err)
		}
		defer func() {
			_ = zr.Reset(nil) // drop data before pooling
			segmentDecoders.Put(zr)
		}()
		r = zr
	default:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return fmt.Errorf("gunzip %s: %w", g.object(), err)
		}
		defer zr.Close()
		r = zr
	}
	if err := scanLines(ctx, r, fn); err != nil {
		return fmt.Errorf("read %s: %w", g.object(), err)
	}
	return nil
}

// localDayStart is the time of the first line of ip's day on local disk;
// found is false when there is no local file for it.
func (s *Store) localDayStart(ctx context.Context, ip netip.Addr, day time.Time) (start time.Time, found bool, err error) {
	r, closeFn, err := s.openDay(ip, day, time.Time{})
	if errors.Is(err, ErrNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, err
	}
	defer closeFn()
	start = time.Unix(1<<40, 0) // no timed line: read after every segment
	err = scanLines(ctx, r, func(line []byte) error {
		if t, ok := lineTime(line); ok && servable(line) {
			start = t
			return errStop
		}
		return nil
	})
	return start, true, err
}

// Latest returns the newest complete line stored for ip. The local files
// answer alone when their newest line is younger than a segment can be;
// otherwise the bucket's newest segment of that address is looked at too.
func (s *Store) Latest(ip netip.Addr) ([]byte, error) {
	line, err := s.latestLocal(ip)
	if s.opts.Bucket == nil {
		return line, err
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	var after time.Time
	if err == nil {
		if t, ok := lineTime(line); ok {
			if time.Since(t) < s.opts.SegmentMaxAge {
				return line, nil
			}
			after = t
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	remote, rerr := s.latestRemote(ctx, dirName(ip.Unmap().WithZone("")), after)
	if rerr != nil {
		if line != nil {
			// The newest line known here beats no answer while the
			// bucket is unreachable.
			s.log.Warn("latest: object storage unreachable, answering from local disk", "ip", ip, "err", rerr)
			return line, nil
		}
		return nil, rerr
	}
	if remote != nil {
		return remote, nil
	}
	return line, err
}

// latestRemote returns the last line of the newest segment of dir in the
// bucket if that is newer than after, else nil.
func (s *Store) latestRemote(ctx context.Context, dir string, after time.Time) ([]byte, error) {
	var dates []string
	err := s.opts.Bucket.Iter(ctx, dir+"/", func(name string) error {
		date := path.Base(strings.TrimSuffix(name, "/"))
		if _, err := time.Parse(time.DateOnly, date); err == nil {
			dates = append(dates, date)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s in object storage: %w", dir, err)
	}
	slices.Sort(dates)
	afterDate := ""
	if !after.IsZero() {
		afterDate = after.UTC().Format(time.DateOnly)
	}
	for i := len(dates) - 1; i >= 0 && dates[i] >= afterDate; i-- {
		segs, err := s.remoteSegments(ctx, dir, dates[i])
		if err != nil {
			return nil, err
		}
		if len(segs) == 0 {
			continue
		}
		newest := slices.MaxFunc(segs, func(a, b segment) int { return a.last.Compare(b.last) })
		if !newest.last.After(after) {
			return nil, nil
		}
		data, err := s.getSegment(ctx, newest)
		if err != nil {
			return nil, err
		}
		var last []byte
		err = readSegment(ctx, newest, data, func(line []byte) error {
			if servable(line) {
				last = append(last[:0], line...)
			}
			return nil
		})
		return last, err
	}
	return nil, nil
}

// Files lists the stored day files (of one address if only is valid) with
// their sizes and snapshot counts, and, with a bucket, the segments there
// whose local copy is gone, by address and date.
func (s *Store) Files(only netip.Addr) ([]FileInfo, error) {
	local, err := s.localFiles(only)
	if err != nil || s.opts.Bucket == nil {
		return local, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), remoteTimeout)
	defer cancel()
	var dirs []string
	if only.IsValid() {
		dirs = []string{dirName(only.Unmap().WithZone(""))}
	} else {
		err := s.opts.Bucket.Iter(ctx, "", func(name string) error {
			if d := strings.TrimSuffix(name, "/"); d != name {
				if _, ok := parseDirName(d); ok {
					dirs = append(dirs, d)
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list object storage: %w", err)
		}
	}
	out := local
	for _, dir := range dirs {
		segs, err := s.remoteSegments(ctx, dir, "")
		if err != nil {
			return nil, err
		}
		ip, _ := parseDirName(dir)
		for _, g := range segs {
			out = append(out, FileInfo{IP: ip.String(), Date: g.date, Bytes: g.bytes, Snapshots: g.lines, Compressed: true, Part: g.part, Remote: true, Archiver: g.id})
		}
	}
	slices.SortStableFunc(out, func(a, b FileInfo) int {
		ia, _ := netip.ParseAddr(a.IP)
		ib, _ := netip.ParseAddr(b.IP)
		return cmp.Or(ia.Compare(ib), cmp.Compare(a.Date, b.Date), -cmpBool(a.Remote, b.Remote))
	})
	return out, nil
}

func cmpBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	default:
		return -1
	}
}
