package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
)

// Search bounds. A search reads every agent's day; these keep its answer
// and its memory small whatever the archive holds.
const (
	// maxPatternLen bounds a process pattern: RE2 runs in linear time,
	// but a long pattern still compiles to a large program.
	maxPatternLen = 256
	maxUserLen    = 256
	// searchExamples is how many distinct matching processes or sessions
	// an agent's result shows.
	searchExamples = 5
	// defaultSearchAgents and maxSearchAgents bound the agents listed
	// (?limit=); past it the answer says so in warnings.
	defaultSearchAgents = 1000
	maxSearchAgents     = 100000
	// matchCacheSize bounds the per-worker memo of pattern results: a
	// host runs the same few hundred command lines all day, so the
	// pattern runs once per distinct string instead of once per snapshot.
	matchCacheSize = 8192
)

// SearchHit is one agent where the searched process ran or the searched
// user was logged in on the searched day.
type SearchHit struct {
	IP string `json:"ip"`
	// FirstSeen and LastSeen are the scraped_at of the first and last
	// snapshots with a match; Snapshots counts those snapshots.
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
	Snapshots int       `json:"snapshots"`
	// Examples are distinct matching processes (pid + start time) or
	// sessions (user + terminal + start time), as stored, first seen first.
	Examples []json.RawMessage `json:"examples"`
}

// searchQuery is a parsed /api/v1/search request.
type searchQuery struct {
	date   time.Time
	re     *regexp.Regexp // process search
	user   []byte         // session search
	limit  int
	needle []byte // bytes every matching line must contain (nil: no prefilter)
}

func parseSearch(r *http.Request) (searchQuery, error) {
	var q searchQuery
	v := r.URL.Query()
	one := func(name string) (string, bool, error) {
		vals, ok := v[name]
		if !ok {
			return "", false, nil
		}
		if len(vals) != 1 {
			return "", false, fmt.Errorf("parameter %s given %d times", name, len(vals))
		}
		return vals[0], true, nil
	}
	for name := range v {
		switch name {
		case "date", "process", "user", "limit":
		default:
			return q, fmt.Errorf("unknown parameter %q (want date, process or user, limit)", truncate(name))
		}
	}
	date, ok, err := one("date")
	if err != nil {
		return q, err
	}
	if !ok {
		return q, errors.New("missing parameter date (YYYY-MM-DD)")
	}
	if q.date, err = parseDate(date); err != nil {
		return q, err
	}
	process, hasProcess, err := one("process")
	if err != nil {
		return q, err
	}
	user, hasUser, err := one("user")
	if err != nil {
		return q, err
	}
	switch {
	case hasProcess && hasUser:
		return q, errors.New("give process or user, not both")
	case hasProcess:
		if process == "" {
			return q, errors.New("empty process pattern")
		}
		if len(process) > maxPatternLen {
			return q, fmt.Errorf("process pattern longer than %d bytes", maxPatternLen)
		}
		if q.re, err = regexp.Compile(process); err != nil {
			return q, fmt.Errorf("invalid process pattern: %v", unwrapSyntax(err))
		}
		q.needle = literalNeedle(q.re)
	case hasUser:
		if user == "" {
			return q, errors.New("empty user name")
		}
		if len(user) > maxUserLen {
			return q, fmt.Errorf("user name longer than %d bytes", maxUserLen)
		}
		q.user = []byte(user)
		// The session's "user" member as the exporter encodes it; a name
		// that JSON would escape gets no prefilter.
		if enc, err := json.Marshal(user); err == nil && !bytes.ContainsRune(enc, '\\') {
			q.needle = append([]byte(`"user":`), enc...)
		}
	default:
		return q, errors.New("give a process pattern (process=) or a user name (user=)")
	}
	q.limit = defaultSearchAgents
	if s, ok, err := one("limit"); err != nil {
		return q, err
	} else if ok {
		n, err := parseLimit(s)
		if err != nil || n > maxSearchAgents {
			return q, fmt.Errorf("invalid limit %q: want a positive integer up to %d", truncate(s), maxSearchAgents)
		}
		q.limit = n
	}
	return q, nil
}

