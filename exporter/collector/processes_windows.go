package collector

import (
	"context"
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// localSystemSID owns the System and Idle processes, which cannot be opened.
const localSystemSID = "S-1-5-18"

// ntProcessReader takes the whole process table in one
// NtQuerySystemInformation(SystemProcessInformation) call: pid, parent,
// name, threads and their states, CPU times, working set and creation time.
// What that call lacks (executable path, owner, command line) needs one
// OpenProcess per process; it never changes while a process lives, so it is
// read once when a process is first seen and kept until it exits. A steady
// scrape therefore costs one system call plus decoding.
type ntProcessReader struct {
	cmdline bool
	buf     []uint64 // 8-byte aligned buffer reused between calls
	static  map[procKey]procStatic
	sids    *sidCache
	decoded []ntProcess       // records of the last call, reused
	names   map[string]string // interned image names
}

// procStatic holds the facts of a process that need a handle to read.
type procStatic struct {
	exe, user, cmdline string
}

func newProcessReader(cfg Config) (processReader, error) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		return nil, errors.New("the process table reader supports 64-bit Windows only")
	}
	return &ntProcessReader{
		cmdline: cfg.ProcessCmdline,
		buf:     make([]uint64, 256<<10/8),
		static:  map[procKey]procStatic{},
		sids:    newSIDCache(lookupSID),
		names:   map[string]string{},
	}, nil
}

func (r *ntProcessReader) Processes(ctx context.Context) ([]snapshot.Process, int, error) {
	table, err := r.table()
	if err != nil {
		return nil, 0, err
	}
	procs := make([]snapshot.Process, 0, len(table))
	next := make(map[procKey]procStatic, len(table))
	for i, p := range table {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		sp := snapshot.Process{
			PID:        int32(p.PID),
			PPID:       int32(p.PPID),
			Name:       p.Name,
			State:      p.State,
			StartedAt:  p.CreateTime,
			CPUSeconds: p.CPUSeconds,
			RSSBytes:   p.WorkingSet,
			Threads:    int32(p.Threads),
		}
		k := procKey{sp.PID, sp.StartedAt.UnixMilli()}
		st, ok := r.static[k]
		if !ok {
			st = r.readStatic(p.PID)
		}
		next[k] = st
		sp.Exe, sp.User, sp.Cmdline = st.exe, st.user, st.cmdline
		procs = append(procs, sp)
	}
	r.static = next
	return procs, 0, nil
}

// table returns the decoded process table, growing the buffer until the
// snapshot fits (processes may start between the size query and the read).
func (r *ntProcessReader) table() ([]ntProcess, error) {
	for attempt := 0; ; attempt++ {
		var need uint32
		size := uint32(len(r.buf) * 8)
		err := windows.NtQuerySystemInformation(windows.SystemProcessInformation, unsafe.Pointer(&r.buf[0]), size, &need)
		if errors.Is(err, windows.STATUS_INFO_LENGTH_MISMATCH) && attempt < 5 {
			grow := max(uint64(need), uint64(size)) + 64<<10
			r.buf = make([]uint64, grow/8)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("NtQuerySystemInformation(SystemProcessInformation): %w", err)
		}
		b := unsafe.Slice((*byte)(unsafe.Pointer(&r.buf[0])), size)
		r.decoded, err = parseProcessTable(b, uint64(uintptr(unsafe.Pointer(&r.buf[0]))), r.decoded, r.names)
		return r.decoded, err
	}
}

// readStatic opens the process once for its path, owner and command line.
// Each is best effort: protected and exiting processes refuse some or all.
func (r *ntProcessReader) readStatic(pid uint32) procStatic {
	var st procStatic
	if pid == 0 || pid == 4 {
		st.user = r.sids.name(localSystemSID)
		return st
	}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if err != nil {
		return st
	}
	defer windows.CloseHandle(h)
	st.exe = imagePath(h)
	st.user = r.sids.name(tokenSID(h))
	if r.cmdline {
		st.cmdline, _ = commandLine(h)
	}
	return st
}

// imagePath returns the executable's Win32 path; long paths get a second try.
func imagePath(h windows.Handle) string {
	for _, size := range []int{windows.MAX_PATH + 1, windows.MAX_LONG_PATH} {
		buf := make([]uint16, size)
		n := uint32(len(buf))
		err := windows.QueryFullProcessImageName(h, 0, &buf[0], &n)
		if err == nil {
			return windows.UTF16ToString(buf[:n])
		}
		if !errors.Is(err, windows.ERROR_INSUFFICIENT_BUFFER) {
			return ""
		}
	}
	return ""
}

// tokenSID returns the string SID of the process's user, "" if unreadable.
func tokenSID(h windows.Handle) string {
	var tok windows.Token
	if err := windows.OpenProcessToken(h, windows.TOKEN_QUERY, &tok); err != nil {
		return ""
	}
	defer tok.Close()
	tu, err := tok.GetTokenUser()
	if err != nil {
		return ""
	}
	return tu.User.Sid.String()
}

// lookupSID resolves a SID to DOMAIN\name, the form Windows tools show.
func lookupSID(s string) (string, error) {
	sid, err := windows.StringToSid(s)
	if err != nil {
		return "", fmt.Errorf("parse SID %s: %w", s, err)
	}
	account, domain, _, err := sid.LookupAccount("")
	if err != nil {
		return "", fmt.Errorf("lookup SID %s: %w", s, err)
	}
	if domain == "" {
		return account, nil
	}
	return domain + `\` + account, nil
}

// commandLine asks NtQueryInformationProcess(ProcessCommandLineInformation),
// available since Windows 8.1, which needs only limited query access and no
// reading of the process's memory. The answer is a UNICODE_STRING followed
// by the characters it points to. Every Windows Go supports has it (Go
// 1.26 needs Windows 10); Wine 8.0 does not, and there the command line is
// left empty.
func commandLine(h windows.Handle) (string, error) {
	buf := make([]uint64, 512/8)
	for attempt := 0; attempt < 3; attempt++ {
		var need uint32
		size := uint32(len(buf) * 8)
		err := windows.NtQueryInformationProcess(h, windows.ProcessCommandLineInformation, unsafe.Pointer(&buf[0]), size, &need)
		if errors.Is(err, windows.STATUS_INFO_LENGTH_MISMATCH) && need > size && need < 1<<20 {
			buf = make([]uint64, (need+7)/8)
			continue
		}
		if err != nil {
			return "", err
		}
		us := (*windows.NTUnicodeString)(unsafe.Pointer(&buf[0]))
		if us.Buffer == nil || us.Length == 0 {
			return "", nil
		}
		return windows.UTF16ToString(unsafe.Slice(us.Buffer, us.Length/2)), nil
	}
	return "", nil
}

// kernelThread is false on Windows: its kernel work shows as the System
// process, one stable name.
func kernelThread(*snapshot.Process) bool { return false }
