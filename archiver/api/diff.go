package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// DiffEnd names the snapshot one side of a diff was taken from.
type DiffEnd struct {
	// At is the moment asked for; ScrapedAt the stored snapshot nearest
	// at or before it, CollectedAt that snapshot's own clock.
	At          time.Time `json:"at"`
	ScrapedAt   time.Time `json:"scraped_at"`
	CollectedAt time.Time `json:"collected_at"`
}

// Diff is what changed on one agent between two snapshots.
type Diff struct {
	From             DiffEnd            `json:"from"`
	To               DiffEnd            `json:"to"`
	ProcessesStarted []snapshot.Process `json:"processes_started"`
	ProcessesEnded   []snapshot.Process `json:"processes_ended"`
	UsersLoggedIn    []snapshot.User    `json:"users_logged_in"`
	UsersLoggedOut   []snapshot.User    `json:"users_logged_out"`
}

// nearestWindows are the spans before a moment read, in turn, when looking
// for the snapshot nearest at or before it: a short one first, found by
// bisection in a large day file, then the whole day (0).
var nearestWindows = []time.Duration{30 * time.Minute, 0}

// diff answers GET /api/v1/diff/{ip}?from=&to=.
func (a *api) diff(w http.ResponseWriter, r *http.Request) {
	ip, err := parseIP(r.PathValue("ip"))
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadData, err.Error())
		return
	}
	v := r.URL.Query()
	for name := range v {
		if name != "from" && name != "to" {
			writeError(w, http.StatusBadRequest, errBadData, fmt.Sprintf("unknown parameter %q (want from, to)", truncate(name)))
			return
		}
	}
	var at [2]time.Time
	for i, name := range []string{"from", "to"} {
		vals := v[name]
		if len(vals) != 1 {
			writeError(w, http.StatusBadRequest, errBadData, fmt.Sprintf("parameter %s must be given once (RFC 3339)", name))
			return
		}
		if at[i], err = parseTime(name, vals[0]); err != nil {
			writeError(w, http.StatusBadRequest, errBadData, err.Error())
			return
		}
	}
	if at[1].Before(at[0]) {
		writeError(w, http.StatusBadRequest, errBadData, "invalid range: to is before from")
		return
	}
	if a.o.Store == nil {
		writeError(w, http.StatusServiceUnavailable, errUnavailable, "storage is not available")
		return
	}
	var snaps [2]diffSnapshot
	for i, t := range at {
		line, err := nearest(r.Context(), a.o.Store, ip, t)
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, http.StatusNotFound, errNotFound, fmt.Sprintf("no snapshot stored for %s at or before %s", ip, t.UTC().Format(time.RFC3339)))
			return
		}
		if err == nil {
			err = json.Unmarshal(line, &snaps[i])
		}
		if err != nil {
			if r.Context().Err() != nil {
				return
			}
			a.log.Error("diff query failed", "ip", ip, "err", err)
			writeError(w, http.StatusInternalServerError, errInternal, "cannot read stored snapshots")
			return
		}
	}
	d := diffSnapshots(snaps[0], snaps[1])
	d.From.At, d.To.At = at[0].UTC(), at[1].UTC()
	var warnings []string
	for i, s := range snaps {
		if s.Snapshot.Users == nil {
			warnings = append(warnings, fmt.Sprintf("the %s snapshot has no users section (collector off or failed): sessions not compared", []string{"from", "to"}[i]))
		}
	}
	writeJSON(w, http.StatusOK, struct {
		Status   string   `json:"status"`
		Data     Diff     `json:"data"`
		Warnings []string `json:"warnings,omitempty"`
	}{"success", d, warnings})
}

// diffSnapshot is the part of a stored line a diff reads.
type diffSnapshot struct {
	ScrapedAt time.Time `json:"scraped_at"`
	Snapshot  struct {
		CollectedAt time.Time          `json:"collected_at"`
		Users       []snapshot.User    `json:"users"`
		Processes   []snapshot.Process `json:"processes"`
	} `json:"snapshot"`
}

type procKey struct {
	pid     int32
	started time.Time
}

type sessionKey struct {
	user, terminal string
	started        time.Time
}

// diffSnapshots compares two snapshots. A process is its pid and start
// time, so a reused pid is a new process; a session is its user, terminal
// and start time. Sessions are compared only when both sides list them.
func diffSnapshots(from, to diffSnapshot) Diff {
	d := Diff{
		From:             DiffEnd{ScrapedAt: from.ScrapedAt, CollectedAt: from.Snapshot.CollectedAt},
		To:               DiffEnd{ScrapedAt: to.ScrapedAt, CollectedAt: to.Snapshot.CollectedAt},
		ProcessesStarted: []snapshot.Process{},
		ProcessesEnded:   []snapshot.Process{},
		UsersLoggedIn:    []snapshot.User{},
		UsersLoggedOut:   []snapshot.User{},
	}
	pk := func(p snapshot.Process) procKey { return procKey{p.PID, p.StartedAt.UTC()} }
	d.ProcessesStarted = appendMissing(d.ProcessesStarted, to.Snapshot.Processes, from.Snapshot.Processes, pk)
	d.ProcessesEnded = appendMissing(d.ProcessesEnded, from.Snapshot.Processes, to.Snapshot.Processes, pk)
	if from.Snapshot.Users != nil && to.Snapshot.Users != nil {
		uk := func(u snapshot.User) sessionKey { return sessionKey{u.User, u.Terminal, u.StartedAt.UTC()} }
		d.UsersLoggedIn = appendMissing(d.UsersLoggedIn, to.Snapshot.Users, from.Snapshot.Users, uk)
		d.UsersLoggedOut = appendMissing(d.UsersLoggedOut, from.Snapshot.Users, to.Snapshot.Users, uk)
	}
	return d
}

// appendMissing appends the elements of a whose key is not in b.
func appendMissing[T any, K comparable](dst, a, b []T, key func(T) K) []T {
	in := make(map[K]bool, len(b))
	for _, x := range b {
		in[key(x)] = true
	}
	for _, x := range a {
		if !in[key(x)] {
			dst = append(dst, x)
		}
	}
	return dst
}

// nearest returns a copy of ip's stored line with the latest scraped_at at
// or before t, looking in t's day and then in earlier stored days. A line
// is filed under its scraped_at's UTC day, so the first day holding one
// at or before t holds the answer; within a day lines are only roughly in
// order, so the latest is kept, not the last.
func nearest(ctx context.Context, st *store.Store, ip netip.Addr, t time.Time) ([]byte, error) {
	t = t.UTC()
	days, err := st.Days(ip)
	if err != nil {
		return nil, err
	}
	today := t.Format(time.DateOnly)
	for i := len(days) - 1; i >= 0; i-- {
		day := days[i]
		if day > today {
			continue
		}
		date, err := time.Parse(time.DateOnly, day)
		if err != nil {
			continue
		}
		end := t
		if day != today {
			end = date.Add(24*time.Hour - time.Nanosecond)
		}
		for _, w := range nearestWindows {
			q := store.Query{To: end}
			if w > 0 {
				q.From = end.Add(-w)
			}
			var best []byte
			var bestAt time.Time
			err := st.ReadDay(ctx, ip, date, q, func(line []byte) error {
				at, ok := store.LineTime(line)
				if ok && !at.After(end) && (best == nil || at.After(bestAt)) {
					best, bestAt = append(best[:0], line...), at
				}
				return nil
			})
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				return nil, err
			}
			if best != nil {
				return best, nil
			}
		}
	}
	return nil, store.ErrNotFound
}
