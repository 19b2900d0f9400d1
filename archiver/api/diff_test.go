package api

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func TestDiff(t *testing.T) {
	boot := today.Add(-48 * time.Hour)
	later := today.Add(-30 * time.Minute)
	sshd := proc(10, "sshd", "/usr/sbin/sshd -D", boot)
	cron := proc(20, "cron", "/usr/sbin/cron -f", boot)
	reused := proc(20, "bash", "-bash", later) // cron's pid, a new process
	vim := proc(30, "vim", "vim /etc/hosts", later)
	alice := snapshot.User{User: "alice", Terminal: "pts/0", StartedAt: boot}
	bob := snapshot.User{User: "bob", Terminal: "pts/1", StartedAt: later}
	aliceAgain := snapshot.User{User: "alice", Terminal: "pts/0", StartedAt: later} // same terminal, new session

	day1 := today.Add(-24 * time.Hour)
	s := func(procs []snapshot.Process, users ...snapshot.User) snapshot.Snapshot {
		if users == nil {
			users = []snapshot.User{}
		}
		return snapshot.Snapshot{SchemaVersion: 1, CollectedAt: today, Processes: procs, Users: users}
	}
	noUsers := s([]snapshot.Process{sshd})
	noUsers.Users = nil
	ip := "10.0.0.7"
	f := fileFixture(t, map[string][]byte{
		"10.0.0.7/2026-11-26.jsonl": append(
			storedLine(t, ip, day1.Add(23*time.Hour+50*time.Minute), s([]snapshot.Process{sshd, cron}, alice)),
			storedLine(t, ip, day1.Add(2*time.Hour), s([]snapshot.Process{sshd}))...),
		// Out of order within the day, as a slow scrape leaves them.
		"10.0.0.7/2026-11-27.jsonl": append(append(append(
			storedLine(t, ip, today.Add(10*time.Minute+5*time.Second), s([]snapshot.Process{sshd, reused, vim}, alice, bob)),
			storedLine(t, ip, today.Add(10*time.Minute), s([]snapshot.Process{sshd, cron, vim}, alice))...),
			storedLine(t, ip, today.Add(2*time.Hour), s([]snapshot.Process{sshd}, aliceAgain))...),
			storedLine(t, ip, today.Add(3*time.Hour), noUsers)...),
	})

	pids := func(ps []snapshot.Process) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Name)
		}
		return out
	}
	users := func(us []snapshot.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.User+"@"+u.StartedAt.Format("15:04"))
		}
		return out
	}
	for _, tc := range []struct {
		name, from, to      string
		fromAt, toAt        time.Time
		started, ended      []string
		loggedIn, loggedOut []string
		warning             bool
	}{
		{
			name: "across days, pid reuse", from: "2026-11-27T00:05:00Z", to: "2026-11-27T00:11:00Z",
			fromAt: day1.Add(23*time.Hour + 50*time.Minute), toAt: today.Add(10*time.Minute + 5*time.Second),
			started: []string{"bash", "vim"}, ended: []string{"cron"}, loggedIn: []string{"bob@23:30"},
		},
		{
			name: "nearest at or before, not last in file", from: "2026-11-27T00:10:03Z", to: "2026-11-27T00:10:05Z",
			fromAt: today.Add(10 * time.Minute), toAt: today.Add(10*time.Minute + 5*time.Second),
			started: []string{"bash"}, ended: []string{"cron"}, loggedIn: []string{"bob@23:30"},
		},
		{
			name: "whole-day fallback, new session on the same terminal", from: "2026-11-27T00:10:06Z", to: "2026-11-27T02:59:00+00:00",
			fromAt: today.Add(10*time.Minute + 5*time.Second), toAt: today.Add(2 * time.Hour),
			ended: []string{"bash", "vim"}, loggedIn: []string{"alice@23:30"}, loggedOut: []string{"alice@00:00", "bob@23:30"},
		},
		{
			name: "same snapshot", from: "2026-11-27T02:00:00Z", to: "2026-11-27T02:30:00Z",
			fromAt: today.Add(2 * time.Hour), toAt: today.Add(2 * time.Hour),
		},
		{
			name: "users unknown on one side", from: "2026-11-27T02:00:00Z", to: "2026-11-28T12:00:00Z",
			fromAt: today.Add(2 * time.Hour), toAt: today.Add(3 * time.Hour), warning: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, "GET", "/api/v1/diff/"+ip+"?from="+url.QueryEscape(tc.from)+"&to="+url.QueryEscape(tc.to), nil, nil)
			if r.code != 200 {
				t.Fatalf("code %d: %s", r.code, r.body)
			}
			var d Diff
			if err := json.Unmarshal(r.env.Data, &d); err != nil {
				t.Fatal(err)
			}
			if !d.From.ScrapedAt.Equal(tc.fromAt) || !d.To.ScrapedAt.Equal(tc.toAt) {
				t.Errorf("snapshots %s → %s, want %s → %s", d.From.ScrapedAt, d.To.ScrapedAt, tc.fromAt, tc.toAt)
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{
				{"started", pids(d.ProcessesStarted), tc.started},
				{"ended", pids(d.ProcessesEnded), tc.ended},
				{"logged in", users(d.UsersLoggedIn), tc.loggedIn},
				{"logged out", users(d.UsersLoggedOut), tc.loggedOut},
			} {
				if !slices.Equal(c.got, c.want) {
					t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
				}
			}
			var raw map[string]json.RawMessage
			json.Unmarshal(r.env.Data, &raw)
			for _, k := range []string{"processes_started", "processes_ended", "users_logged_in", "users_logged_out"} {
				if string(raw[k]) == "null" {
					t.Errorf("%s is null, want a list", k)
				}
			}
			if has := bytes.Contains(r.body, []byte(`"warnings"`)); has != tc.warning {
				t.Errorf("warnings %v, want %v: %s", has, tc.warning, r.body)
			}
		})
	}

	for _, c := range []struct {
		path string
		code int
	}{
		{"/api/v1/diff/10.0.0.7?from=2026-11-25T00:00:00Z&to=2026-11-27T00:00:00Z", 404},
		{"/api/v1/diff/10.0.0.7?from=2026-11-26T01:00:00Z&to=2026-11-27T00:00:00Z", 404},
		{"/api/v1/diff/10.0.0.8?from=2026-11-27T00:00:00Z&to=2026-11-27T01:00:00Z", 404},
		{"/api/v1/diff/10.0.0.7?from=2026-11-27T01:00:00Z&to=2026-11-27T00:00:00Z", 400},
		{"/api/v1/diff/10.0.0.7?from=yesterday&to=2026-11-27T00:00:00Z", 400},
		{"/api/v1/diff/10.0.0.7?to=2026-11-27T00:00:00Z", 400},
		{"/api/v1/diff/10.0.0.7?from=2026-11-27T00:00:00Z", 400},
		{"/api/v1/diff/10.0.0.7?from=2026-11-27T00:00:00Z&from=2026-11-27T00:00:00Z&to=2026-11-27T01:00:00Z", 400},
		{"/api/v1/diff/10.0.0.7?from=2026-11-27T00:00:00Z&to=2026-11-27T01:00:00Z&x=1", 400},
		{"/api/v1/diff/not-an-ip?from=2026-11-27T00:00:00Z&to=2026-11-27T01:00:00Z", 400},
	} {
		r := f.do(t, "GET", c.path, nil, nil)
		if r.code != c.code || r.env.Status != "error" {
			t.Errorf("%s: %d %s, want %d", c.path, r.code, r.body, c.code)
		}
	}
}
