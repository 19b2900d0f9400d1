package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf16"
)

// This file decodes the process table Windows returns from
// NtQuerySystemInformation(SystemProcessInformation): a chain of
// SYSTEM_PROCESS_INFORMATION records, each followed by one
// SYSTEM_THREAD_INFORMATION per thread. It is OS-neutral so the decoding is
// tested on Linux; processes_windows.go makes the call. Offsets are those
// of 64-bit Windows (amd64 and arm64), the only builds shipped.
const (
	spiNextEntryOff  = 0
	spiThreadsOff    = 4
	spiCreateTimeOff = 32
	spiUserTimeOff   = 40
	spiKernelTimeOff = 48
	spiNameLenOff    = 56 // UNICODE_STRING ImageName: USHORT Length, USHORT MaximumLength, PWSTR Buffer
	spiNameBufOff    = 64
	spiPIDOff        = 80
	spiPPIDOff       = 88
	spiSessionOff    = 100
	spiWorkingSetOff = 144
	spiSize          = 256

	stiSize          = 80 // SYSTEM_THREAD_INFORMATION
	stiStateOff      = 68
	stiWaitReasonOff = 72
)

// KTHREAD_STATE and KWAIT_REASON values used to derive a process state.
const (
	threadReady         = 1
	threadRunning       = 2
	threadStandby       = 3
	threadWaiting       = 5
	threadDeferredReady = 7
	waitSuspended       = 5
)

// ntProcess is one decoded process record.
type ntProcess struct {
	PID        uint32
	PPID       uint32
	Name       string
	Threads    uint32
	SessionID  uint32
	CreateTime time.Time // boot time for the idle process, which has none
	CPUSeconds float64   // user + kernel
	WorkingSet uint64
	State      string
}

var errBadProcessTable = errors.New("malformed process table")

// parseProcessTable decodes the records in buf, appending to procs[:0].
// base is the address buf had when Windows filled it: image names are
// pointers into buf, turned into offsets here and bounds-checked rather
// than dereferenced. names, if not nil, interns decoded names across calls
// (a host runs dozens of svchost.exe), keyed by their UTF-16 bytes.
func parseProcessTable(buf []byte, base uint64, procs []ntProcess, names map[string]string) ([]ntProcess, error) {
	le := binary.LittleEndian
	procs = procs[:0]
	for off := 0; ; {
		if off+spiSize > len(buf) {
			return nil, fmt.Errorf("%w: record at %d runs past %d bytes", errBadProcessTable, off, len(buf))
		}
		rec := buf[off:]
		next := int(le.Uint32(rec[spiNextEntryOff:]))
		end := len(buf)
		if next != 0 {
			if next < spiSize || off+next > len(buf) {
				return nil, fmt.Errorf("%w: next entry offset %d at %d", errBadProcessTable, next, off)
			}
			end = off + next
		}
		p := ntProcess{
			PID:        uint32(le.Uint64(rec[spiPIDOff:])),
			PPID:       uint32(le.Uint64(rec[spiPPIDOff:])),
			Threads:    le.Uint32(rec[spiThreadsOff:]),
			SessionID:  le.Uint32(rec[spiSessionOff:]),
			CreateTime: filetime(int64(le.Uint64(rec[spiCreateTimeOff:]))),
			CPUSeconds: float64(le.Uint64(rec[spiUserTimeOff:])+le.Uint64(rec[spiKernelTimeOff:])) / 1e7,
			WorkingSet: le.Uint64(rec[spiWorkingSetOff:]),
		}
		name, err := imageName(buf, base, le.Uint16(rec[spiNameLenOff:]), le.Uint64(rec[spiNameBufOff:]), names)
		if err != nil {
			return nil, fmt.Errorf("%w: pid %d: %v", errBadProcessTable, p.PID, err)
		}
		p.Name = name
		p.State = processState(p.PID, buf[off+spiSize:end], p.Threads)
		switch p.PID {
		case 0:
			p.Name = "System Idle Process"
		case 4:
			if p.Name == "" {
				p.Name = "System"
			}
		}
		procs = append(procs, p)
		if next == 0 {
			fillBootTime(procs)
			return procs, nil
		}
		off += next
	}
}

// fillBootTime gives processes without a creation time (the System Idle
// Process) the earliest one in the table, the System process's, which is
// when the host booted: every process then has a start time, as on Linux.
func fillBootTime(procs []ntProcess) {
	var boot time.Time
	for _, p := range procs {
		if !p.CreateTime.IsZero() && (boot.IsZero() || p.CreateTime.Before(boot)) {
			boot = p.CreateTime
		}
	}
	for i := range procs {
		if procs[i].CreateTime.IsZero() {
			procs[i].CreateTime = boot
		}
	}
}

// maxInternedNames bounds the name cache; it is cleared when full.
const maxInternedNames = 4096

// imageName reads the UTF-16 name a record points to inside buf.
func imageName(buf []byte, base uint64, length uint16, ptr uint64, names map[string]string) (string, error) {
	if length == 0 || ptr == 0 {
		return "", nil
	}
	if ptr < base || ptr-base+uint64(length) > uint64(len(buf)) || length%2 != 0 {
		return "", fmt.Errorf("image name (%d bytes at %#x) outside the buffer", length, ptr)
	}
	b := buf[ptr-base : ptr-base+uint64(length)]
	if name, ok := names[string(b)]; ok {
		return name, nil
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	name := string(utf16.Decode(u))
	if names != nil {
		if len(names) >= maxInternedNames {
			clear(names)
		}
		names[string(b)] = name
	}
	return name, nil
}

// processState derives a Linux-like state from the threads, since Windows
// keeps no per-process state: "running" if any thread runs or is ready to,
// "suspended" if every thread waits because it was suspended, "zombie" for
// a process whose threads have all exited but which open handles keep,
// "idle" for the System Idle Process, "sleeping" otherwise. Threads whose
// records do not fit in the entry are not guessed at: "sleeping".
func processState(pid uint32, threads []byte, n uint32) string {
	if pid == 0 {
		return "idle"
	}
	if n == 0 {
		return "zombie"
	}
	if uint64(n)*stiSize > uint64(len(threads)) {
		return "sleeping"
	}
	suspended := 0
	for i := uint32(0); i < n; i++ {
		t := threads[i*stiSize:]
		switch binary.LittleEndian.Uint32(t[stiStateOff:]) {
		case threadRunning, threadReady, threadStandby, threadDeferredReady:
			return "running"
		case threadWaiting:
			if binary.LittleEndian.Uint32(t[stiWaitReasonOff:]) == waitSuspended {
				suspended++
			}
		}
	}
	if suspended == int(n) {
		return "suspended"
	}
	return "sleeping"
}
