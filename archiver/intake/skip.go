package intake

import "bytes"

// SkipString and SkipValue walk JSON that has already passed CheckRaw, as
// the store writes it, so readers can find one field of a 100 KB snapshot
// without decoding the rest: the store to split its line envelope, the
// fleet search to reach the processes and users arrays. They report
// failure with -1 rather than guessing.

// SkipString returns the index just past the string starting at b[i] ('"'),
// or -1. It jumps from quote to quote, so long command lines cost a
// vectorised byte search rather than a loop over every byte.
func SkipString(b []byte, i int) int {
	// Most strings (keys, states, users) are short: a plain loop finds
	// their end before a vectorised search would have started.
	for j := i + 1; j < len(b) && j < i+16; j++ {
		switch b[j] {
		case '"':
			return j + 1
		case '\\':
			return skipStringSlow(b, i)
		}
	}
	return skipStringSlow(b, i)
}

func skipStringSlow(b []byte, i int) int {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		n := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return j + 1
		}
		j++
	}
}

// SkipValue returns the index just past the value starting at b[i], or -1.
func SkipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return SkipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end := SkipString(b, j)
				if end < 0 {
					return -1
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	default:
		j := i
		for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
			j++
		}
		if j == i {
			return -1
		}
		return j
	}
}
