package api

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/archiver/store"
)

// pushServer is an api on a real loopback server whose internals a test
// may reach, and whose listener counts the bytes the server reads.
type pushServer struct {
	a      *api
	srv    *httptest.Server
	reg    *prometheus.Registry
	dir    string
	read   atomic.Int64
	closed atomic.Int64 // connections the server has closed
	store  *store.Store
}

func newPushServer(t *testing.T, mod func(*Options), tweak func(*api)) *pushServer {
	t.Helper()
	ps := &pushServer{dir: t.TempDir(), reg: prometheus.NewRegistry()}
	st, err := store.Open(ps.dir, store.Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ps.store = st
	o := Options{Store: st, Registerer: ps.reg, WriteTokens: func() []string { return []string{writeToken} }}
	if mod != nil {
		mod(&o)
	}
	ps.a = newAPI(o)
	if tweak != nil {
		tweak(ps.a)
	}
	ps.srv = httptest.NewUnstartedServer(ps.a.handler())
	ps.srv.Listener = &countingListener{Listener: ps.srv.Listener, n: &ps.read}
	ps.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			ps.closed.Add(1)
		}
	}
	ps.srv.Start()
	t.Cleanup(ps.srv.Close)
	return ps
}

type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, n: l.n}, nil
}

type countingConn struct {
	net.Conn
	n *atomic.Int64
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.n.Add(int64(n))
	return n, err
}

type pushResult struct {
	code       int
	retryAfter string
	body       string
}

func (ps *pushServer) push(t *testing.T, body []byte, hdr map[string]string) pushResult {
	t.Helper()
	r, err := ps.tryPush(body, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryPush is push for goroutines other than the test's.
func (ps *pushServer) tryPush(body []byte, hdr map[string]string) (pushResult, error) {
	req, _ := http.NewRequest("POST", ps.srv.URL+"/api/v1/snapshots", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+writeToken)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return pushResult{}, err
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return pushResult{resp.StatusCode, resp.Header.Get("Retry-After"), b.String()}, nil
}

// lines counts the lines stored under ip, read from the day files.
func (ps *pushServer) lines(t *testing.T, ip string) int {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(ps.dir, ip, "*.jsonl"))
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		n += bytes.Count(b, []byte("\n"))
	}
	return n
}

func (ps *pushServer) result(t *testing.T, res string) float64 {
	t.Helper()
	return (&fixture{reg: ps.reg}).counter(t, "archiver_push_requests_total", map[string]string{"result": res})
}

func snap(seq int) []byte {
	return fmt.Appendf(nil, `{"schema_version":1,"collected_at":"2026-12-03T07:00:%02d.000Z","host":{"hostname":"h"}}`, seq)
}

func TestPushRateLimit(t *testing.T) {
	ps := newPushServer(t, func(o *Options) {
		o.PushRateLimit = func() (float64, int) { return 0.01, 2 }
	}, nil)
	for i := range 2 {
		if r := ps.push(t, snap(i), nil); r.code != 200 {
			t.Fatalf("push %d within the burst: %d %s", i, r.code, r.body)
		}
	}
	r := ps.push(t, snap(2), nil)
	if r.code != http.StatusTooManyRequests {
		t.Fatalf("push past the burst: %d %s, want 429", r.code, r.body)
	}
	if s, err := strconv.Atoi(r.retryAfter); err != nil || s < 1 || s > 100 {
		t.Errorf("Retry-After %q, want the 100 s to the next token or less", r.retryAfter)
	}
	if got := ps.result(t, "rate_limited"); got != 1 {
		t.Errorf("rate_limited = %v", got)
	}
	if n := ps.lines(t, "127.0.0.1"); n != 2 {
		t.Errorf("%d lines stored, want 2", n)
	}
}

// gate makes a test's store slow to fsync: the line is written at once,
// its AppendSync returns only once the gate opens.
type gate struct {
	open    chan struct{}
	entered chan struct{}
	calls   atomic.Int64
	fail    atomic.Int64 // fail this many first calls without storing
}