func unwrapSyntax(err error) error {
	var se *syntax.Error
	if errors.As(err, &se) {
		return se
	}
	return err
}

// literalNeedle returns the literal every match of re starts with, when
// there is one and it reads the same inside a JSON string: a line without
// it cannot match and is skipped at memchr speed. Agents' encoders never
// escape letters or digits, so such a literal is found as is.
func literalNeedle(re *regexp.Regexp) []byte {
	prefix, _ := re.LiteralPrefix()
	if prefix == "" {
		return nil
	}
	for _, c := range []byte(prefix) {
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return nil
		}
	}
	return []byte(prefix)
}

// search answers GET /api/v1/search: the agents whose snapshots of that
// day hold a process matching the pattern or a session of the user. Day
// files are scanned in parallel by one worker per CPU, line by line, each
// with one read buffer and a bounded memo, so memory does not grow with
// the archive.
func (a *api) search(w http.ResponseWriter, r *http.Request) {
	q, err := parseSearch(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, errBadData, err.Error())
		return
	}
	if a.o.Store == nil {
		writeError(w, http.StatusServiceUnavailable, errUnavailable, "storage is not available")
		return
	}
	hits, matched, err := searchStore(r.Context(), a.o.Store, q, runtime.GOMAXPROCS(0))
	if err != nil {
		if r.Context().Err() != nil {
			return // the client is gone
		}
		a.log.Error("search failed", "date", q.date.Format(time.DateOnly), "err", err)
		writeError(w, http.StatusInternalServerError, errInternal, "cannot read stored snapshots")
		return
	}
	var warnings []string
	if matched > len(hits) {
		warnings = append(warnings, fmt.Sprintf("%d agents matched; showing the first %d by address (raise limit= to see more)", matched, len(hits)))
	}
	writeJSON(w, http.StatusOK, struct {
		Status   string      `json:"status"`
		Data     []SearchHit `json:"data"`
		Warnings []string    `json:"warnings,omitempty"`
	}{"success", hits, warnings})
}

