// Package api serves the archiver's HTTP interface: the snapshot queries
// (streamed straight from the day files), the push intake, and the health,
// readiness, reload, metrics and profiling endpoints, behind one path check.
package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/archiver/scrape"
	"github.com/prexmon/prexmon/archiver/store"
)

// Options wires the handler to the rest of the archiver. The func fields are
// called per request so that a config reload takes effect immediately.
type Options struct {
	Store *store.Store
	// Agents lists the registered agents and their health (nil: none).
	Agents func() []scrape.AgentStatus
	// Ready reports why the archiver is not ready (nil func or nil error:
	// ready); /readyz also checks Store.Writable.
	Ready func() error
	// Reload re-reads the configuration for POST /-/reload.
	Reload func() error
	// WriteTokens are the bearer tokens allowed to push; none disables push.
	WriteTokens func() []string
	// ReadTokens are the bearer tokens allowed to query; none leaves queries open.
	ReadTokens func() []string
	// PushAllowed is the push_allowed_cidrs check on the client address
	// (nil: every address may push).
	PushAllowed func(netip.Addr) bool
	// TrustedProxies are the only peers whose X-Forwarded-For is believed
	// (nil: none), asked at every push so a reload applies at once.
	TrustedProxies func() []netip.Prefix
	// MaxBodyBytes bounds a pushed snapshot, as sent and after
	// decompression (nil or <= 0: DefaultMaxBodyBytes); asked at every push.
	MaxBodyBytes func() int64
	// MaxConcurrentPushes bounds the pushes being received, decoded or
	// waiting for their fsync (nil or <= 0: 16); more are answered 503 with
	// Retry-After. Asked at every push.
	MaxConcurrentPushes func() int
	// PushRateLimit is each client address's token bucket: rate pushes a
	// second, burst at once (nil or rate <= 0: no limit); more are answered
	// 429 with Retry-After. Asked at every push.
	PushRateLimit func() (rate float64, burst int)
	// PushMemory bounds the bytes every push in progress may hold at once,
	// as sent, decoded and copied into its line; a push that would go past
	// it is answered 503 with Retry-After. It must hold a few times
	// MaxBodyBytes, so it is asked at every reservation, like the limit
	// (nil or <= 0: PushMemoryFor(MaxBodyBytes)): a budget fixed at start
	// would refuse every push near a raised limit, for ever.
	PushMemory func() int64
	// Metrics serves /metrics, open to all like the health endpoints
	// (nil: not served).
	Metrics http.Handler
	// Landing serves the web page: GET / and GET /static/…, open to all
	// since it holds no data (nil: not served).
	Landing http.Handler
	// EnableLifecycle allows POST and PUT /-/reload (--web.enable-lifecycle);
	// without it they answer 403, as Prometheus does.
	EnableLifecycle bool
	// EnablePprof serves /debug/pprof/ behind the read tokens
	// (--web.enable-pprof); without it the path is 404.
	EnablePprof bool
	// MaxQueries bounds the snapshot and file queries served at once
	// (default 32); more wait their turn. Each holds files and about a
	// megabyte of buffers, and descriptors are shared with the scrapes.
	MaxQueries int
	Logger     *slog.Logger
	// Registerer receives the API metrics (default: a private registry).
	Registerer prometheus.Registerer
	// Context stops the API's background work: finding, at start, the
	// pushing agents already in the archive (nil: never stopped early).
	Context context.Context
}

// maxBody is the push limit now.
func (a *api) maxBody() int64 {
	if a.o.MaxBodyBytes != nil {
		if n := a.o.MaxBodyBytes(); n > 0 {
			return n
		}
	}
	return DefaultMaxBodyBytes
}

// pushMemory is the push memory budget now.
func (a *api) pushMemory() int64 {
	if a.o.PushMemory != nil {
		if n := a.o.PushMemory(); n > 0 {
			return n
		}
	}
	return PushMemoryFor(a.maxBody())
}

