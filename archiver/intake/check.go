// Package intake is what the archiver does to a body an agent sent, before
// storing it verbatim: decode its content coding within a size limit
// (Decode), check that it is one snapshot a strict reader can read
// (CheckRaw), and read the few top-level values it needs without decoding
// the rest (CollectedAtRaw, TopLevelValue).
package intake

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// ErrNotSnapshot is wrapped by CheckRaw's errors so callers can count
// garbage separately from transport failures.
var ErrNotSnapshot = errors.New("not a snapshot")

// maxDepth matches encoding/json's nesting limit, so both accept the same
// documents.
const maxDepth = 10000

// CheckRaw reports whether raw is one valid JSON object carrying a
// schema_version this build understands. It does not decode the snapshot:
// the archiver stores the agent's bytes verbatim and must not pay for a
// decode and re-encode of every 100 KB body. One pass both validates the
// syntax and finds the top-level schema_version, scanning string contents
// eight bytes at a time: 3-4x faster than json.Valid, which was a third of
// the archiver's CPU at 1,000 scrapes/s.
//
// It accepts what encoding/json accepts (the tests check this by fuzzing
// against it) less what would make a stored day unreadable to a strict
// reader, following I-JSON (RFC 7493): invalid UTF-8, which encoding/json
// silently turns into U+FFFD; a \u escape of a lone UTF-16 surrogate
// (\ud800 not followed by a low surrogate), which encoding/json also turns
// into U+FFFD but Rust's serde_json and Python's pydantic refuse; and
// a top-level key given twice, compared after unescaping, where readers
// disagree on which value counts. Duplicate keys inside nested objects are
// still accepted: checking every object would cost more than the rest of
// the scan.
func CheckRaw(raw []byte) error {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("%w: body is not a JSON object", ErrNotSnapshot)
	}
	s := scanner{b: b}
	if !s.document() {
		if s.err != "" {
			lead := len(raw) - len(bytes.TrimLeftFunc(raw, unicode.IsSpace))
			return fmt.Errorf("%w: %s at byte %d", ErrNotSnapshot, s.err, lead+s.errAt)
		}
		return fmt.Errorf("%w: invalid JSON", ErrNotSnapshot)
	}
	if s.version == nil {
		return fmt.Errorf("%w: no schema_version", ErrNotSnapshot)
	}
	v, err := parseVersion(s.version)
	if err != nil {
		return err
	}
	if v < 1 || v > snapshot.SchemaVersion {
		return fmt.Errorf("%w: unsupported schema_version %d (this build reads 1..%d)", ErrNotSnapshot, v, snapshot.SchemaVersion)
	}
	return nil
}

func parseVersion(tok []byte) (int64, error) {
	switch tok[0] {
	case '"', '{', '[', 't', 'f', 'n':
		return 0, fmt.Errorf("%w: schema_version is not a number", ErrNotSnapshot)
	}
	v, err := strconv.ParseInt(string(tok), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: schema_version %q is not an integer", ErrNotSnapshot, tok)
	}
	return v, nil
}

// scanner validates b; version is the raw token of the top-level
// schema_version value.
type scanner struct {
	b       []byte
	i       int
	version []byte
	stack   []byte // '{' or '[' per open container
	keys    keySet // top-level keys, unescaped
	err     string // why the scan failed, where it is more than a syntax error
	errAt   int
}

func (s *scanner) fail(at int, why string) bool {
	s.err, s.errAt = why, at
	return false
}

// keySet holds the top-level keys seen so far. A snapshot has a dozen: a
// linear search over them allocates nothing and beats a map, which takes
// over past len(small) so that a hostile body with a million keys cannot
// make the check quadratic.
type keySet struct {
	n     int
	small [16][]byte
	big   map[string]struct{}
}

// add adds key and reports whether it was new.
func (k *keySet) add(key []byte) bool {
	if k.big != nil {
		if _, dup := k.big[string(key)]; dup {
			return false
		}
		k.big[string(key)] = struct{}{}
		return true
	}
	for _, s := range k.small[:k.n] {
		if bytes.Equal(s, key) {
			return false
		}
	}
	if k.n < len(k.small) {
		k.small[k.n] = key
		k.n++
		return true
	}
	k.big = make(map[string]struct{}, 4*len(k.small))
	for _, s := range k.small {
		k.big[string(s)] = struct{}{}
	}
	k.big[string(key)] = struct{}{}
	return true
}

