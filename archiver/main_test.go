package main

import "testing"

func TestDefaultMaxOpenFiles(t *testing.T) {
	for _, tc := range []struct {
		limit uint64
		want  int
	}{
		{0, 1024},
		{100, 64},
		{1024, 341},
		{20000, 6666},
		{1 << 20, 8192},
	} {
		if got := defaultMaxOpenFiles(tc.limit); got != tc.want {
			t.Errorf("defaultMaxOpenFiles(%d) = %d, want %d", tc.limit, got, tc.want)
		}
	}
}

func TestConnectionLimit(t *testing.T) {
	for _, tc := range []struct {
		fdLimit                           uint64
		maxConns, maxOpenFiles, listeners int
		want                              int
		lowered                           bool
	}{
		{0, 4096, 1024, 1, 4096, false},       // limit unknown
		{20000, 4096, 6666, 1, 4096, false},   // the reported machine: a third each
		{20000, 11000, 6666, 1, 6668, true},   // the flood that exhausted it
		{20000, 4096, 6666, 2, 3334, true},    // two listeners share the room
		{1024, 4096, 341, 1, 342, true},       // a small ulimit
		{100, 4096, 64, 1, 16, true},          // never below 16
		{1 << 20, 4096, 8192, 1, 4096, false}, // plenty
		{20000, 4096, 19000, 1, 16, true},     // day files took it all
	} {
		got, lowered := connectionLimit(tc.fdLimit, tc.maxConns, tc.maxOpenFiles, tc.listeners)
		if got != tc.want || lowered != tc.lowered {
			t.Errorf("connectionLimit(%d, %d, %d, %d) = %d, %v; want %d, %v",
				tc.fdLimit, tc.maxConns, tc.maxOpenFiles, tc.listeners, got, lowered, tc.want, tc.lowered)
		}
	}
}