// trusted are the proxies whose X-Forwarded-For is believed now.
func (a *api) trusted() []netip.Prefix {
	if a.o.TrustedProxies == nil {
		return nil
	}
	return a.o.TrustedProxies()
}

// DefaultMaxBodyBytes matches the scrape body limit so a pushed snapshot is
// held to the same bound as a scraped one.
const DefaultMaxBodyBytes = 16 << 20

type api struct {
	o        Options
	log      *slog.Logger
	pushes   *prometheus.CounterVec
	queries  *prometheus.CounterVec
	slots    chan struct{}
	bodyPool bufferPool

	pushing  atomic.Int64 // pushes holding a MaxConcurrentPushes slot
	pushMem  memBudget
	limiters rateLimiters
	dedup    dedup
	// pushAgents is archiver_agent_last_archived_timestamp_seconds{source="push"}.
	pushAgents *pushAgents
	// pushWait bounds how long a push waits for its fsync before it is
	// answered 503 (pushTimeout; shorter in tests).
	pushWait time.Duration
	// submit queues a pushed record and returns the wait for its fsync
	// (Store.Submit; a seam for tests that need a slow disk).
	submit func(context.Context, store.Record) (func(context.Context) error, error)
}

// New returns the handler for every archiver endpoint. It checks the
// request path before any routing or cleaning, so nothing reaches a
// handler under a path other than the one the client sent.
func New(o Options) http.Handler {
	return newAPI(o).handler()
}

func newAPI(o Options) *api {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.MaxQueries <= 0 {
		o.MaxQueries = 32
	}
	a := &api{
		o:        o,
		log:      o.Logger,
		slots:    make(chan struct{}, o.MaxQueries),
		pushWait: pushTimeout,
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "archiver", Name: "push_requests_total",
			Help: "Push requests by result (stored, duplicate, unauthorized, forbidden, rate_limited, overloaded, bad_request, too_large, unconfirmed, error).",
		}, []string{"result"}),
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "archiver", Name: "query_requests_total",
			Help: "Query API requests by endpoint and HTTP status code.",
		}, []string{"endpoint", "code"}),
	}
	var latest func(netip.Addr) ([]byte, error)
	if o.Store != nil {
		latest = o.Store.Latest
	}
	a.pushAgents = newPushAgents(latest)
	for _, c := range []prometheus.Collector{a.pushes, a.queries, a.pushAgents} {
		if err := o.Registerer.Register(c); err != nil {
			a.log.Error("cannot register API metrics", "err", err)
		}
	}
	for _, r := range pushResults {
		a.pushes.WithLabelValues(r)
	}
	if o.Store != nil {
		a.submit = o.Store.Submit
		ctx := o.Context
		if ctx == nil {
			ctx = context.Background()
		}
		go func() {
			if err := a.pushAgents.warm(ctx, o.Store.Addrs); err != nil && ctx.Err() == nil {
				a.log.Warn("cannot find the pushing agents already archived; each appears with its next push", "err", err)
			}
		}()
	}
	return a
}