// ws skips whitespace. The check for a byte above ' ' comes first and is
// inlined at every call: compact JSON, what agents send, has none.
func (s *scanner) ws() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	s.skipSpace()
}

func (s *scanner) skipSpace() {
	b, i := s.b, s.i
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			s.i = i
			return
		}
	}
	s.i = i
}

// document scans one value and then only whitespace, iteratively so that
// deep nesting costs a byte of stack, not a goroutine stack frame.
func (s *scanner) document() bool {
	s.ws()
	for {
		// A value is expected at s.i.
		if s.i >= len(s.b) {
			return false
		}
		switch c := s.b[s.i]; c {
		case '{', '[':
			if len(s.stack) >= maxDepth {
				return false
			}
			s.i++
			s.ws()
			if s.i < len(s.b) && s.b[s.i] == c+2 { // '}' or ']'
				s.i++
				break
			}
			s.stack = append(s.stack, c)
			if c == '{' {
				if !s.key() {
					return false
				}
			}
			continue
		case '"':
			if !s.str() {
				return false
			}
		case 't':
			if !s.lit("true") {
				return false
			}
		case 'f':
			if !s.lit("false") {
				return false
			}
		case 'n':
			if !s.lit("null") {
				return false
			}
		default:
			if !s.number() {
				return false
			}
		}
		// After a value: close containers or move to the next element.
		for {
			s.ws()
			if len(s.stack) == 0 {
				return s.i == len(s.b)
			}
			if s.i >= len(s.b) {
				return false
			}
			top := s.stack[len(s.stack)-1]
			c := s.b[s.i]
			if c == top+2 {
				s.i++
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			if c != ',' {
				return false
			}
			s.i++
			s.ws()
			if top == '{' && !s.key() {
				return false
			}
			break
		}
	}
}

// key scans `"name" :` and leaves s.i at the value; at depth one it
// refuses a key seen before and remembers where schema_version's value
// starts.
func (s *scanner) key() bool {
	start := s.i
	if s.i >= len(s.b) || s.b[s.i] != '"' || !s.str() {
		return false
	}
	top := len(s.stack) == 1
	var isVersion bool
	if top {
		name := unquote(s.b[start:s.i])
		if !s.keys.add(name) {
			return s.fail(start, fmt.Sprintf("duplicate top-level key %.64q", name))
		}
		isVersion = string(name) == "schema_version"
	}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != ':' {
		return false
	}
	s.i++
	s.ws()
	if isVersion {
		end := s.i
		if end < len(s.b) && (s.b[end] == '-' || (s.b[end] >= '0' && s.b[end] <= '9')) {
			for end < len(s.b) && bytes.IndexByte([]byte("+-.eE0123456789"), s.b[end]) >= 0 {
				end++
			}
		} else {
			end = min(end+1, len(s.b))
		}
		s.version = s.b[s.i:end]
	}
	return true
}

// unquote returns the text of a string token that str has accepted: its
// bytes between the quotes when it has no escapes, as keys almost never
// do, and otherwise what encoding/json decodes it to, which is exact here
// because str refused invalid UTF-8 and lone surrogates.
func unquote(quoted []byte) []byte {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	var k string
	if json.Unmarshal(quoted, &k) != nil {
		return inner // not reached: str validated the token
	}
	return []byte(k)
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special has a high bit in each byte of x that is '"', '\\', a control
// character or not ASCII: the only bytes that end a run of plain string
// content.
func special(x uint64) uint64 {
	quote := x ^ (ones * '"')
	slash := x ^ (ones * '\\')
	return ((x - ones*0x20) | (quote - ones) | (slash - ones) | x) & highs
}

// str scans a string starting at its opening quote.
func (s *scanner) str() bool {
	i := s.i + 1
	b := s.b
	for {
		for i+8 <= len(b) {
			m := special(binary.LittleEndian.Uint64(b[i:]))
			if m != 0 {
				// Borrows only run upwards, so the lowest flagged byte
				// is a real one.
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '"':
			s.i = i + 1
			return true
		case c == '\\':
			if i+1 >= len(b) {
				return false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				r, ok := hex4(b, i+2)
				if !ok {
					return false
				}
				if r&0xf800 == 0xd800 {
					// A surrogate is only text as the high half of a
					// pair whose low half is escaped right after it.
					lo, ok := hex4(b, i+8)
					if r >= 0xdc00 || i+8 > len(b) || b[i+6] != '\\' || b[i+7] != 'u' || !ok || lo&0xfc00 != 0xdc00 {
						return s.fail(i, "lone UTF-16 surrogate escape")
					}
					i += 6
				}
				i += 6
			default:
				return false
			}
		case c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			// Non-ASCII text comes in runs (a name in Cyrillic), so
			// stay here until the run ends.
			for i < len(b) && b[i] >= utf8.RuneSelf {
				// Two-byte sequences (Latin, Greek, Cyrillic...) are
				// checked inline, four at a time where they run on.
				if i+8 <= len(b) && twoByteRunes(binary.LittleEndian.Uint64(b[i:])) {
					i += 8
					continue
				}
				if b[i]-0xc2 < 0xe0-0xc2 && i+1 < len(b) && b[i+1]&0xc0 == 0x80 {
					i += 2
					continue
				}
				n := runeLen(b, i)
				if n == 0 {
					return s.fail(i, "invalid UTF-8")
				}
				i += n
			}
		default:
			i++
		}
	}
}

// twoByteRunes reports whether the eight bytes of x (first byte lowest)
// are four valid two-byte UTF-8 sequences: each lead 110xxxxx and not the
// overlong C0 or C1, each second byte 10xxxxxx.
func twoByteRunes(x uint64) bool {
	const (
		mask = 0xc0e0c0e0c0e0c0e0
		want = 0x80c080c080c080c0
		lead = 0x001e001e001e001e // a lead with none of these bits is C0 or C1
	)
	// Adding 0x7fff to each 16-bit lane of x&lead (at most 0x1e, so no
	// carry leaves the lane) sets the lane's top bit exactly when the
	// lane is not zero.
	return x&mask == want && (x&lead+0x7fff7fff7fff7fff)&0x8000800080008000 == 0x8000800080008000
}

// runeLen returns the length of the valid UTF-8 sequence of two to four
// bytes at b[i], or 0: what utf8.DecodeRune checks (no overlong forms, no
// surrogates, nothing past U+10FFFF) without building the rune, which
// makes text that is mostly not ASCII scan twice as fast.
func runeLen(b []byte, i int) int {
	c := b[i]
	switch {
	case c < 0xc2 || c > 0xf4:
		return 0
	case c < 0xe0:
		if i+1 < len(b) && b[i+1]&0xc0 == 0x80 {
			return 2
		}
		return 0
	}
	// The second byte's range depends on the first; the rest are any
	// continuation byte.
	lo, hi := byte(0x80), byte(0xbf)
	switch c {
	case 0xe0:
		lo = 0xa0
	case 0xed:
		hi = 0x9f
	case 0xf0:
		lo = 0x90
	case 0xf4:
		hi = 0x8f
	}
	n := 3
	if c >= 0xf0 {
		n = 4
	}
	if i+n > len(b) || b[i+1] < lo || b[i+1] > hi || b[i+2]&0xc0 != 0x80 || n == 4 && b[i+3]&0xc0 != 0x80 {
		return 0
	}
	return n
}

// hex4 decodes the four hex digits at b[i:], if they are there.
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

func (s *scanner) lit(word string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

// digits returns the index past the run of digits starting at b[i].
func digits(b []byte, i int) int {
	for i < len(b) && b[i]-'0' < 10 {
		i++
	}
	return i
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? on a local
// index: numbers are half the tokens of a snapshot.
func (s *scanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return false
	}
	switch c := b[i]; {
	case c == '0':
		i++
	case c-'1' < 9:
		i = digits(b, i+1)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && b[i]|0x20 == 'e' {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}
