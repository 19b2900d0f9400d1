package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
)

// rpmHeader holds the string and integer tags of an .rpm's main header,
// read by hand because no rpm tool or Go reader is at hand in CI.
type rpmHeader struct {
	strs map[int32][]string
	ints map[int32][]uint32
}

// RPM tags (rpmtag.h) the tests look at.
const (
	tagName       = 1000
	tagVersion    = 1001
	rpmPreIn      = 1023
	rpmPostIn     = 1024
	rpmPreUn      = 1025
	rpmPostUn     = 1026
	rpmFileModes  = 1030
	rpmFileFlags  = 1037
	rpmDirIndexes = 1116
	rpmBaseNames  = 1117
	rpmDirNames   = 1118

	rpmFileConfig    = 1 << 0
	rpmFileNoReplace = 1 << 4
)

func readRPMHeader(path string) (*rpmHeader, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	const leadSize = 96
	if len(raw) < leadSize || !bytes.Equal(raw[:4], []byte{0xed, 0xab, 0xee, 0xdb}) {
		return nil, fmt.Errorf("%s: not an rpm", path)
	}
	// The signature header, padded to 8 bytes, then the main header.
	_, sigLen, err := headerAt(raw, leadSize)
	if err != nil {
		return nil, fmt.Errorf("%s: signature: %w", path, err)
	}
	off := leadSize + sigLen
	off += (8 - off%8) % 8
	h, _, err := headerAt(raw, off)
	if err != nil {
		return nil, fmt.Errorf("%s: header: %w", path, err)
	}
	return h, nil
}

// headerAt parses the header structure at off and returns its length.
func headerAt(raw []byte, off int) (*rpmHeader, int, error) {
	if off+16 > len(raw) || !bytes.Equal(raw[off:off+3], []byte{0x8e, 0xad, 0xe8}) {
		return nil, 0, fmt.Errorf("no header magic at %d", off)
	}
	n := int(binary.BigEndian.Uint32(raw[off+8:]))
	size := int(binary.BigEndian.Uint32(raw[off+12:]))
	index := off + 16
	store := index + 16*n
	if store+size > len(raw) {
		return nil, 0, fmt.Errorf("header of %d entries overruns the file", n)
	}
	h := &rpmHeader{strs: map[int32][]string{}, ints: map[int32][]uint32{}}
	for i := range n {
		e := raw[index+16*i:]
		tag := int32(binary.BigEndian.Uint32(e))
		typ := binary.BigEndian.Uint32(e[4:])
		at := store + int(binary.BigEndian.Uint32(e[8:]))
		count := int(binary.BigEndian.Uint32(e[12:]))
		switch typ {
		case 3, 4: // INT16, INT32
			width := map[uint32]int{3: 2, 4: 4}[typ]
			for j := range count {
				p := raw[at+j*width:]
				if width == 2 {
					h.ints[tag] = append(h.ints[tag], uint32(binary.BigEndian.Uint16(p)))
				} else {
					h.ints[tag] = append(h.ints[tag], binary.BigEndian.Uint32(p))
				}
			}
		case 6, 8, 9: // STRING, STRING_ARRAY, I18NSTRING
			for range count {
				end := bytes.IndexByte(raw[at:], 0)
				h.strs[tag] = append(h.strs[tag], string(raw[at:at+end]))
				at += end + 1
			}
		}
	}
	return h, 16 + 16*n + size, nil
}

// files maps every path in the package to its RPMTAG_FILEFLAGS.
func (h *rpmHeader) files() map[string]uint32 {
	out := map[string]uint32{}
	for i, base := range h.strs[rpmBaseNames] {
		out[h.strs[rpmDirNames][h.ints[rpmDirIndexes][i]]+base] = h.ints[rpmFileFlags][i]
	}
	return out
}
