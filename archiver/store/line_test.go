package store

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestAppendJSONString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", `"plain"`},
		{`q"b\s`, `"q\"b\\s"`},
		{"nl\nret\rtab\t", `"nl\nret\rtab\t"`},
		{"\x00\x1f\x7f", `"\u0000\u001f\u007f"`},
		{"é€😀", `"é€😀"`},
		{"bad\xffutf8", `"bad\ufffdutf8"`},
		{"ls\u2028ps\u2029", `"ls\u2028ps\u2029"`},
		{"<html>&", `"<html>&"`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			got := string(appendJSONString(nil, tc.in))
			if got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
			var back string
			if err := json.Unmarshal([]byte(got), &back); err != nil {
				t.Fatalf("not JSON: %v", err)
			}
			if utf8.ValidString(tc.in) && back != tc.in {
				t.Fatalf("round trip %q, want %q", back, tc.in)
			}
		})
	}
}

func TestAppendLine(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.FixedZone("X", 3600))
	tests := []struct {
		name     string
		snapshot string
		want     string // the snapshot part as stored
	}{
		{"verbatim", `{"schema_version":1, "b" : [1, 2]}`, `{"schema_version":1, "b" : [1, 2]}`},
		{"trimmed", " \t{\"schema_version\":1}\r\n", `{"schema_version":1}`},
		{"pretty printed", "{\n  \"schema_version\": 1,\n  \"s\": \"a\\nb\"\n}", `{"schema_version":1,"s":"a\nb"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Record{IP: netip.MustParseAddr("10.0.0.5"), Target: "h:1", Labels: map[string]string{"z": "1", "a": "2"}, ScrapedAt: at.UTC(), Snapshot: []byte(tc.snapshot)}
			line, err := appendLine(nil, &r)
			if err != nil {
				t.Fatal(err)
			}
			want := `{"ip":"10.0.0.5","target":"h:1","labels":{"a":"2","z":"1"},"scraped_at":"2026-11-27T09:00:00.123456789Z","snapshot":` + tc.want + "}\n"
			if string(line) != want {
				t.Fatalf("got  %s\nwant %s", line, want)
			}
			if got, ok := lineTime(line); !ok || !got.Equal(at) {
				t.Fatalf("lineTime = %v, %v", got, ok)
			}
		})
	}
}

func TestLineTime(t *testing.T) {
	want := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		line string
		ok   bool
	}{
		{"ours", `{"ip":"1.2.3.4","target":"","labels":{},"scraped_at":"2026-11-27T09:00:00Z","snapshot":{}}`, true},
		{"label named scraped_at", `{"ip":"1.2.3.4","target":"","labels":{"scraped_at":"1999-01-01T00:00:00Z"},"scraped_at":"2026-11-27T09:00:00Z","snapshot":{}}`, true},
		{"escaped quotes in target", `{"ip":"1.2.3.4","target":"a\",\"scraped_at\":\"1999-01-01T00:00:00Z","labels":{},"scraped_at":"2026-11-27T09:00:00Z","snapshot":{}}`, true},
		{"spaces", `{ "scraped_at" : "2026-11-27T09:00:00Z" }`, true},
		{"after snapshot is ignored", `{"snapshot":{"scraped_at":"2026-11-27T09:00:00Z"},"scraped_at":"2026-11-27T09:00:00Z"}`, false},
		{"missing", `{"ip":"1.2.3.4"}`, false},
		{"not a string", `{"scraped_at":12}`, false},
		{"bad time", `{"scraped_at":"yesterday"}`, false},
		{"garbage", `not json`, false},
		{"unterminated", `{"scraped_at":"2026-11-27T09:00:`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := lineTime([]byte(tc.line))
			if ok != tc.ok || (ok && !got.Equal(want)) {
				t.Fatalf("lineTime = %v, %v; want %v", got, ok, tc.ok)
			}
		})
	}
}

// FuzzAppendLine checks that whatever target, labels and (object) snapshot
// come in, the result is exactly one line of valid JSON carrying them.
func FuzzAppendLine(f *testing.F) {
	f.Add("10.0.0.5:9110", "env", "prod", []byte(`{"schema_version":1}`), int64(0))
	f.Add("a\"b\n", "k\x00", "\xff", []byte("{\n\"a\" : \"x\\ny\"\n}"), int64(1764236400123456789))
	f.Add("", "", "", []byte(`{}`), int64(-1))
	f.Fuzz(func(t *testing.T, target, key, value string, snapshot []byte, nanos int64) {
		r := Record{IP: netip.MustParseAddr("2001:db8::1"), Target: target, Labels: map[string]string{key: value}, ScrapedAt: time.Unix(0, nanos).UTC(), Snapshot: snapshot}
		line, err := appendLine(nil, &r)
		if err != nil {
			return // not an object; CheckRaw would have refused it first
		}
		if bytes.IndexByte(line, '\n') != len(line)-1 {
			t.Fatalf("line has inner newlines: %q", line)
		}
		if !json.Valid(snapshot) {
			return // garbage that happened to look like an object: not our contract
		}
		var got struct {
			Target    string            `json:"target"`
			Labels    map[string]string `json:"labels"`
			ScrapedAt time.Time         `json:"scraped_at"`
			Snapshot  json.RawMessage   `json:"snapshot"`
		}
		if err := json.Unmarshal(line, &got); err != nil {
			t.Fatalf("invalid line %q: %v", line, err)
		}
		if utf8.ValidString(target) && got.Target != target {
			t.Fatalf("target %q, want %q", got.Target, target)
		}
		if utf8.ValidString(key) && utf8.ValidString(value) && got.Labels[key] != value {
			t.Fatalf("labels %q", got.Labels)
		}
		if ts, ok := lineTime(line); !ok || !ts.Equal(r.ScrapedAt) {
			t.Fatalf("lineTime %v %v, want %v", ts, ok, r.ScrapedAt)
		}
		if !strings.Contains(string(snapshot), "\n") && !strings.Contains(string(snapshot), "\r") && !bytes.Equal(got.Snapshot, bytes.TrimSpace(snapshot)) {
			t.Fatalf("snapshot not verbatim: %s", got.Snapshot)
		}
	})
}
