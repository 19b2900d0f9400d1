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
