package collector

import (
	"encoding/binary"
	"testing"
)

func TestParsePageFiles(t *testing.T) {
	// rec builds one 32-byte record (counters, then a name string header).
	rec := func(next, totalPages, inUsePages uint32) []byte {
		b := make([]byte, 32)
		binary.LittleEndian.PutUint32(b[0:], next)
		binary.LittleEndian.PutUint32(b[4:], totalPages)
		binary.LittleEndian.PutUint32(b[8:], inUsePages)
		binary.LittleEndian.PutUint32(b[12:], 0xFFFFFFFF) // PeakUsage: not used
		return b
	}
	two := append(rec(32+40, 262144, 1024), make([]byte, 40)...) // C:\pagefile.sys, name bytes after
	two = append(two, rec(0, 131072, 0)...)                      // D:\pagefile.sys
	cases := []struct {
		name      string
		in        []byte
		wantTotal uint64
		wantUsed  uint64
		wantErr   bool
	}{
		{"no page file", nil, 0, 0, false},
		{"one", rec(0, 262144, 2048), 1 << 30, 8 << 20, false},
		{"two, with names between", two, 1<<30 + 512<<20, 4 << 20, false},
		{"truncated", rec(0, 1, 1)[:12], 0, 0, true},
		{"next offset inside the record", rec(8, 1, 1), 0, 0, true},
		{"next offset past the end", rec(64, 1, 1), 0, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			total, used, err := parsePageFiles(tc.in, 4096)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if total != tc.wantTotal || used != tc.wantUsed {
				t.Errorf("total, used = %d, %d; want %d, %d", total, used, tc.wantTotal, tc.wantUsed)
			}
		})
	}
}
