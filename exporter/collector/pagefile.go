package collector

import (
	"encoding/binary"
	"fmt"
)

// SYSTEM_PAGEFILE_INFORMATION, what NtQuerySystemInformation(
// SystemPageFileInformation) returns: a chain of one record per page file,
// {ULONG NextEntryOffset, TotalSize, TotalInUse, PeakUsage; UNICODE_STRING
// PageFileName}, sizes in pages. Decoded from bytes so it is tested on any
// OS; memory_windows.go makes the call.
const (
	pageFileNextOff  = 0
	pageFileTotalOff = 4
	pageFileInUseOff = 8
	pageFileRecSize  = 16 // the counters; the name that follows is not needed
)

// parsePageFiles sums the sizes and usage of all page files in bytes. An
// empty answer means a host without page file: zero swap, which is a fact.
func parsePageFiles(b []byte, pageSize uint64) (total, used uint64, err error) {
	le := binary.LittleEndian
	for off := 0; len(b) > 0; {
		if off+pageFileRecSize > len(b) {
			return 0, 0, fmt.Errorf("page file record at %d runs past %d bytes", off, len(b))
		}
		total += uint64(le.Uint32(b[off+pageFileTotalOff:])) * pageSize
		used += uint64(le.Uint32(b[off+pageFileInUseOff:])) * pageSize
		next := int(le.Uint32(b[off+pageFileNextOff:]))
		if next == 0 {
			break
		}
		if next < pageFileRecSize {
			return 0, 0, fmt.Errorf("page file record at %d: next offset %d", off, next)
		}
		off += next
	}
	return total, used, nil
}
