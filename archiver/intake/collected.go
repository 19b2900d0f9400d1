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
		end := SkipString(b, i)
		if end < 0 {
			return nil, false
		}
		k := b[i+1 : end-1]
		i = skipWS(b, end)
		if i >= len(b) || b[i] != ':' {
			return nil, false
		}
		i = skipWS(b, i+1)
		if i >= len(b) {
			return nil, false
		}
		end = SkipValue(b, i)
		if end < 0 {
			return nil, false
		}
		if string(k) == key {
			return b[i:end], true
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
