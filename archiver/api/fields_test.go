package api

import "testing"

func TestDayTimesOnly(t *testing.T) {
	f := newFixture(t, nil)
	f.seed(t, "10.0.0.5", 3)
	r := f.do(t, "GET", "/api/v1/snapshots/10.0.0.5/2026-11-27?fields=scraped_at&from=2026-11-27T01:00:00Z", nil, nil)
	want := `[{"scraped_at":"2026-11-27T01:00:00Z"},{"scraped_at":"2026-11-27T02:00:00Z"}]`
	if r.code != 200 || string(r.env.Data) != want {
		t.Errorf("fields=scraped_at: %d %s, want data %s", r.code, r.body, want)
	}
	for _, q := range []string{"fields=snapshot", "fields=scraped_at&fields=scraped_at", "fields="} {
		if r := f.do(t, "GET", "/api/v1/snapshots/10.0.0.5/2026-11-27?"+q, nil, nil); r.code != 400 {
			t.Errorf("%s: %d, want 400", q, r.code)
		}
	}
}