func newGate() *gate { return &gate{open: make(chan struct{}), entered: make(chan struct{}, 100)} }

func (g *gate) wrap(st *store.Store) func(context.Context, store.Record) (func(context.Context) error, error) {
	return func(_ context.Context, r store.Record) (func(context.Context) error, error) {
		return func(ctx context.Context) error {
			g.calls.Add(1)
			if g.fail.Add(-1) >= 0 {
				return errors.New("disk on fire")
			}
			err := st.AppendSync(ctx, r)
			g.entered <- struct{}{}
			<-g.open
			return err
		}, nil
	}
}

func TestPushConcurrencyLimit(t *testing.T) {
	g := newGate()
	ps := newPushServer(t, func(o *Options) { o.MaxConcurrentPushes = func() int { return 1 } }, nil)
	ps.a.submit = g.wrap(ps.store)
	first := make(chan pushResult, 1)
	go func() { r, _ := ps.tryPush(snap(1), nil); first <- r }()
	<-g.entered // the first push holds the only slot
	r := ps.push(t, snap(2), nil)
	if r.code != http.StatusServiceUnavailable || r.retryAfter == "" {
		t.Fatalf("second push: %d Retry-After %q %s, want 503 with Retry-After", r.code, r.retryAfter, r.body)
	}
	if got := ps.result(t, "overloaded"); got != 1 {
		t.Errorf("overloaded = %v", got)
	}
	close(g.open)
	if r := <-first; r.code != 200 {
		t.Fatalf("first push: %d %s", r.code, r.body)
	}
	if r := ps.push(t, snap(2), nil); r.code != 200 {
		t.Fatalf("push once the slot is free: %d %s", r.code, r.body)
	}
}

// TestEarlyRefusalReadsNoBody sends a push's headers, part of its body,
// and then nothing. Each refusal must come at once: without Connection:
// close, net/http reads a body under 256 KB to its end before answering,
// so a stalled one held the handler (and the answer) until it timed out.
// A larger body is not read at all. (After answering, net/http still reads
// what comes of a body under 256 KB until the connection closes; that is
// bounded by the size and by --web.read-timeout.)
func TestEarlyRefusalReadsNoBody(t *testing.T) {
	g := newGate()
	ps := newPushServer(t, func(o *Options) {
		o.PushRateLimit = func() (float64, int) { return 0.001, 1 }
		o.MaxConcurrentPushes = func() int { return 1 }
	}, nil)
	ps.a.submit = g.wrap(ps.store)
	defer close(g.open)
	// The one push allowed takes the only rate token, and the only slot
	// until the gate opens.
	go ps.tryPush(snap(1), nil)
	<-g.entered

	addr := strings.TrimPrefix(ps.srv.URL, "http://")
	for _, tc := range []struct {
		name, auth string
		code       int
	}{
		{"no token", "", 401},
		{"bad token", "Bearer nope", 401},
		{"rate limited", "Bearer " + writeToken, 429},
	} {
		for _, size := range []struct{ length, sent, maxRead int }{
			{200 << 10, 100 << 10, 1 << 20}, // under the drain limit: must not wait for it
			{16 << 20, 512 << 10, 64 << 10}, // over it: must not read it
		} {
			t.Run(fmt.Sprintf("%s/%d", tc.name, size.length), func(t *testing.T) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				before, closed := ps.read.Load(), ps.closed.Load()
				hdr := fmt.Sprintf("POST /api/v1/snapshots HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n", size.length)
				if tc.auth != "" {
					hdr += "Authorization: " + tc.auth + "\r\n"
				}
				go c.Write(append([]byte(hdr+"\r\n"), make([]byte, size.sent)...))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("no answer while the body stalls: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != tc.code || !resp.Close {
					t.Fatalf("%d, close %v; want %d and Connection: close", resp.StatusCode, resp.Close, tc.code)
				}
				// Once the server has closed the connection, it has read
				// all it ever will of it.
				c.Close()
				deadline := time.Now().Add(10 * time.Second)
				for ps.closed.Load() == closed {
					if time.Now().After(deadline) {
						t.Fatal("server did not close the connection")
					}
					time.Sleep(5 * time.Millisecond)
				}
				if n := ps.read.Load() - before; n > int64(size.maxRead) {
					t.Errorf("server read %d bytes of the request, want at most %d", n, size.maxRead)
				}
			})
		}
	}
}

