package store

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Read-only helpers for queries that span agents or days (fleet search,
// diffs): they list what is stored without reading any day file.

// Addrs lists the addresses that have a directory in the archive, sorted.
// A listed address may have no file for a given day: ReadDay then answers
// ErrNotFound.
func (s *Store) Addrs() ([]netip.Addr, error) {
	d, err := s.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("list storage: %w", err)
	}
	var out []netip.Addr
	for _, n := range names {
		if ip, ok := parseDirName(n); ok {
			out = append(out, ip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out, nil
}

// Days lists the UTC dates (YYYY-MM-DD) for which ip has at least one day
// file, oldest first, whatever their parts and compression.
func (s *Store) Days(ip netip.Addr) ([]string, error) {
	entries, err := s.walk(ip.Unmap().WithZone(""))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if len(out) == 0 || out[len(out)-1] != e.date {
			out = append(out, e.date)
		}
	}
	return out, nil
}

// LineTime returns the scraped_at of a stored line, read from the line's
// short prefix without decoding the snapshot.
func LineTime(line []byte) (time.Time, bool) { return lineTime(line) }
