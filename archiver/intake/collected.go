package intake

import "bytes"

// CollectedAtRaw returns the raw text of the top-level "collected_at"
// string of raw, a snapshot CheckRaw has accepted, without the quotes and
// without unescaping, and whether there is one. It reads only up to that
// key (agents write it second), so it costs nothing next to CheckRaw. The
// archiver uses it to recognise a snapshot pushed twice. On input CheckRaw
// would refuse, the answer means nothing but is still safe to use.
func CollectedAtRaw(raw []byte) ([]byte, bool) {
	v, ok := TopLevelValue(raw, "collected_at")
	if !ok || len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// TopLevelValue returns the raw JSON value of the first top-level key of
// the object raw (compared without unescaping), scanning only as far as
// that key, and whether there is one. Like CollectedAtRaw, it trusts raw
// to be valid JSON and is merely safe on anything else.
func TopLevelValue(raw []byte, key string) ([]byte, bool) {
	b := bytes.TrimSpace(raw)
	if len(b) == 0 || b[0] != '{' {
		return nil, false
	}
	i := 1
	for {
		i = skipWS(b, i)
		if i >= len(b) || b[i] != '"' {
			return nil, false // '}' of an empty object, or not JSON
		}
		end := stringEnd(b, i)
		if end < 0 {
			return nil, false
		}
		k := b[i+1 : end]
		i = skipWS(b, end+1)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return nil, false
		}
		end = valueEnd(b, i)
		if end < 0 {
			return nil, false
		}
		if string(k) == key {
			return bytes.TrimRight(b[i:end], " \t\r\n"), true
		}
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ',' {
			return nil, false
		}
		i++
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index of the quote closing the string opening at
// b[i], or -1.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j
		}
	}
	return -1
}

// valueEnd returns the index just past the value starting at b[i], or -1.
func valueEnd(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			if j = stringEnd(b, j); j < 0 {
				return -1
			}
			if depth == 0 {
				return j + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return j // the end of the enclosing object
			}
			if depth--; depth == 0 {
				return j + 1
			}
		case ',':
			if depth == 0 {
				return j
			}
		}
	}
	return -1
}