func TestPushDuplicateStoredOnce(t *testing.T) {
	ps := newPushServer(t, nil, nil)
	if r := ps.push(t, snap(1), nil); r.code != 200 || strings.Contains(r.body, "duplicate") {
		t.Fatalf("first push: %d %s", r.code, r.body)
	}
	r := ps.push(t, snap(1), nil)
	if r.code != 200 || !strings.Contains(r.body, `"duplicate":true`) {
		t.Fatalf("same snapshot again: %d %s, want 200 duplicate", r.code, r.body)
	}
	if r := ps.push(t, snap(2), nil); r.code != 200 || strings.Contains(r.body, "duplicate") {
		t.Fatalf("next snapshot: %d %s", r.code, r.body)
	}
	if n := ps.lines(t, "127.0.0.1"); n != 2 {
		t.Errorf("%d lines stored, want 2", n)
	}
	if got := ps.result(t, "duplicate"); got != 1 {
		t.Errorf("duplicate = %v", got)
	}
	// A snapshot without collected_at cannot be recognised: stored each time.
	for range 2 {
		if r := ps.push(t, []byte(`{"schema_version":1}`), nil); r.code != 200 {
			t.Fatalf("push without collected_at: %d %s", r.code, r.body)
		}
	}
	if n := ps.lines(t, "127.0.0.1"); n != 4 {
		t.Errorf("%d lines stored, want 4", n)
	}
}

// TestPushLateFsync: a push whose fsync is late is answered 503 saying it
// was written and a retry is safe; retries wait for the same outcome and,
// once it is stored, get 200 without a second line.
func TestPushLateFsync(t *testing.T) {
	g := newGate()
	ps := newPushServer(t, nil, func(a *api) { a.pushWait = 100 * time.Millisecond })
	ps.a.submit = g.wrap(ps.store)
	r := ps.push(t, snap(1), nil)
	if r.code != http.StatusServiceUnavailable || r.retryAfter == "" || !strings.Contains(r.body, "retry is safe") {
		t.Fatalf("late fsync: %d Retry-After %q %s", r.code, r.retryAfter, r.body)
	}
	if strings.Contains(r.body, "not stored") {
		t.Errorf("late fsync answered as not stored: %s", r.body)
	}
	if r := ps.push(t, snap(1), nil); r.code != http.StatusServiceUnavailable {
		t.Fatalf("retry while the fsync is still late: %d %s, want 503 again", r.code, r.body)
	}
	close(g.open)
	if r := ps.push(t, snap(1), nil); r.code != 200 || !strings.Contains(r.body, `"duplicate":true`) {
		t.Fatalf("retry once synced: %d %s, want 200 duplicate", r.code, r.body)
	}
	if n := ps.lines(t, "127.0.0.1"); n != 1 {
		t.Errorf("%d lines stored, want 1", n)
	}
	if c := g.calls.Load(); c != 1 {
		t.Errorf("store called %d times, want 1", c)
	}
	if got := ps.result(t, "unconfirmed"); got != 2 {
		t.Errorf("unconfirmed = %v, want 2", got)
	}
}

