package intake

import "testing"

func TestCollectedAtRaw(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`{"schema_version":1,"collected_at":"2026-12-03T07:00:00.123Z","host":{}}`, "2026-12-03T07:00:00.123Z", true},
		{` { "a" : [1, {"collected_at":"inner"}, "x\"y"] , "b": {"c": null}, "n": -1.5e3 , "collected_at" : "t\"1" } `, `t\"1`, true},
		{`{"collected_at":"first","collected_at":"second"}`, "first", true},
		{`{"schema_version":1}`, "", false},
		{`{"collected_at":12}`, "", false},
		{`{}`, "", false},
		{`[]`, "", false},
		{`{"a":"unterminated`, "", false},
		{`{"a":1 "collected_at":"x"}`, "", false},
	} {
		got, ok := CollectedAtRaw([]byte(tc.in))
		if ok != tc.ok || string(got) != tc.want {
			t.Errorf("CollectedAtRaw(%s) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzCollectedAtRaw(f *testing.F) {
	f.Add([]byte(`{"schema_version":1,"collected_at":"2026-12-03T07:00:00Z"}`))
	f.Add([]byte(`{"a":[{"b":"\\"}],"collected_at":"x"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		CollectedAtRaw(b) // must not panic
	})
}

func TestTopLevelValue(t *testing.T) {
	line := `{"ip":"10.0.0.1","target":"","labels":{"snapshot":"x","a":"}"},"scraped_at":"2026-12-03T07:00:00Z","snapshot":{"schema_version":1,"collected_at":"c1"}}`
	v, ok := TopLevelValue([]byte(line), "snapshot")
	if !ok || string(v) != `{"schema_version":1,"collected_at":"c1"}` {
		t.Fatalf("snapshot of a stored line: %q, %v", v, ok)
	}
	if at, ok := CollectedAtRaw(v); !ok || string(at) != "c1" {
		t.Fatalf("collected_at: %q, %v", at, ok)
	}
	for in, want := range map[string]string{
		`{"k": 12 , "x":1}`:      "12",
		`{"k":[1,[2]],"x":1}`:    "[1,[2]]",
		`{"k":null}`:             "null",
		`{"a":{"k":1},"k":true}`: "true",
	} {
		v, _ := TopLevelValue([]byte(in), "k")
		if string(v) != want {
			t.Errorf("TopLevelValue(%s) = %q, want %q", in, v, want)
		}
	}
}