func (a *api) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /api/v1/snapshots/{ip}/{date}", a.query("snapshots", a.limited(a.day)))
	mux.Handle("GET /api/v1/snapshots/{ip}/latest", a.query("latest", a.limited(a.latest)))
	mux.Handle("GET /api/v1/files", a.query("files", a.limited(a.files)))
	mux.Handle("GET /api/v1/agents", a.query("agents", a.agents))
	mux.Handle("GET /api/v1/search", a.query("search", a.limited(a.search)))
	mux.Handle("GET /api/v1/diff/{ip}", a.query("diff", a.limited(a.diff)))
	mux.HandleFunc("POST /api/v1/snapshots", a.push)
	mux.HandleFunc("POST /upload", a.push)
	mux.Handle("/api/v1/", a.query("unknown", func(w http.ResponseWriter, r *http.Request) {
		if allow := allowedMethods(mux, r); len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			writeError(w, http.StatusMethodNotAllowed, errMethod, "method "+r.Method+" not allowed for "+r.URL.Path+" (allowed: "+strings.Join(allow, ", ")+")")
			return
		}
		writeError(w, http.StatusNotFound, errNotFound, "unknown endpoint "+r.Method+" "+r.URL.Path)
	}))
	if a.o.Metrics != nil {
		mux.Handle("/metrics", a.o.Metrics)
	}
	if a.o.Landing != nil {
		// The page and its files hold no data and are open, like the
		// login page of any web application: a browser cannot send a
		// bearer token when it navigates. Everything the page shows comes
		// from the query endpoints, which keep asking for the token.
		mux.Handle("GET /{$}", a.o.Landing)
		mux.Handle("GET /static/", a.o.Landing)
	}
	if a.o.EnablePprof {
		// Profiles, as Prometheus serves them, for finding what limits a
		// big fleet. They reveal memory contents and cost CPU: off unless
		// asked for, and behind the read tokens.
		mux.Handle("/debug/pprof/", a.readOnly(http.HandlerFunc(pprof.Index)))
		mux.Handle("/debug/pprof/cmdline", a.readOnly(http.HandlerFunc(pprof.Cmdline)))
		mux.Handle("/debug/pprof/profile", a.readOnly(http.HandlerFunc(pprof.Profile)))
		mux.Handle("/debug/pprof/symbol", a.readOnly(http.HandlerFunc(pprof.Symbol)))
		mux.Handle("/debug/pprof/trace", a.readOnly(http.HandlerFunc(pprof.Trace)))
	}
	healthy := func(w http.ResponseWriter, r *http.Request) { writeText(w, http.StatusOK, "Healthy.") }
	mux.HandleFunc("GET /healthz", healthy)
	mux.HandleFunc("GET /readyz", a.ready)
	// Prometheus' spellings, for probes and users who expect them.
	mux.HandleFunc("GET /-/healthy", healthy)
	mux.HandleFunc("GET /-/ready", a.ready)
	mux.HandleFunc("POST /-/reload", a.reload)
	mux.HandleFunc("PUT /-/reload", a.reload)
	return a.guard(mux)
}

// allowedMethods lists the methods mux routes r's path to a real endpoint
// with, for the Allow header of a 405; none means the path is unknown.
func allowedMethods(mux *http.ServeMux, r *http.Request) []string {
	_, fallback := mux.Handler(r)
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		if m == r.Method {
			continue
		}
		probe := *r
		probe.Method = m
		if _, pattern := mux.Handler(&probe); pattern != fallback {
			allow = append(allow, m)
		}
	}
	return allow
}

// Prometheus API error types, plus the two auth ones it lacks.
const (
	errBadData      = "bad_data"
	errNotFound     = "not_found"
	errUnauthorized = "unauthorized"
	errForbidden    = "forbidden"
	errTooLarge     = "too_large"
	errUnsupported  = "unsupported_media_type"
	errInternal     = "internal"
	errUnavailable  = "unavailable"
	errMethod       = "method_not_allowed"
	errRateLimited  = "rate_limited"
)

type envelope struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

func writeError(w http.ResponseWriter, code int, typ, msg string) {
	writeJSON(w, code, envelope{Status: "error", ErrorType: typ, Error: msg})
}

