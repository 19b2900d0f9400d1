package snapshot

import (
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
