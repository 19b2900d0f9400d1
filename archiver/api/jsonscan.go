package api

import (
	"bytes"
	"encoding/json"

	"github.com/prexmon/prexmon/archiver/intake"
)

// A targeted scan of stored lines: fleet search reads gigabytes of
// snapshots but needs only a few fields of the processes or users arrays,
// so it walks the JSON by hand, skipping every value it does not need,
// instead of decoding 100 KB per snapshot. It trusts its input to be valid
// JSON (the store writes only checked snapshots) and reports failure with
// -1 or false rather than guessing on anything else.

// skipWS returns the index of the first non-space byte at or after i.
func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// eachField calls fn with the raw key (without quotes) and the value's
// span [vs, ve) of every member of the object starting at b[i] ('{'), until
// fn returns false. It returns the index just past the object, or -1.
func eachField(b []byte, i int, fn func(key []byte, vs, ve int) bool) int {
	if i >= len(b) || b[i] != '{' {
		return -1
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return -1
		}
		kEnd := intake.SkipString(b, i)
		if kEnd < 0 {
			return -1
		}
		key := b[i+1 : kEnd-1]
		i = skipWS(b, kEnd)
		if i >= len(b) || b[i] != ':' {
			return -1
		}
		vs := skipWS(b, i+1)
		ve := intake.SkipValue(b, vs)
		if ve < 0 {
			return -1
		}
		if !fn(key, vs, ve) {
			return ve
		}
		i = skipWS(b, ve)
		if i >= len(b) {
			return -1
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case '}':
			return i + 1
		default:
			return -1
		}
	}
}

// field returns the span of the value of key in the object at b[i].
func field(b []byte, i int, key string) (vs, ve int, ok bool) {
	eachField(b, i, func(k []byte, s, e int) bool {
		if string(k) == key {
			vs, ve, ok = s, e, true
			return false
		}
		return true
	})
	return vs, ve, ok
}

// eachElem walks the array at b[i] ('['): fn gets the start of each
// element and returns the index just past it (or -1), so an element is
// read once, by the caller's own walk, not skipped first and read again.
// It reports whether the whole array was walked (false for anything but an
// array, null included).
func eachElem(b []byte, i int, fn func(s int) int) bool {
	if i >= len(b) || b[i] != '[' {
		return false
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return true
	}
	for {
		e := fn(i)
		if e < 0 {
			return false
		}
		i = skipWS(b, e)
		if i >= len(b) {
			return false
		}
		switch b[i] {
		case ',':
			i = skipWS(b, i+1)
		case ']':
			return true
		default:
			return false
		}
	}
}

// snapshotArray returns the span of the snapshot's top-level array key
// (processes, users) in a stored line.
func snapshotArray(line []byte, key string) (vs, ve int, ok bool) {
	i := skipWS(line, 0)
	ss, _, ok := field(line, i, "snapshot")
	if !ok {
		return 0, 0, false
	}
	return field(line, ss, key)
}

// strValue decodes the raw JSON string token tok (quotes included) into
// buf, copying only when it holds an escape.
func strValue(tok []byte, buf *[]byte) ([]byte, bool) {
	if len(tok) < 2 || tok[0] != '"' {
		return nil, false
	}
	inner := tok[1 : len(tok)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner, true
	}
	var s string
	if err := json.Unmarshal(tok, &s); err != nil {
		return nil, false
	}
	*buf = append((*buf)[:0], s...)
	return *buf, true
}
