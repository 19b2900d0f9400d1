package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/prexmon/prexmon/archiver/intake"
)

// errBadSnapshot is returned for snapshots that cannot be spliced into a
// line; callers are expected to have run intake.CheckRaw already, so this
// only guards the file format against programming errors.
var errBadSnapshot = errors.New("snapshot is not a JSON object")

// appendLine encodes r as one JSONL line (with its trailing newline) onto
// dst. The snapshot bytes are spliced verbatim; only a snapshot that spans
// several lines (pretty-printed by its sender) is compacted, because a
// newline inside it would split the record.
func appendLine(dst []byte, r *Record) ([]byte, error) {
	raw := bytes.TrimSpace(r.Snapshot)
	if len(raw) < 2 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return dst, errBadSnapshot
	}
	dst = append(dst, `{"ip":"`...)
	dst = r.IP.AppendTo(dst)
	dst = append(dst, `","target":`...)
	dst = appendJSONString(dst, r.Target)
	dst = append(dst, `,"labels":{`...)
	keys := make([]string, 0, len(r.Labels))
	for k := range r.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendJSONString(dst, r.Labels[k])
	}
	dst = append(dst, `},"scraped_at":"`...)
	dst = r.ScrapedAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","snapshot":`...)
	if bytes.IndexByte(raw, '\n') < 0 && bytes.IndexByte(raw, '\r') < 0 {
		dst = append(dst, raw...)
	} else {
		buf := bytes.NewBuffer(dst)
		if err := json.Compact(buf, raw); err != nil {
			return dst, fmt.Errorf("%w: %v", errBadSnapshot, err)
		}
		dst = buf.Bytes()
	}
	dst = append(dst, "}\n"...)
	return dst, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD
// so a label from a misbehaving file_sd source cannot corrupt a line.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c == '\n':
				dst = append(dst, '\\', 'n')
			case c == '\r':
				dst = append(dst, '\\', 'r')
			case c == '\t':
				dst = append(dst, '\\', 't')
			case c < 0x20 || c == 0x7f:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			dst = append(dst, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// lineTime extracts the top-level "scraped_at" of a stored line without
// decoding it: it walks the object's first keys, skipping values with a
// string- and nesting-aware scan, and stops at the snapshot so a 100 KB line
// costs only its short prefix.
func lineTime(line []byte) (time.Time, bool) {
	i := skipSpace(line, 0)
	if i >= len(line) || line[i] != '{' {
		return time.Time{}, false
	}
	i++
	for {
		i = skipSpace(line, i)
		if i >= len(line) || line[i] != '"' {
			return time.Time{}, false
		}
		kEnd := intake.SkipString(line, i)
		if kEnd < 0 {
			return time.Time{}, false
		}
		key := line[i+1 : kEnd-1]
		i = skipSpace(line, kEnd)
		if i >= len(line) || line[i] != ':' {
			return time.Time{}, false
		}
		i = skipSpace(line, i+1)
		vEnd := intake.SkipValue(line, i)
		if vEnd < 0 {
			return time.Time{}, false
		}
		switch string(key) {
		case "scraped_at":
			if line[i] != '"' {
				return time.Time{}, false
			}
			t, err := time.Parse(time.RFC3339Nano, string(line[i+1:vEnd-1]))
			return t, err == nil
		case "snapshot":
			return time.Time{}, false
		}
		i = skipSpace(line, vEnd)
		if i >= len(line) || line[i] != ',' {
			return time.Time{}, false
		}
		i++
	}
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}
