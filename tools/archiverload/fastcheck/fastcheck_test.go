package fastcheck

import (
	"compress/gzip"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/prexmon/prexmon/exporter/snapshot"
	"github.com/prexmon/prexmon/tools/fakeagent/agent"
)

// seeds are the inputs where a hand-written scanner most easily departs
// from encoding/json; CheckRaw's own cases are among them.
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

func sameVerdict(t *testing.T, raw []byte) {
	t.Helper()
	want, got := snapshot.CheckRaw(raw), CheckRaw(raw)
	if (want == nil) != (got == nil) {
		t.Fatalf("input %.200q: snapshot.CheckRaw = %v, fastcheck.CheckRaw = %v", raw, want, got)
	}
}

func TestAgreesWithCheckRaw(t *testing.T) {
	for _, s := range seeds {
		sameVerdict(t, []byte(s))
	}
	good, err := json.Marshal(snapshot.Snapshot{SchemaVersion: snapshot.SchemaVersion, CollectedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	sameVerdict(t, good)
	body, err := agent.Encode(3, time.Now(), gzip.BestSpeed)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckRaw(body.JSON); err != nil {
		t.Fatalf("realistic snapshot rejected: %v", err)
	}
	// Every truncation of a real body is invalid, and both must say so.
	for n := 1; n < len(body.JSON); n += 997 {
		sameVerdict(t, body.JSON[:n])
	}
}

func FuzzAgreesWithCheckRaw(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) { sameVerdict(t, raw) })
}

func benchBody(b *testing.B) []byte {
	body, err := agent.Encode(3, time.Now(), gzip.BestSpeed)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(body.JSON)))
	return body.JSON
}

func BenchmarkFastCheck(b *testing.B) {
	raw := benchBody(b)
	for b.Loop() {
		if err := CheckRaw(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSnapshotCheckRaw(b *testing.B) {
	raw := benchBody(b)
	for b.Loop() {
		if err := snapshot.CheckRaw(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONValid(b *testing.B) {
	raw := benchBody(b)
	for b.Loop() {
		if !json.Valid(raw) {
			b.Fatal("invalid")
		}
	}
}
