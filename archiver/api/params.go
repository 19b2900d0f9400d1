package api

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
)

// MaxLimit bounds ?limit=; a day at a 5 s interval holds 17,280 snapshots.
const MaxLimit = 1_000_000

// maxIPLen is longer than any address netip prints without a zone.
const maxIPLen = 64

// parseIP accepts exactly one address without zone. IPv4-mapped IPv6 is
// read as the IPv4 address it carries, as the store files it.
func parseIP(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("missing IP address")
	}
	if len(s) > maxIPLen {
		return netip.Addr{}, errors.New("IP address too long")
	}
	ip, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("invalid IP address %q", s)
	}
	if ip.Zone() != "" {
		return netip.Addr{}, fmt.Errorf("invalid IP address %q: zones are not allowed", s)
	}
	return ip.Unmap(), nil
}

// parseDate accepts exactly YYYY-MM-DD.
func parseDate(s string) (time.Time, error) {
	if len(s) != len(time.DateOnly) {
		return time.Time{}, fmt.Errorf("invalid date %q: want YYYY-MM-DD", truncate(s))
	}
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || t.Format(time.DateOnly) != s {
		return time.Time{}, fmt.Errorf("invalid date %q: want YYYY-MM-DD", s)
	}
	return t, nil
}

// parseTime accepts RFC 3339 with optional fractional seconds. A space
// where the offset's '+' belongs is taken as that '+': it is what an
// unencoded '+' in a query string decodes to.
func parseTime(name, s string) (time.Time, error) {
	if len(s) > 64 {
		return time.Time{}, fmt.Errorf("invalid %s: too long", name)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil && strings.Count(s, " ") == 1 && !strings.Contains(s, "+") {
		t, err = time.Parse(time.RFC3339Nano, strings.Replace(s, " ", "+", 1))
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("invalid %s %q: want RFC 3339, e.g. 2026-01-02T15:04:05Z", name, truncate(s))
	}
	return t, nil
}

// parseLimit accepts a positive decimal integer up to MaxLimit.
func parseLimit(s string) (int, error) {
	if s == "" || len(s) > len(strconv.Itoa(MaxLimit)) || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("invalid limit %q: want a positive integer up to %d", truncate(s), MaxLimit)
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxLimit {
		return 0, fmt.Errorf("invalid limit %q: want a positive integer up to %d", s, MaxLimit)
	}
	return n, nil
}

// parseQuery reads from, to and limit. Each may appear at most once, so a
// proxy and a backend can never disagree on which value counts.
func parseQuery(v url.Values) (store.Query, error) {
	var q store.Query
	get := func(name string) (string, bool, error) {
		vals, ok := v[name]
		if !ok {
			return "", false, nil
		}
		if len(vals) != 1 {
			return "", false, fmt.Errorf("parameter %s given %d times", name, len(vals))
		}
		return vals[0], true, nil
	}
	if s, ok, err := get("from"); err != nil {
		return q, err
	} else if ok {
		if q.From, err = parseTime("from", s); err != nil {
			return q, err
		}
	}
	if s, ok, err := get("to"); err != nil {
		return q, err
	} else if ok {
		if q.To, err = parseTime("to", s); err != nil {
			return q, err
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return q, errors.New("invalid range: to is before from")
	}
	if s, ok, err := get("limit"); err != nil {
		return q, err
	} else if ok {
		if q.Limit, err = parseLimit(s); err != nil {
			return q, err
		}
	}
	return q, nil
}

// truncate keeps error messages short whatever the client sent.
func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}