// searchStore runs q over every address's day with the given number of
// workers and returns the first q.limit hits by address and how many
// agents matched in all. Hits past the limit are dropped as the search
// goes, so their examples never pile up in memory.
func searchStore(ctx context.Context, st *store.Store, q searchQuery, workers int) ([]SearchHit, int, error) {
	addrs, err := st.Addrs()
	if err != nil {
		return nil, 0, err
	}
	limit := q.limit
	if limit <= 0 {
		limit = defaultSearchAgents
	}
	byAddr := func(a, b SearchHit) int {
		return netip.MustParseAddr(a.IP).Compare(netip.MustParseAddr(b.IP))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers = max(1, min(workers, len(addrs)))
	jobs := make(chan netip.Addr)
	var (
		mu       sync.Mutex
		hits     []SearchHit
		matched  int
		firstErr error
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := newSearcher(q)
			for ip := range jobs {
				hit, found, err := s.scan(ctx, st, ip)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = fmt.Errorf("search %s: %w", ip, err)
					cancel()
				case found:
					matched++
					hits = append(hits, hit)
					if len(hits) >= 2*limit {
						slices.SortFunc(hits, byAddr)
						clear(hits[limit:])
						hits = hits[:limit]
					}
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for _, ip := range addrs {
		select {
		case jobs <- ip:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, err
	}
	slices.SortFunc(hits, byAddr)
	if len(hits) > limit {
		hits = hits[:limit]
	}
	if hits == nil {
		hits = []SearchHit{}
	}
	return hits, matched, nil
}

// searcher is one worker's state, reused from agent to agent.
type searcher struct {
	q     searchQuery
	memo  map[string]bool // pattern result per name or command line
	buf   []byte
	seen  map[string]bool // example keys of the current agent
	key   []byte
	hit   SearchHit
	found bool // the current line matched
}

func newSearcher(q searchQuery) *searcher {
	return &searcher{q: q, memo: make(map[string]bool), seen: make(map[string]bool)}
}

// scan searches one address's day; found is false when nothing matched or
// the address has no file that day.
func (s *searcher) scan(ctx context.Context, st *store.Store, ip netip.Addr) (SearchHit, bool, error) {
	s.hit = SearchHit{IP: ip.String(), Examples: []json.RawMessage{}}
	clear(s.seen)
	err := st.ReadDay(ctx, ip, s.q.date, store.Query{}, s.line)
	if errors.Is(err, store.ErrNotFound) {
		return SearchHit{}, false, nil
	}
	if err != nil {
		return SearchHit{}, false, err
	}
	return s.hit, s.hit.Snapshots > 0, nil
}

// line checks one stored line; it never fails, since a line it cannot read
// is one the day endpoint would serve as garbage too.
func (s *searcher) line(line []byte) error {
	if s.q.needle != nil && !bytes.Contains(line, s.q.needle) {
		return nil
	}
	key := "users"
	if s.q.re != nil {
		key = "processes"
	}
	vs, _, ok := snapshotArray(line, key)
	if !ok {
		return nil
	}
	s.found = false
	if s.q.re != nil {
		eachElem(line, vs, func(es int) int { return s.process(line, es) })
	} else {
		eachElem(line, vs, func(es int) int { return s.session(line, es) })
	}
	if !s.found {
		return nil
	}
	t, ok := store.LineTime(line)
	if !ok {
		return nil
	}
	h := &s.hit
	h.Snapshots++
	if h.FirstSeen.IsZero() || t.Before(h.FirstSeen) {
		h.FirstSeen = t
	}
	if t.After(h.LastSeen) {
		h.LastSeen = t
	}
	return nil
}

// process checks the element of processes at line[at] against the
// pattern and returns the index just past it.
func (s *searcher) process(line []byte, at int) int {
	var name, cmd, pid, started []byte
	end := eachField(line, at, func(k []byte, vs, ve int) bool {
		switch string(k) {
		case "name":
			name = line[vs:ve]
		case "cmdline":
			cmd = line[vs:ve]
		case "pid":
			pid = line[vs:ve]
		case "started_at":
			started = line[vs:ve]
		}
		return true
	})
	if end < 0 {
		return end
	}
	if s.matches(name) || s.matches(cmd) {
		s.found = true
		s.example(line[at:end], pid, started)
	}
	return end
}

// matches runs the pattern on a raw JSON string, through the memo.
func (s *searcher) matches(tok []byte) bool {
	if len(tok) < 2 {
		return false
	}
	if m, ok := s.memo[string(tok)]; ok {
		return m
	}
	v, ok := strValue(tok, &s.buf)
	m := ok && s.q.re.Match(v)
	if len(s.memo) >= matchCacheSize {
		clear(s.memo)
	}
	s.memo[string(tok)] = m
	return m
}

// session checks the element of users at line[at] against the user name
// and returns the index just past it.
func (s *searcher) session(line []byte, at int) int {
	var user, term, started []byte
	end := eachField(line, at, func(k []byte, vs, ve int) bool {
		switch string(k) {
		case "user":
			user = line[vs:ve]
		case "terminal":
			term = line[vs:ve]
		case "started_at":
			started = line[vs:ve]
		}
		return true
	})
	if end < 0 {
		return end
	}
	if v, ok := strValue(user, &s.buf); ok && bytes.Equal(v, s.q.user) {
		s.found = true
		s.example(line[at:end], term, started)
	}
	return end
}

// example keeps obj as an example unless the agent has enough or already
// has this process or session (identified by the two raw members).
func (s *searcher) example(obj, id1, id2 []byte) {
	if len(s.hit.Examples) >= searchExamples {
		return
	}
	s.key = append(append(append(s.key[:0], id1...), 0), id2...)
	if s.seen[string(s.key)] {
		return
	}
	s.seen[string(s.key)] = true
	s.hit.Examples = append(s.hit.Examples, json.RawMessage(bytes.Clone(obj)))
}
