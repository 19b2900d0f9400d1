package intake

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func TestCheckRaw(t *testing.T) {
	good, err := json.Marshal(snapshot.Snapshot{SchemaVersion: snapshot.SchemaVersion, CollectedAt: time.Now()})
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

		// Text: UTF-8 as it is, escapes that decode to Unicode text.
		{"non-ASCII text", `{"schema_version":1,"a":"é 中文 🙂 \uFFFD","ключ":"значение"}`, true},
		{"literal U+FFFD", "{\"schema_version\":1,\"a\":\"\xef\xbf\xbd\"}", true},
		{"surrogate pair", `{"schema_version":1,"a":"\ud83d\ude42 \uD83D\uDE42"}`, true},
		{"escaped backslash before u", `{"schema_version":1,"a":"\\ud800"}`, true},
		{"invalid UTF-8 byte", "{\"schema_version\":1,\"a\":\"\xff\"}", false},
		{"invalid UTF-8 in key", "{\"schema_version\":1,\"\xfe\":1}", false},
		{"invalid UTF-8 nested", "{\"schema_version\":1,\"processes\":[{\"cmdline\":\"caf\xe9\"}]}", false},
		{"lone continuation byte", "{\"schema_version\":1,\"a\":\"\x80abcdefgh\"}", false},
		{"truncated sequence", "{\"schema_version\":1,\"a\":\"\xe2\x82\"}", false},
		{"overlong encoding", "{\"schema_version\":1,\"a\":\"\xc0\xaf\"}", false},
		{"UTF-8 encoded surrogate", "{\"schema_version\":1,\"a\":\"\xed\xa0\x80\"}", false},
		{"beyond U+10FFFF", "{\"schema_version\":1,\"a\":\"\xf4\x90\x80\x80\"}", false},
		{"lone high surrogate", `{"schema_version":1,"a":"\ud800"}`, false},
		{"lone low surrogate", `{"schema_version":1,"a":"x\udc00"}`, false},
		{"reversed pair", `{"schema_version":1,"a":"\ude42\ud83d"}`, false},
		{"high then high", `{"schema_version":1,"a":"\ud83d\ud83d"}`, false},
		{"high then text", `{"schema_version":1,"a":"\ud83dx\ude42"}`, false},
		{"high then other escape", `{"schema_version":1,"a":"\ud83d\n"}`, false},
		{"high at end", `{"schema_version":1,"a":"\ud83d"}`, false},
		{"lone surrogate in key", `{"schema_version":1,"\udfff":1}`, false},

		// Top-level keys are unique once unescaped; nested ones are not checked.
		{"duplicate version", `{"schema_version":1,"schema_version":1}`, false},
		{"duplicate version escaped", `{"schema_version":1,"schema\u005fversion":2}`, false},
		{"duplicate version both escaped", `{"\u0073chema_version":1,"schema\u005Fversion":1}`, false},
		{"duplicate other key", `{"host":{},"schema_version":1,"host":{}}`, false},
		{"duplicate empty key", `{"":1,"schema_version":1,"":2}`, false},
		{"duplicate among many keys", manyKeys(40, true), false},
		{"many distinct keys", manyKeys(40, false), true},
		{"same key at two levels", `{"host":{"host":1},"schema_version":1}`, true},
		{"duplicate nested key", `{"schema_version":1,"host":{"a":1,"a":2}}`, true},
		{"keys differing in escapes only", `{"schema_version":1,"a\/b":1,"a/b\u0000":2}`, true},
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

// manyKeys is a snapshot with n top-level keys, past what CheckRaw
// compares one by one, whose last key repeats the first when dup is set.
func manyKeys(n int, dup bool) string {
	var b strings.Builder
	b.WriteString(`{"schema_version":1`)
	for i := range n {
		fmt.Fprintf(&b, `,"k%d":%d`, i, i)
	}
	if dup {
		b.WriteString(`,"k\u0030":0`)
	}
	b.WriteString(`}`)
	return b.String()
}

func TestCheckRawSaysWhy(t *testing.T) {
	for raw, want := range map[string]string{
		"\n {\"schema_version\":1,\"a\":\"\xff\"}":                "invalid UTF-8 at byte 27",
		`{"schema_version":1,"a":"x\ud800"}`:                      "lone UTF-16 surrogate escape at byte 26",
		`{"schema_version":1,"schema\u005fversion":1}`:            `duplicate top-level key "schema_version" at byte 20`,
		`{"schema_version":1,"a":` + strings.Repeat("[", 3) + `}`: "invalid JSON",
	} {
		err := CheckRaw([]byte(raw))
		if err == nil || !strings.HasSuffix(err.Error(), ": "+want) {
			t.Errorf("CheckRaw(%q) = %v, want an error ending in %q", raw, err, want)
		}
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
	`{"a":"\ud83d\ude42","schema_version":1}`, `{"a":"\ude42\ud83d","schema_version":1}`, `{"a":"\ud83d\u0041","schema_version":1}`,
	`{"a":"\\ud800","schema_version":1}`, `{"a":"\ud83d`, "{\"a\":\"\xe2\x82\",\"schema_version\":1}", "{\"\xed\xa0\x80\":1,\"schema_version\":1}",
	`{"schema_version":1,"schema\u005Fversion":1}`, `{"a":1,"schema_version":1,"a":2}`, `{"a":{"b":1,"b":2},"schema_version":1}`,
	manyKeys(20, true), manyKeys(20, false),
	strings.Repeat(`{"a":`, 10001) + `1` + strings.Repeat(`}`, 10001),
	`{"schema_version":1,"x":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `}`,
	`{"schema_version":1,"x":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`,
}

// referenceCheck is the obviously correct check: encoding/json validates
// the syntax, utf8.Valid the encoding, a regexp finds lone surrogate
// escapes, and a token scan finds duplicate keys and schema_version.
// CheckRaw must agree with it always.
func referenceCheck(raw []byte) error {
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(trimmed) || !utf8.Valid(trimmed) || hasLoneSurrogate(trimmed) {
		return ErrNotSnapshot
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return ErrNotSnapshot
	}
	seen := map[string]bool{}
	var version any
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return ErrNotSnapshot
		}
		key := tok.(string)
		if seen[key] {
			return ErrNotSnapshot
		}
		seen[key] = true
		var val any
		if err := dec.Decode(&val); err != nil {
			return ErrNotSnapshot
		}
		if key == "schema_version" {
			version = val
		}
	}
	n, ok := version.(json.Number)
	if !ok {
		return ErrNotSnapshot
	}
	v, err := n.Int64()
	if err != nil || v < 1 || v > snapshot.SchemaVersion {
		return ErrNotSnapshot
	}
	return nil
}

// escapes matches, left to right, every escape of a valid JSON document
// (all its backslashes are in strings and start one): a surrogate pair, a
// surrogate on its own, or any other escape, which is consumed so that
// \\ud800 is not mistaken for one.
var escapes = regexp.MustCompile(`\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|\\u[dD][89a-fA-F][0-9a-fA-F]{2}|\\.`)

func hasLoneSurrogate(doc []byte) bool {
	for _, m := range escapes.FindAll(doc, -1) {
		if len(m) == len(`\ud800`) {
			return true
		}
	}
	return false
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
	s := snapshot.Snapshot{SchemaVersion: snapshot.SchemaVersion}
	for i := range 300 {
		s.Processes = append(s.Processes, snapshot.Process{PID: int32(i), Name: "wörker\t", Cmdline: strings.Repeat("--flag=\"value\" ", 20)})
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
	s := snapshot.Snapshot{SchemaVersion: snapshot.SchemaVersion}
	for i := range 300 {
		s.Processes = append(s.Processes, snapshot.Process{PID: int32(i), Name: "worker", Cmdline: strings.Repeat("--flag=value ", 20)})
	}
	raw, _ := json.Marshal(s)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := CheckRaw(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckRawNonASCII prices the UTF-8 check on a snapshot whose
// command lines are mostly not ASCII (paths and arguments in Cyrillic).
func BenchmarkCheckRawNonASCII(b *testing.B) {
	s := snapshot.Snapshot{SchemaVersion: snapshot.SchemaVersion}
	for i := range 300 {
		s.Processes = append(s.Processes, snapshot.Process{PID: int32(i), Name: "обработчик", Cmdline: strings.Repeat("--флаг=значение ", 20)})
	}
	raw, _ := json.Marshal(s)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if err := CheckRaw(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTwoByteRunes compares twoByteRunes with utf8 on eight bytes made of
// two-byte candidates, each lead and second byte taken from its edges.
func TestTwoByteRunes(t *testing.T) {
	leads := []byte{0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc2, 0xd0, 0xdf, 0xe0, 0xf0}
	seconds := []byte{0x00, 0x7f, 0x80, 0xbf, 0xc0, 0xff}
	var b [8]byte
	for i := range 4 {
		for _, l := range leads {
			for _, s := range seconds {
				for j := range 4 {
					b[2*j], b[2*j+1] = 0xd0, 0xb0 // "а"
				}
				b[2*i], b[2*i+1] = l, s
				want := utf8.Valid(b[:]) && utf8.RuneCount(b[:]) == 4
				if got := twoByteRunes(binary.LittleEndian.Uint64(b[:])); got != want {
					t.Fatalf("twoByteRunes(% x) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// TestRuneLen compares runeLen with utf8.DecodeRune on every lead byte,
// alone and followed by every second byte and a few tails.
func TestRuneLen(t *testing.T) {
	for c0 := 0x80; c0 <= 0xff; c0++ {
		if runeLen([]byte{byte(c0)}, 0) != 0 {
			t.Fatalf("runeLen(%#x alone) != 0", c0)
		}
		for c1 := 0; c1 <= 0xff; c1++ {
			for _, tail := range []string{"", "\x80", "\xbf", "\x80\x80", "\xbf\xbf", "\x7f\x80", "\x80\xc0", "x"} {
				b := append([]byte{byte(c0), byte(c1)}, tail...)
				r, size := utf8.DecodeRune(b)
				want := size
				if r == utf8.RuneError && size == 1 {
					want = 0
				}
				if got := runeLen(b, 0); got != want {
					t.Fatalf("runeLen(%q) = %d, want %d", b, got, want)
				}
			}
		}
	}
}