func writeData(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, envelope{Status: "success", Data: data})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b = []byte(`{"status":"error","errorType":"internal","error":"cannot encode response"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

func writeText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write([]byte(msg + "\n"))
}

// Request bounds enforced before routing. Legitimate paths are short; the
// limits only exist so hostile input is refused early and cheaply.
const (
	maxPathLen  = 512
	maxQueryLen = 2048
)

// guard rejects requests whose path could mean something other than what
// the router sees: dot segments (which ServeMux would answer with a
// redirect rather than an error), empty segments, NUL bytes and backslashes
// (after percent-decoding), and over-long paths or queries.
func (a *api) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := badPath(r.URL.Path); msg != "" {
			writeError(w, http.StatusBadRequest, errBadData, msg)
			return
		}
		if len(r.URL.EscapedPath()) > maxPathLen || len(r.URL.RawQuery) > maxQueryLen {
			writeError(w, http.StatusBadRequest, errBadData, "request path or query too long")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func badPath(p string) string {
	if len(p) > maxPathLen {
		return "request path too long"
	}
	if !strings.HasPrefix(p, "/") {
		return "request path must be absolute"
	}
	if strings.ContainsAny(p, "\x00\\") {
		return "request path contains NUL or backslash"
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		switch {
		case s == "." || s == "..":
			return "request path contains a dot segment"
		case s == "" && i != len(segs)-1:
			return "request path contains an empty segment"
		}
	}
	return ""
}

// query wraps a read endpoint with the read-token check and the
// per-endpoint request counter.
func (a *api) query(endpoint string, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		defer func() {
			a.queries.WithLabelValues(endpoint, strconv.Itoa(rec.code)).Inc()
		}()
		if a.readAllowed(rec, r) {
			h(rec, r)
		}
	})
}

// readOnly puts h behind the read tokens.
func (a *api) readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.readAllowed(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}

// readAllowed answers 401 and reports false when read tokens are set and
// r carries none of them.
func (a *api) readAllowed(w http.ResponseWriter, r *http.Request) bool {
	if a.o.ReadTokens == nil {
		return true
	}
	if tokens := a.o.ReadTokens(); len(tokens) > 0 && !bearerOK(r, tokens) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="prexmon"`)
		writeError(w, http.StatusUnauthorized, errUnauthorized, "a valid read token is required (Authorization: Bearer <token>)")
		return false
	}
	return true
}

// limited makes a storage query wait for one of MaxQueries slots; a client
// that gives up while waiting is answered 503 without touching storage.
func (a *api) limited(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case a.slots <- struct{}{}:
			defer func() { <-a.slots }()
			h(w, r)
		case <-r.Context().Done():
			writeError(w, http.StatusServiceUnavailable, errUnavailable, "too many queries at once; retry")
		}
	}
}

// bearerOK reports whether the request carries one of tokens. Digests are
// compared in constant time, and all of them, so timing reveals neither a
// token's content nor its length nor which one matched.
func bearerOK(r *http.Request, tokens []string) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return false
	}
	got := sha256.Sum256([]byte(tok))
	match := 0
	for _, t := range tokens {
		if t == "" {
			continue
		}
		want := sha256.Sum256([]byte(t))
		match |= subtle.ConstantTimeCompare(got[:], want[:])
	}
	return match == 1
}

// statusRecorder remembers the status code for the request counter.
type statusRecorder struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.code, s.wroteHeader = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's Flusher.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (a *api) ready(w http.ResponseWriter, r *http.Request) {
	if a.o.Ready != nil {
		if err := a.o.Ready(); err != nil {
			writeText(w, http.StatusServiceUnavailable, "Not ready: "+err.Error())
			return
		}
	}
	if a.o.Store != nil {
		if err := a.o.Store.Writable(); err != nil {
			writeText(w, http.StatusServiceUnavailable, "Not ready: "+err.Error())
			return
		}
	}
	writeText(w, http.StatusOK, "Ready.")
}

// reload re-reads the configuration. It changes what is scraped and who
// may push, so it needs --web.enable-lifecycle and, when read tokens are
// set, one of them: the operators' tokens, not the write tokens every
// agent host holds.
func (a *api) reload(w http.ResponseWriter, r *http.Request) {
	if !a.o.EnableLifecycle {
		writeText(w, http.StatusForbidden, "Lifecycle API is not enabled.")
		return
	}
	if !a.readAllowed(w, r) {
		return
	}
	if a.o.Reload == nil {
		writeText(w, http.StatusServiceUnavailable, "reload is not available")
		return
	}
	if err := a.o.Reload(); err != nil {
		writeText(w, http.StatusInternalServerError, "failed to reload config: "+err.Error())
		return
	}
	writeText(w, http.StatusOK, "Reloaded.")
}
