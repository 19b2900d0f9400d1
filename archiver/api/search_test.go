package api

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prexmon/prexmon/archiver/store"
	"github.com/prexmon/prexmon/exporter/snapshot"
)

// storedLine builds one day-file line the way the store writes it.
func storedLine(t testing.TB, ip string, at time.Time, s snapshot.Snapshot) []byte {
	t.Helper()
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Appendf(nil, `{"ip":%q,"target":"%s:9110","labels":{},"scraped_at":%q,"snapshot":%s}`+"\n", ip, ip, at.UTC().Format(time.RFC3339Nano), raw)
}

// fileFixture serves an archive whose files are written before the store
// opens: name is "<ip dir>/<file>", compressed when it ends in .gz.
func fileFixture(t *testing.T, files map[string][]byte) *fixture {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".gz") {
			var b bytes.Buffer
			zw := gzip.NewWriter(&b)
			zw.Write(content)
			zw.Close()
			content = b.Bytes()
		}
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(dir, store.Options{SyncInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(New(Options{Store: st}))
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: st}
}

func proc(pid int32, name, cmd string, started time.Time) snapshot.Process {
	return snapshot.Process{PID: pid, PPID: 1, Name: name, Cmdline: cmd, User: "root", State: "S", StartedAt: started}
}

func TestSearch(t *testing.T) {
	boot := today.Add(-time.Hour)
	at := func(h int) time.Time { return today.Add(time.Duration(h) * time.Hour) }
	snap := func(procs []snapshot.Process, users ...snapshot.User) snapshot.Snapshot {
		if users == nil {
			users = []snapshot.User{}
		}
		return snapshot.Snapshot{SchemaVersion: 1, CollectedAt: today, Processes: procs, Users: users}
	}
	nginx := proc(100, "nginx", "nginx: master process /usr/sbin/nginx", boot)
	miner := proc(200, "python3", "/usr/bin/python3 /opt/xmrig-wrapper.py && echo ok", boot)
	xmrig := proc(300, "xmrig", "./a.out --donate-level 1", boot)
	alice := snapshot.User{User: "alice", Terminal: "pts/0", Host: "10.9.0.1", StartedAt: boot}
	bob := snapshot.User{User: "bob", Terminal: "pts/1", Host: "10.9.0.2", StartedAt: boot}
	var many []snapshot.Process
	for i := range 12 {
		many = append(many, proc(int32(1000+i), "worker", fmt.Sprintf("worker --id=%d", i), boot))
	}
	cat := func(lines ...[]byte) []byte { return bytes.Join(lines, nil) }
	f := fileFixture(t, map[string][]byte{
		// 10.0.0.1: one plain day file.
		"10.0.0.1/2026-11-27.jsonl": cat(
			storedLine(t, "10.0.0.1", at(1), snap([]snapshot.Process{nginx}, alice)),
			storedLine(t, "10.0.0.1", at(2), snap([]snapshot.Process{nginx, miner}, alice)),
			storedLine(t, "10.0.0.1", at(3), snap([]snapshot.Process{nginx, miner})),
		),
		// 10.0.0.2: a compressed part and a live plain part of the same day.
		"10.0.0.2/2026-11-27.jsonl.gz": cat(
			storedLine(t, "10.0.0.2", at(4), snap([]snapshot.Process{xmrig}, bob)),
			storedLine(t, "10.0.0.2", at(5), snap([]snapshot.Process{xmrig, nginx}, bob)),
		),
		"10.0.0.2/2026-11-27.jsonl": cat(
			storedLine(t, "10.0.0.2", at(6), snap(many, bob)),
			storedLine(t, "10.0.0.2", at(7), snap(many)),
		),
		// 10.0.0.3: only another day, and an unreadable line.
		"10.0.0.3/2026-11-26.jsonl": cat(
			storedLine(t, "10.0.0.3", at(-5), snap([]snapshot.Process{xmrig}, bob)),
			[]byte("garbage\n"),
		),
	})

	type want struct {
		ip               string
		snapshots        int
		examples         int
		firstSeen, lastH int
	}
	for _, tc := range []struct {
		name, query string
		want        []want
		warning     bool
	}{
		{"cmdline match", "process=xmrig", []want{{"10.0.0.1", 2, 1, 2, 3}, {"10.0.0.2", 2, 1, 4, 5}}, false},
		{"name only", "process=" + url.QueryEscape("^nginx$"), []want{{"10.0.0.1", 3, 1, 1, 3}, {"10.0.0.2", 1, 1, 5, 5}}, false},
		{"cmdline only, not name", "process=" + url.QueryEscape("^nginx:"), []want{{"10.0.0.1", 3, 1, 1, 3}, {"10.0.0.2", 1, 1, 5, 5}}, false},
		{"escaped cmdline", "process=" + url.QueryEscape("py && echo"), []want{{"10.0.0.1", 2, 1, 2, 3}}, false},
		{"no literal prefix", "process=" + url.QueryEscape("(?i)XMRIG|minerd"), []want{{"10.0.0.1", 2, 1, 2, 3}, {"10.0.0.2", 2, 1, 4, 5}}, false},
		{"examples bounded", "process=worker", []want{{"10.0.0.2", 2, searchExamples, 6, 7}}, false},
		{"user", "user=bob", []want{{"10.0.0.2", 3, 1, 4, 6}}, false},
		{"user is exact", "user=ali", nil, false},
		{"user alice", "user=alice", []want{{"10.0.0.1", 2, 1, 1, 2}}, false},
		{"nothing", "process=nomatch", nil, false},
		{"agents bounded", "process=nginx&limit=1", []want{{"10.0.0.1", 3, 1, 1, 3}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "GET", "/api/v1/search?date=2026-11-27&"+tc.query, nil, nil)
			if r.code != 200 {
				t.Fatalf("code %d: %s", r.code, r.body)
			}
			var got []SearchHit
			if err := json.Unmarshal(r.env.Data, &got); err != nil {
				t.Fatalf("data: %v: %s", err, r.body)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d agents, want %d: %s", len(got), len(tc.want), r.body)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.IP != w.ip || g.Snapshots != w.snapshots || len(g.Examples) != w.examples ||
					!g.FirstSeen.Equal(at(w.firstSeen)) || !g.LastSeen.Equal(at(w.lastH)) {
					t.Errorf("agent %d: got %s snapshots=%d examples=%d first=%s last=%s; want %+v",
						i, g.IP, g.Snapshots, len(g.Examples), g.FirstSeen, g.LastSeen, w)
				}
			}
			if has := bytes.Contains(r.body, []byte(`"warnings"`)); has != tc.warning {
				t.Errorf("warnings present %v, want %v: %s", has, tc.warning, r.body)
			}
		})
	}

	t.Run("examples are stored objects", func(t *testing.T) {
		r := f.do(t, "GET", "/api/v1/search?date=2026-11-27&user=bob", nil, nil)
		var got []SearchHit
		json.Unmarshal(r.env.Data, &got)
		if len(got) != 1 {
			t.Fatalf("%s", r.body)
		}
		var u snapshot.User
		if err := json.Unmarshal(got[0].Examples[0], &u); err != nil || u != bob {
			t.Errorf("example %s, want %+v", got[0].Examples[0], bob)
		}
	})
	t.Run("distinct examples in order", func(t *testing.T) {
		r := f.do(t, "GET", "/api/v1/search?date=2026-11-27&process=worker", nil, nil)
		var got []SearchHit
		json.Unmarshal(r.env.Data, &got)
		var pids []int32
		for _, e := range got[0].Examples {
			var p snapshot.Process
			json.Unmarshal(e, &p)
			pids = append(pids, p.PID)
		}
		if !slices.Equal(pids, []int32{1000, 1001, 1002, 1003, 1004}) {
			t.Errorf("example pids %v", pids)
		}
	})
}

