package collector

import (
	"errors"
	"testing"
	"time"
)

func TestSIDCache(t *testing.T) {
	accounts := map[string]string{"S-1-5-18": `NT AUTHORITY\SYSTEM`, "S-1-5-21-1-2-3-1001": `HOST\alice`}
	calls := map[string]int{}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c := newSIDCache(func(sid string) (string, error) {
		calls[sid]++
		if n, ok := accounts[sid]; ok {
			return n, nil
		}
		return "", errors.New("none mapped")
	})
	c.now = func() time.Time { return now }

	steps := []struct {
		name      string
		advance   time.Duration
		sid       string
		want      string
		wantCalls int
	}{
		{"first lookup asks", 0, "S-1-5-18", `NT AUTHORITY\SYSTEM`, 1},
		{"second is cached", 0, "S-1-5-18", `NT AUTHORITY\SYSTEM`, 1},
		{"success never expires", 24 * time.Hour, "S-1-5-18", `NT AUTHORITY\SYSTEM`, 1},
		{"unknown shows the SID", 0, "S-1-5-21-9-9-9-500", "S-1-5-21-9-9-9-500", 1},
		{"failure is cached", time.Minute, "S-1-5-21-9-9-9-500", "S-1-5-21-9-9-9-500", 1},
		{"failure is retried later", 10 * time.Minute, "S-1-5-21-9-9-9-500", "S-1-5-21-9-9-9-500", 2},
		{"empty SID", 0, "", "", 0},
		{"other account", 0, "S-1-5-21-1-2-3-1001", `HOST\alice`, 1},
	}
	for _, s := range steps {
		now = now.Add(s.advance)
		if got := c.name(s.sid); got != s.want {
			t.Errorf("%s: name(%q) = %q, want %q", s.name, s.sid, got, s.want)
		}
		if calls[s.sid] != s.wantCalls {
			t.Errorf("%s: %d lookups of %q, want %d", s.name, calls[s.sid], s.sid, s.wantCalls)
		}
	}
}

func TestSIDCacheBounded(t *testing.T) {
	c := newSIDCache(func(sid string) (string, error) { return "n" + sid, nil })
	c.max = 3
	for _, sid := range []string{"a", "b", "c", "d", "e"} {
		c.name(sid)
		if len(c.names) > c.max {
			t.Fatalf("cache holds %d entries, max %d", len(c.names), c.max)
		}
	}
	if got := c.name("e"); got != "ne" {
		t.Errorf("name after eviction = %q", got)
	}
}
