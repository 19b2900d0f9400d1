package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/prexmon/prexmon/archiver/scrape"
	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/archiver/targets"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// TestLastArchivedBothSources: the scrape manager's and the push intake's
// series of archiver_agent_last_archived_timestamp_seconds live in one
// registry, as in the archiver, told apart by source.
func TestLastArchivedBothSources(t *testing.T) {
	reg := prometheus.NewRegistry()
	mgr := scrape.NewManager(scrape.Options{Appender: discard{}, Registerer: reg})
	t.Cleanup(mgr.Stop)
	if err := mgr.ApplyConfig(scrape.Config{Interval: time.Hour, Timeout: time.Second, BodySizeLimit: 1 << 20, Scheme: "http", Path: "/snapshot"}); err != nil {
		t.Fatal(err)
	}
	mgr.Sync([]targets.Target{{Address: "127.0.0.1:1"}})
	f := newFixture(t, func(o *Options) { o.Registerer = reg })
	r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader([]byte(`{"schema_version":1}`)), map[string]string{"Authorization": "Bearer " + writeToken})
	if r.code != 200 {
		t.Fatalf("push: %d %s", r.code, r.body)
	}
	got := map[string]string{}
	for _, s := range lastArchivedSeries(t, reg) {
		got[s.labels["target"]] = s.labels["source"]
	}
	want := map[string]string{"127.0.0.1:1": scrape.SourceScrape, "127.0.0.1": scrape.SourcePush}
	if !maps.Equal(got, want) {
		t.Errorf("series (target: source) %v, want %v", got, want)
	}
}

type discard struct{}

func (discard) Append(store.Record) error { return nil }