func TestSearchBadInput(t *testing.T) {
	f := fileFixture(t, nil)
	long := strings.Repeat("a", maxPatternLen+1)
	for _, q := range []string{
		"",
		"process=x",
		"date=2026-13-01&process=x",
		"date=27.11.2026&process=x",
		"date=2026-11-27",
		"date=2026-11-27&process=",
		"date=2026-11-27&user=",
		"date=2026-11-27&process=x&user=bob",
		"date=2026-11-27&process=" + url.QueryEscape("(unclosed"),
		"date=2026-11-27&process=" + url.QueryEscape(`\C`),
		"date=2026-11-27&process=" + long,
		"date=2026-11-27&user=" + strings.Repeat("u", maxUserLen+1),
		"date=2026-11-27&process=a&process=b",
		"date=2026-11-27&date=2026-11-28&process=a",
		"date=2026-11-27&process=a&limit=0",
		"date=2026-11-27&process=a&limit=x",
		"date=2026-11-27&process=a&verbose=1",
	} {
		r := f.do(t, "GET", "/api/v1/search?"+q, nil, nil)
		if r.code != 400 || r.env.Status != "error" || r.env.ErrorType != errBadData {
			t.Errorf("%q: %d %s, want 400 bad_data", q, r.code, r.body)
		}
	}
	r := f.do(t, "GET", "/api/v1/search?date=2026-11-27&process=x", nil, nil)
	if r.code != 200 || string(r.env.Data) != "[]" {
		t.Errorf("empty archive: %d %s, want 200 and []", r.code, r.body)
	}
}

func TestSearchNeedsReadToken(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.ReadTokens = func() []string { return []string{readToken} } })
	for _, p := range []string{"/api/v1/search?date=2026-11-27&process=x", "/api/v1/diff/10.0.0.5?from=2026-11-27T00:00:00Z&to=2026-11-27T01:00:00Z"} {
		if r := f.do(t, "GET", p, nil, nil); r.code != 401 {
			t.Errorf("%s without token: %d, want 401", p, r.code)
		}
		if r := f.do(t, "GET", p, nil, map[string]string{"Authorization": "Bearer " + readToken}); r.code == 401 {
			t.Errorf("%s with the read token: 401", p)
		}
	}
}

// TestSearchKeepsFirstAgents checks that hits past the limit are dropped
// while searching, whatever order the workers finish in, and counted.
func TestSearchKeepsFirstAgents(t *testing.T) {
	files := map[string][]byte{}
	for i := 9; i >= 1; i-- {
		ip := fmt.Sprintf("10.0.1.%d", i)
		files[ip+"/2026-11-27.jsonl"] = storedLine(t, ip, today, snapshot.Snapshot{SchemaVersion: 1, Processes: []snapshot.Process{proc(1, "sshd", "sshd -D", today)}})
	}
	f := fileFixture(t, files)
	for _, workers := range []int{1, 3} {
		hits, matched, err := searchStore(t.Context(), f.store, searchQuery{date: today, re: regexp.MustCompile("sshd"), limit: 2}, workers)
		if err != nil {
			t.Fatal(err)
		}
		if matched != 9 || len(hits) != 2 || hits[0].IP != "10.0.1.1" || hits[1].IP != "10.0.1.2" {
			t.Errorf("workers=%d: matched %d, hits %+v; want 9 and the first two addresses", workers, matched, hits)
		}
	}
	r := f.do(t, "GET", "/api/v1/search?date=2026-11-27&process=sshd&limit=3", nil, nil)
	if !bytes.Contains(r.body, []byte(`"9 agents matched; showing the first 3`)) {
		t.Errorf("warning missing: %s", r.body)
	}
}