// TestPushFailedIsRetried: a snapshot the store refused is not remembered
// as stored, so its retry stores it.
func TestPushFailedIsRetried(t *testing.T) {
	g := newGate()
	close(g.open)
	g.fail.Store(1)
	ps := newPushServer(t, nil, nil)
	ps.a.submit = g.wrap(ps.store)
	if r := ps.push(t, snap(1), nil); r.code != http.StatusServiceUnavailable || !strings.Contains(r.body, "not stored") {
		t.Fatalf("failed store: %d %s", r.code, r.body)
	}
	if r := ps.push(t, snap(1), nil); r.code != 200 || strings.Contains(r.body, "duplicate") {
		t.Fatalf("retry: %d %s, want stored", r.code, r.body)
	}
	if n := ps.lines(t, "127.0.0.1"); n != 1 {
		t.Errorf("%d lines stored, want 1", n)
	}
}

// TestPushMemoryBudget sends bombs (4 KB of gzip, 4 MB decoded) at once:
// what the budget cannot hold is refused with 503, nothing is stored (they
// are not JSON), and every slot and byte is given back.
func TestPushMemoryBudget(t *testing.T) {
	const budget = 12 << 20
	ps := newPushServer(t, func(o *Options) {
		o.PushMemory = func() int64 { return budget }
		o.MaxBodyBytes = func() int64 { return 4 << 20 }
		o.MaxConcurrentPushes = func() int { return 8 }
	}, nil)
	bomb := gz(make([]byte, 4<<20-1000))
	var wg sync.WaitGroup
	codes := make(chan int, 8)
	for range 8 {
		wg.Go(func() {
			r, _ := ps.tryPush(bomb, map[string]string{"Content-Encoding": "gzip"})
			codes <- r.code
		})
	}
	wg.Wait()
	close(codes)
	seen := map[int]int{}
	for c := range codes {
		seen[c]++
	}
	if seen[400]+seen[503] != 8 || seen[400] == 0 {
		t.Fatalf("answers %v, want only 400 (decoded, not JSON) and 503 (no room), some 400", seen)
	}
	if ps.a.pushing.Load() != 0 || ps.a.pushMem.reserved() != 0 {
		t.Fatalf("slots or push memory not given back: %d pushing, %d bytes", ps.a.pushing.Load(), ps.a.pushMem.reserved())
	}
}

func TestRateLimitersBounded(t *testing.T) {
	var l rateLimiters
	now := time.Now()
	for i := range maxLimitedClients + 10 {
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if ok, _ := l.allow(ip, now, 1, 10); !ok {
			t.Fatal("first push of a client refused")
		}
	}
	if n := len(l.clients); n > maxLimitedClients {
		t.Fatalf("%d buckets kept, want at most %d", n, maxLimitedClients)
	}
}

func TestDedupBounded(t *testing.T) {
	var d dedup
	for i := range maxDedupClients + 10 {
		k := d.key(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), []byte("t"))
		job, _, _ := d.begin(k)
		d.finish(k, job, nil)
	}
	if n := len(d.clients); n > maxDedupClients {
		t.Fatalf("%d clients kept, want at most %d", n, maxDedupClients)
	}
}

// TestPushDuplicateAcrossRestart: a snapshot stored before the archiver
// started (found in the tail of today's file) is recognised when pushed
// again.
func TestPushDuplicateAcrossRestart(t *testing.T) {
	ps := newPushServer(t, nil, nil)
	err := ps.store.AppendSync(context.Background(), store.Record{
		IP: netip.MustParseAddr("127.0.0.1"), Labels: map[string]string{"snapshot": "x"}, Snapshot: snap(1),
	})
	if err != nil {
		t.Fatal(err)
	}
	r := ps.push(t, snap(1), nil)
	if r.code != 200 || !strings.Contains(r.body, `"duplicate":true`) {
		t.Fatalf("push of a snapshot stored before the start: %d %s, want 200 duplicate", r.code, r.body)
	}
	if r := ps.push(t, snap(2), nil); r.code != 200 || strings.Contains(r.body, "duplicate") {
		t.Fatalf("new snapshot: %d %s", r.code, r.body)
	}
	if n := ps.lines(t, "127.0.0.1"); n != 2 {
		t.Errorf("%d lines stored, want 2", n)
	}
}
