package snapshot

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckRaw(t *testing.T) {
	good, err := json.Marshal(Snapshot{SchemaVersion: SchemaVersion, CollectedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"marshalled snapshot", string(good), true},
		{"version first", `{"schema_version":1,"processes":[{"pid":1}]}`, true},
		{"version after nested", `{"host":{"schema_version":7},"schema_version":1}`, true},
		{"surrounding space", " \n{\"schema_version\":1}\n", true},
		{"empty", ``, false},
		{"array", `[{"schema_version":1}]`, false},
		{"truncated", `{"schema_version":1,"host":{`, false},
		{"trailing garbage", `{"schema_version":1} {}`, false},
		{"html", `<html>502 Bad Gateway</html>`, false},
		{"no version", `{"host":{}}`, false},
		{"only nested version", `{"host":{"schema_version":1}}`, false},
		{"string version", `{"schema_version":"1"}`, false},
		{"fractional version", `{"schema_version":1.5}`, false},
		{"future version", `{"schema_version":99}`, false},
		{"zero version", `{"schema_version":0}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRaw([]byte(tt.raw))
			if (err == nil) != tt.ok {
				t.Fatalf("CheckRaw(%q) = %v, want ok=%v", tt.raw, err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrNotSnapshot) {
				t.Fatalf("error %v does not wrap ErrNotSnapshot", err)
			}
		})
	}
}

// seeds are the inputs where a hand-written scanner most easily departs
// from encoding/json; TestCheckRaw's cases are among them.
var seeds = []string{
	`{"schema_version":1,"processes":[{"pid":1}]}`,
	`{"host":{"schema_version":7},"schema_version":1}`,
	" \n{\"schema_version\":1}\n", "", `[{"schema_version":1}]`, `{"schema_version":1,"host":{`,
	`{"schema_version":1} {}`, `<html>502 Bad Gateway</html>`, `{"host":{}}`, `{"host":{"schema_version":1}}`,
	`{"schema_version":"1"}`, `{"schema_version":1.5}`, `{"schema_version":99}`, `{"schema_version":0}`,
	`{"schema_version":-1}`, `{"schema_version":1e0}`, `{"schema_version":01}`, `{"schema_version":1,"schema_version":2}`,
	`{"schema_version":2,"schema_version":1}`, `{"schema\u005fversion":1}`, `{"schema_version" : 1 }`,
	`{"a":"\u00e9\"\\\/\b\f\n\r\t","schema_version":1}`, `{"a":"\x","schema_version":1}`, `{"a":"\u12G4","schema_version":1}`,
	"{\"a\":\"tab\there\",\"schema_version\":1}", "{\"a\":\"\xff\xfe\",\"schema_version\":1}",
	`{"a":[1,-0,0.5,-1.5e10,1E+2,1e-2,true,false,null,{},[],""],"schema_version":1}`,
	`{"a":[1,],"schema_version":1}`, `{"a":-,"schema_version":1}`, `{"a":1.,"schema_version":1}`, `{"a":.5,"schema_version":1}`,
	`{"a":1e,"schema_version":1}`, `{"a":tru,"schema_version":1}`, `{"a":nulll,"schema_version":1}`, `{,"schema_version":1}`,
	`{"schema_version":1,}`, `{"schema_version":1`, `{"schema_version"1}`, `{"schema_version":}`, `{"a" "b"}`,
	"{\"schema_version\":1}\v", "\f{\"schema_version\":1}", `{"schema_version":1}]`, `{"a":{"b":[{"c":[]}]},"schema_version":1}`,
	`{"schema_version":99999999999999999999}`, `{"schema_version":true}`, `{"schema_version":null}`, `{"schema_version":[1]}`,
	`{"a":"0123456789abcdef\"0123456789abcdef","schema_version":1}`, `{"a":"\ud800","schema_version":1}`,
	`{"a":"` + strings.Repeat("é", 20) + `","schema_version":1}`,
	strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001),
	`{"schema_version":1,"x":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `}`,
	`{"schema_version":1,"x":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`,
}

// referenceCheck is the obviously correct check: encoding/json validates and
// a token scan finds schema_version. CheckRaw must agree with it always.
func referenceCheck(raw []byte) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) {
		return ErrNotSnapshot
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return ErrNotSnapshot
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ErrNotSnapshot
		}
		var val any
		if err := dec.Decode(&val); err != nil {
			return ErrNotSnapshot
		}
		if tok != "schema_version" {
			continue
		}
		n, ok := val.(json.Number)
		if !ok {
			return ErrNotSnapshot
		}
		v, err := n.Int64()
		if err != nil || v < 1 || v > SchemaVersion {
			return ErrNotSnapshot
		}
		return nil
	}
	return ErrNotSnapshot
}

func sameVerdict(t *testing.T, raw []byte) {
	t.Helper()
	want, got := referenceCheck(raw), CheckRaw(raw)
	if (want == nil) != (got == nil) {
		t.Fatalf("input %.200q: reference = %v, CheckRaw = %v", raw, want, got)
	}
}

func TestCheckRawAgreesWithEncodingJSON(t *testing.T) {
	for _, s := range seeds {
		sameVerdict(t, []byte(s))
	}
	s := Snapshot{SchemaVersion: SchemaVersion}
	for i := range 300 {
		s.Processes = append(s.Processes, Process{PID: int32(i), Name: "wörker\t", Cmdline: strings.Repeat("--flag=\"value\" ", 20)})
	}
	raw, _ := json.Marshal(s)
	for i := 0; i <= len(raw); i += 997 { // truncations land in every kind of token
		sameVerdict(t, raw[:i])
	}
	sameVerdict(t, raw)
}

func FuzzCheckRaw(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { sameVerdict(t, raw) })
}

func BenchmarkCheckRaw100KB(b *testing.B) {
	s := Snapshot{SchemaVersion: SchemaVersion}
	for i := range 300 {
		s.Processes = append(s.Processes, Process{PID: int32(i), Name: "worker", Cmdline: strings.Repeat("--flag=value ", 20)})
	}
	raw, _ := json.Marshal(s)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := CheckRaw(raw); err != nil {
			b.Fatal(err)
		}
	}
}
