package snapshot

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestAgeHeader(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	set := []struct {
		name      string
		collected time.Time
		want      string
	}{
		{"ninety minutes", now.Add(-90 * time.Minute), "5400.000"},
		{"milliseconds kept", now.Add(-1234567 * time.Microsecond), "1.235"},
		{"clock stepped back", now.Add(time.Minute), "0.000"},
		{"older than any spool", now.Add(-30 * 24 * time.Hour), "604800.000"},
	}
	for _, tc := range set {
		h := http.Header{}
		SetAge(h, tc.collected, now)
		if got := h.Get(AgeHeader); got != tc.want {
			t.Errorf("%s: %s = %q, want %q", tc.name, AgeHeader, got, tc.want)
		}
	}

	parse := []struct {
		value   string
		want    time.Duration
		ok, bad bool
	}{
		{"", 0, false, false},
		{"5400.000", 90 * time.Minute, true, false},
		{"0.25", 250 * time.Millisecond, true, false},
		{"0", 0, true, false},
		{"-1", 0, false, true},
		{"NaN", 0, false, true},
		{"Inf", 0, false, true},
		{"604801", 0, false, true},
		{"1e400", 0, false, true},
		{"an hour", 0, false, true},
	}
	for _, tc := range parse {
		h := http.Header{}
		if tc.value != "" {
			h.Set(AgeHeader, tc.value)
		}
		got, ok, err := ParseAge(h)
		if got != tc.want || ok != tc.ok || (err != nil) != tc.bad {
			t.Errorf("ParseAge(%q) = %v, %v, %v; want %v, %v, error %v", tc.value, got, ok, err, tc.want, tc.ok, tc.bad)
		}
	}
}

func TestCollectedAt(t *testing.T) {
	at := time.Date(2026, 12, 3, 11, 59, 58, 123456789, time.UTC)
	real, err := json.Marshal(Snapshot{SchemaVersion: SchemaVersion, CollectedAt: at, Users: []User{}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		in   string
		want time.Time
		ok   bool
	}{
		{"as the agent writes it", string(real), at, true},
		{"after other keys", `{"x":{"a":[1,2]},"collected_at":"2026-12-03T11:59:58.123456789Z"}`, at, true},
		{"none", `{"schema_version":1}`, time.Time{}, false},
		{"not a time", `{"collected_at":"yesterday"}`, time.Time{}, false},
		{"zero", `{"collected_at":"0001-01-01T00:00:00Z"}`, time.Time{}, false},
		{"not an object", `[1,2]`, time.Time{}, false},
		{"truncated", `{"schema_version":1,"coll`, time.Time{}, false},
	}
	for _, tc := range cases {
		got, ok := CollectedAt([]byte(tc.in))
		if !got.Equal(tc.want) || ok != tc.ok {
			t.Errorf("%s: CollectedAt = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}
