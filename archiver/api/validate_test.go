package api

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

// TestPushRefusesWhatStrictReadersCannotRead checks that a push whose body
// is JSON to encoding/json but would make the day unreadable to a strict
// reader (invalid UTF-8, a lone surrogate escape, a top-level key twice) is
// answered 400 and leaves nothing in the store, plain or compressed.
func TestPushRefusesWhatStrictReadersCannotRead(t *testing.T) {
	auth := map[string]string{"Authorization": "Bearer " + writeToken}
	gzAuth := map[string]string{"Authorization": "Bearer " + writeToken, "Content-Encoding": "gzip"}
	invalidUTF8 := []byte("{\"schema_version\":1,\"processes\":[{\"pid\":1,\"cmdline\":\"caf\xe9 --x\"}]}")
	tests := []struct {
		name    string
		body    []byte
		hdr     map[string]string
		errPart string
	}{
		{"invalid UTF-8", invalidUTF8, auth, "invalid UTF-8"},
		{"invalid UTF-8 gzipped", gz(invalidUTF8), gzAuth, "invalid UTF-8"},
		{"invalid UTF-8 in a key", []byte("{\"schema_version\":1,\"h\xc3\":1}"), auth, "invalid UTF-8"},
		{"lone surrogate", []byte(`{"schema_version":1,"host":{"hostname":"\ud800"}}`), auth, "surrogate"},
		{"duplicate schema_version", []byte(`{"schema_version":1,"schema\u005fversion":1}`), auth, "duplicate top-level key"},
		{"duplicate section", []byte(`{"schema_version":1,"users":[],"users":null}`), auth, "duplicate top-level key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader(tc.body), tc.hdr)
			if r.code != 400 || r.env.Status != "error" || !strings.Contains(r.env.Error, tc.errPart) {
				t.Fatalf("code %d, body %s; want 400 with an error naming %q", r.code, r.body, tc.errPart)
			}
			if got := f.counter(t, "archiver_push_requests_total", map[string]string{"result": "bad_request"}); got != 1 {
				t.Errorf("push_requests_total{result=\"bad_request\"} = %v, want 1", got)
			}
			files, err := f.store.Files(netip.Addr{})
			if err != nil {
				t.Fatal(err)
			}
			if len(files) != 0 {
				t.Fatalf("stored %+v, want nothing", files)
			}
		})
	}
}

// TestPushKeepsText checks the other side: text that is not ASCII, written
// as UTF-8 or as escapes (a surrogate pair included), is stored verbatim.
func TestPushKeepsText(t *testing.T) {
	f := newFixture(t, nil)
	body := []byte(`{"schema_version":1,"host":{"hostname":"сервер-é"},"processes":[{"pid":1,"cmdline":"echo 🙂 \ud83d\ude42 \u00e9"}]}`)
	r := f.do(t, "POST", "/api/v1/snapshots", bytes.NewReader(body), map[string]string{"Authorization": "Bearer " + writeToken})
	if r.code != 200 {
		t.Fatalf("code %d: %s", r.code, r.body)
	}
	line, err := f.store.Latest(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(line, body) {
		t.Errorf("snapshot not stored verbatim: %s", line)
	}
}