// TestPushAgentsWarm: after a restart, the pushing agents already in the
// archive are named again, at the time of their last stored push, while
// scraped agents and pushes older than pushAgentForget are not.
func TestPushAgentsWarm(t *testing.T) {
	now := time.Now().UTC()
	st, err := store.Open(t.TempDir(), store.Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	records := []store.Record{
		{IP: netip.MustParseAddr("10.0.0.1"), ScrapedAt: now.Add(-time.Hour)},                              // pushing, an hour ago
		{IP: netip.MustParseAddr("10.0.0.1"), ScrapedAt: now.Add(-30 * time.Minute)},                       // … and later
		{IP: netip.MustParseAddr("10.0.0.2"), ScrapedAt: now.Add(-2 * time.Hour), Target: "10.0.0.2:9110"}, // scraped
		{IP: netip.MustParseAddr("10.0.0.3"), ScrapedAt: now.Add(-pushAgentForget - 24*time.Hour)},         // pushed, long silent
		{IP: netip.MustParseAddr("2001:db8::1"), ScrapedAt: now.Add(-3 * time.Hour)},                       // pushing over IPv6
	}
	for i, r := range records {
		r.Snapshot = fmt.Appendf(nil, `{"schema_version":1,"seq":%d}`, i)
		if err := st.AppendSync(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	p := newPushAgents(st.Latest)
	// A push stored since the newest line was read is never moved back.
	p.stored(netip.MustParseAddr("2001:db8::1"), now)
	if err := p.warm(context.Background(), st.Addrs); err != nil {
		t.Fatal(err)
	}
	got := collectPushAgents(t, p)
	want := map[string]float64{
		"10.0.0.1":    float64(now.Add(-30*time.Minute).UnixNano()) / 1e9,
		"2001:db8::1": float64(now.UnixNano()) / 1e9,
	}
	if !maps.Equal(got, want) {
		t.Errorf("after warm-up %v, want %v", got, want)
	}
}

// TestPushAgentsForgetAndBound: a client silent for pushAgentForget loses
// its series, and the map never holds more than maxPushAgents clients,
// the longest silent going first.
func TestPushAgentsForgetAndBound(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	p := newPushAgents(nil)
	p.now = func() time.Time { return now }
	p.stored(netip.MustParseAddr("10.0.0.1"), now.Add(-pushAgentForget-time.Second))
	p.stored(netip.MustParseAddr("10.0.0.2"), now.Add(-pushAgentForget+time.Second))
	if got := collectPushAgents(t, p); len(got) != 1 || got["10.0.0.2"] == 0 {
		t.Errorf("series %v, want only 10.0.0.2 (10.0.0.1 silent past the limit)", got)
	}
	base := netip.MustParseAddr("10.1.0.0")
	ip := base
	for i := range maxPushAgents + 10 {
		p.stored(ip, now.Add(time.Duration(i)*time.Millisecond))
		ip = ip.Next()
	}
	p.mu.Lock()
	n := len(p.last)
	_, oldestKept := p.last[base]
	_, newestKept := p.last[ip.Prev()]
	p.mu.Unlock()
	if n != maxPushAgents || oldestKept || !newestKept {
		t.Errorf("%d clients kept (want %d), oldest kept %v (want false), newest kept %v (want true)", n, maxPushAgents, oldestKept, newestKept)
	}
}

func collectPushAgents(t *testing.T, p *pushAgents) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(p); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, s := range lastArchivedSeries(t, reg) {
		out[s.labels["target"]] = s.value
	}
	return out
}

// BenchmarkPushAgentsWarm is the start-up scan for pushing agents over an
// archive of 5,000 addresses (one day file each, half of them pushed).
func BenchmarkPushAgentsWarm(b *testing.B) {
	st, err := store.Open(b.TempDir(), store.Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	ip := netip.MustParseAddr("10.0.0.1")
	snap := []byte(`{"schema_version":1,"processes":[` + strings.Repeat(`{"pid":1,"name":"x"},`, 300) + `{"pid":2}]}`)
	for i := range 5000 {
		r := store.Record{IP: ip, ScrapedAt: now.Add(-time.Minute), Snapshot: snap}
		if i%2 == 0 {
			r.Target = ip.String() + ":9110"
		}
		for range 3 {
			if err := st.Append(r); err != nil {
				b.Fatal(err)
			}
		}
		ip = ip.Next()
	}
	if err := st.AppendSync(context.Background(), store.Record{IP: ip, ScrapedAt: now, Snapshot: snap}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		p := newPushAgents(st.Latest)
		if err := p.warm(context.Background(), st.Addrs); err != nil {
			b.Fatal(err)
		}
		if n := len(p.last); n != 2501 {
			b.Fatalf("%d pushing agents found, want 2501", n)
		}
	}
}

func TestPushFileAt(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	ip := netip.MustParseAddr("10.0.0.1")
	cases := []struct {
		name   string
		prev   time.Time // the client's last filed line (zero: none known)
		age    time.Duration
		hasAge bool
		want   time.Time
	}{
		{"fresh push", time.Time{}, 150 * time.Millisecond, true, now.Add(-150 * time.Millisecond)},
		{"replay from this morning", time.Time{}, 3 * time.Hour, true, now.Add(-3 * time.Hour)},
		{"replay at midnight exactly", time.Time{}, 12 * time.Hour, true, now.Add(-12 * time.Hour)},
		{"replay from yesterday: its arrival", time.Time{}, 13 * time.Hour, true, now},
		{"after the last line", now.Add(-4 * time.Hour), 3 * time.Hour, true, now.Add(-3 * time.Hour)},
		{"before the last line: its arrival", now.Add(-2 * time.Hour), 3 * time.Hour, true, now},
		{"a last line ahead of the clock: that line's time", now.Add(time.Second), 3 * time.Hour, true, now.Add(time.Second)},
		{"no age: its arrival", now.Add(-time.Hour), 0, false, now},
		{"no age, a last line ahead of the clock: that line's time", now.Add(time.Second), 0, false, now.Add(time.Second)},
	}
	for _, tc := range cases {
		p := newPushAgents(nil)
		if !tc.prev.IsZero() {
			p.stored(ip, tc.prev)
			p.queued(ip, tc.prev)
		}
		if got := p.fileAt(ip, now, tc.age, tc.hasAge); !got.Equal(tc.want) {
			t.Errorf("%s: filed at %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestPushFiledByAge: a push that says how old its snapshot is gets filed
// when it was taken, on the archiver's clock; a malformed age is refused.
func TestPushFiledByAge(t *testing.T) {
	f := newFixture(t, nil)
	auth := "Bearer " + writeToken
	// Within today whatever the hour the test runs at.
	age := min(time.Hour, time.Since(time.Now().UTC().Truncate(24*time.Hour))/2)
	before := time.Now()
	r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader([]byte(`{"schema_version":1,"collected_at":"2026-01-01T00:00:00Z"}`)),
		map[string]string{"Authorization": auth, snapshot.AgeHeader: strconv.FormatFloat(age.Seconds(), 'f', 3, 64)})
	after := time.Now()
	if r.code != 200 {
		t.Fatalf("push: %d %s", r.code, r.body)
	}
	line, err := f.store.Latest(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	filed, ok := pushedAt(line)
	if !ok || filed.Before(before.Add(-age-time.Millisecond)) || filed.After(after.Add(-age)) {
		t.Errorf("filed under %v, want %v before the push's arrival (%v to %v)", filed, age, before, after)
	}
	series := f.pushSeries(t)["127.0.0.1"]
	if arrived := time.Unix(0, int64(series*1e9)); arrived.Before(before.Add(-time.Millisecond)) || arrived.After(after.Add(time.Millisecond)) {
		t.Errorf("last archived %v, want the arrival (%v to %v)", arrived, before, after)
	}
	for _, bad := range []string{"-5", "soon", "1e9"} {
		r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader([]byte(`{"schema_version":1}`)),
			map[string]string{"Authorization": auth, snapshot.AgeHeader: bad})
		if r.code != 400 || !strings.Contains(r.env.Error, snapshot.AgeHeader) {
			t.Errorf("age %q: %d %s, want 400 naming the header", bad, r.code, r.body)
		}
	}
}

// TestPushesFromOneAddressStayInOrder: agents behind one address (a NAT),
// one replaying its spool while another pushes fresh snapshots, at once.
// Whatever the interleaving, the address's day file must stay in
// scraped_at order: reads of a time range rely on it.
func TestPushesFromOneAddressStayInOrder(t *testing.T) {
	sinceMidnight := time.Since(time.Now().UTC().Truncate(24 * time.Hour))
	if sinceMidnight < 5*time.Minute || sinceMidnight > 24*time.Hour-time.Minute {
		t.Skipf("%v after midnight UTC: the pushes could fall on two days", sinceMidnight.Round(time.Second))
	}
	f := newFixture(t, func(o *Options) { o.MaxConcurrentPushes = func() int { return 64 } })
	auth := "Bearer " + writeToken
	old := min(8*time.Hour, sinceMidnight/2)
	var wg sync.WaitGroup
	for i := range 20 {
		for j, age := range []time.Duration{0, old - time.Duration(i)*time.Second} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Appendf(nil, `{"schema_version":1,"collected_at":"2026-01-01T00:00:%02d.%dZ"}`, i, j)
				r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader(body),
					map[string]string{"Authorization": auth, snapshot.AgeHeader: strconv.FormatFloat(age.Seconds(), 'f', 3, 64)})
				if r.code != 200 {
					t.Errorf("push: %d %s", r.code, r.body)
				}
			}()
		}
	}
	wg.Wait()
	var times []time.Time
	err := f.store.ReadDay(context.Background(), netip.MustParseAddr("127.0.0.1"), time.Now().UTC(), store.Query{}, func(line []byte) error {
		at, ok := pushedAt(line)
		if !ok {
			return fmt.Errorf("no scraped_at in %s", line)
		}
		times = append(times, at)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(times) != 40 {
		t.Fatalf("%d lines stored, want 40", len(times))
	}
	for i := 1; i < len(times); i++ {
		if times[i].Before(times[i-1]) {
			t.Errorf("line %d filed under %v, before line %d (%v)", i+1, times[i].Format(time.RFC3339Nano), i, times[i-1].Format(time.RFC3339Nano))
		}
	}
}

// TestReplayedPushDeduplicatedAcrossRestart: a snapshot filed by its age
// hours back, whose 200 the agent never got, is pushed again to a
// restarted archiver (a new API on the same store). It lies outside the
// hour the window is warmed from, and must still be found.
func TestReplayedPushDeduplicatedAcrossRestart(t *testing.T) {
	sinceMidnight := time.Since(time.Now().UTC().Truncate(24 * time.Hour))
	if sinceMidnight < 80*time.Minute {
		t.Skipf("%v after midnight UTC: no room today for a snapshot older than the warm-up's hour", sinceMidnight.Round(time.Minute))
	}
	age := min(3*time.Hour, sinceMidnight-10*time.Minute)
	f := newFixture(t, nil)
	body := []byte(`{"schema_version":1,"collected_at":"2026-01-01T00:00:00Z"}`)
	hdr := map[string]string{"Authorization": "Bearer " + writeToken, snapshot.AgeHeader: strconv.FormatFloat(age.Seconds(), 'f', 3, 64)}
	if r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader(body), hdr); r.code != 200 {
		t.Fatalf("first push: %d %s", r.code, r.body)
	}
	restarted := httptest.NewServer(New(Options{Store: f.store, Registerer: prometheus.NewRegistry(),
		WriteTokens: func() []string { return []string{writeToken} }}))
	defer restarted.Close()
	f.srv = restarted
	r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader(body), hdr)
	if r.code != 200 || !bytes.Contains(r.env.Data, []byte(`"duplicate":true`)) {
		t.Errorf("push again after the restart: %d %s, want 200 duplicate", r.code, r.body)
	}
	files, err := f.store.Files(netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || files[0].Snapshots != 1 {
		t.Errorf("files %+v, want one snapshot stored once", files)
	}
}

// TestPushQueueStalled: the store's queue has no room (a stalled disk).
// The push is answered 503 within its wait, not held for ever, and a push
// from another address meanwhile is not held by it.
func TestPushQueueStalled(t *testing.T) {
	stall := make(chan struct{})
	defer close(stall)
	stalledIP := netip.MustParseAddr("10.0.0.1")
	ps := newPushServer(t, func(o *Options) { o.TrustedProxies = loopbackProxies }, func(a *api) {
		a.pushWait = 2 * time.Second
		real := a.submit
		a.submit = func(ctx context.Context, r store.Record) (func(context.Context) error, error) {
			if r.IP == stalledIP {
				select { // a full queue: no room until ctx ends
				case <-stall:
				case <-ctx.Done():
					return nil, ctx.Err()
				}
			}
			return real(ctx, r)
		}
	})
	stalled := make(chan pushResult, 1)
	go func() {
		r, _ := ps.tryPush(snap(1), map[string]string{"X-Forwarded-For": stalledIP.String()})
		stalled <- r
	}()
	waitUntil(t, "the stalled push to wait for room", func() bool {
		ps.a.pushAgents.mu.Lock()
		defer ps.a.pushAgents.mu.Unlock()
		return ps.a.pushAgents.turns[stalledIP] != nil
	})
	for i := range 16 {
		other := fmt.Sprintf("10.0.1.%d", i)
		if r := ps.push(t, snap(2+i), map[string]string{"X-Forwarded-For": other}); r.code != 200 {
			t.Errorf("push from %s: %d %s, want 200", other, r.code, r.body)
		}
	}
	select {
	case r := <-stalled:
		t.Fatalf("the stalled push was answered (%d) before the others were done: they waited for it", r.code)
	default:
	}
	select {
	case r := <-stalled:
		if r.code != http.StatusServiceUnavailable || r.retryAfter == "" {
			t.Errorf("push into a stalled queue: %d (Retry-After %q) %s, want 503 with Retry-After", r.code, r.retryAfter, r.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("push into a stalled queue not answered after 10 s")
	}
	if n := ps.lines(t, stalledIP.String()); n != 0 {
		t.Errorf("%d lines stored for the stalled push, want 0", n)
	}
	ps.a.pushAgents.mu.Lock()
	defer ps.a.pushAgents.mu.Unlock()
	if n := len(ps.a.pushAgents.turns); n != 0 {
		t.Errorf("%d turns left after every push ended, want 0", n)
	}
}

// waitUntil polls cond until it holds or 10 s pass.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRetryAfterFailedFsyncIsStored: a replayed snapshot whose storing
// failed here (its line written but not synced) is pushed again. Its line
// is still in the file, where the dedup lookup would find it, but it must
// be stored again, not answered "duplicate" and dropped by the agent.
func TestRetryAfterFailedFsyncIsStored(t *testing.T) {
	sinceMidnight := time.Since(time.Now().UTC().Truncate(24 * time.Hour))
	if sinceMidnight < 50*time.Minute {
		t.Skipf("%v after midnight UTC: no room today for a replay older than half an hour", sinceMidnight.Round(time.Minute))
	}
	ip := netip.MustParseAddr("127.0.0.1")
	before := time.Now().UTC().Add(-40 * time.Minute)
	var failed atomic.Bool
	ps := newPushServer(t, func(o *Options) {
		// The line an earlier process stored 40 minutes ago: the replay
		// below is filed just after it, where the lookup looks.
		if err := o.Store.AppendSync(context.Background(), store.Record{IP: ip, ScrapedAt: before, Snapshot: snap(0)}); err != nil {
			t.Fatal(err)
		}
	}, func(a *api) {
		real := a.submit
		a.submit = func(ctx context.Context, r store.Record) (func(context.Context) error, error) {
			wait, err := real(ctx, r)
			if err != nil || failed.Swap(true) {
				return wait, err
			}
			return func(ctx context.Context) error {
				_ = wait(ctx) // written; its fsync "fails"
				return errors.New("fsync: input/output error")
			}, nil
		}
	})
	age := time.Since(before.Add(30 * time.Second)) // filed 30 s after that line
	hdr := map[string]string{snapshot.AgeHeader: strconv.FormatFloat(age.Seconds(), 'f', 3, 64)}
	if r := ps.push(t, snap(1), hdr); r.code != http.StatusServiceUnavailable {
		t.Fatalf("push whose fsync fails: %d %s, want 503", r.code, r.body)
	}
	r := ps.push(t, snap(1), hdr)
	if r.code != 200 || strings.Contains(r.body, `"duplicate":true`) {
		t.Errorf("retry: %d %s, want 200 stored", r.code, r.body)
	}
	if n := ps.lines(t, "127.0.0.1"); n != 3 {
		t.Errorf("%d lines, want 3 (the earlier one, the unsynced one, the retry)", n)
	}
}
