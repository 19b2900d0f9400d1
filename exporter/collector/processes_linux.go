package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// userHZ is the unit of CPU times in /proc/PID/stat. It is 100 on every
// Linux architecture Go supports (the kernel fixes USER_HZ for userspace).
const userHZ = 100

// procReader reads /proc/PID/{stat,status,cmdline} directly: gopsutil
// re-reads those files once per field, about five times the cost.
type procReader struct {
	proc     string
	cmdline  bool
	pageSize uint64
	users    *passwdCache
	logger   *slog.Logger
	buf      []byte

	// exe never changes for a given process; readlink is cached.
	exe map[procKey]string
}

func newProcessReader(cfg Config) (processReader, error) {
	return &procReader{
		proc:     cfg.ProcPath,
		cmdline:  cfg.ProcessCmdline,
		pageSize: uint64(os.Getpagesize()),
		users:    newPasswdCache(filepath.Join(cfg.RootPath, "etc", "passwd")),
		logger:   cfg.Logger,
		buf:      make([]byte, 0, 16<<10),
		exe:      map[procKey]string{},
	}, nil
}

func (r *procReader) Processes(ctx context.Context) ([]snapshot.Process, int, error) {
	procs, _, skipped, err := r.keyedProcesses(ctx)
	return procs, skipped, err
}

// keyedProcesses keys each process on its start in clock ticks since boot,
// which no clock step changes; only the start time shown is wall-clock.
func (r *procReader) keyedProcesses(ctx context.Context) ([]snapshot.Process, []procKey, int, error) {
	boot, err := readBootTime(ctx, r.proc)
	if err != nil {
		return nil, nil, 0, err
	}
	d, err := os.Open(r.proc)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("open %s: %w", r.proc, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, nil, 0, fmt.Errorf("list %s: %w", r.proc, err)
	}
	r.users.refresh()
	procs := make([]snapshot.Process, 0, len(names))
	keys := make([]procKey, 0, len(names))
	nextExe := make(map[procKey]string, len(r.exe))
	var skipped int
	for i, name := range names {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, nil, 0, ctx.Err()
		}
		pid, err := strconv.ParseInt(name, 10, 32)
		if err != nil {
			continue // not a process directory
		}
		p, k, err := r.read(int32(pid), name, boot, nextExe)
		switch {
		case err == nil:
			procs = append(procs, p)
			keys = append(keys, k)
		case errors.Is(err, fs.ErrNotExist) || errors.Is(err, errVanished):
			// The process exited between listing and reading: not an error.
		default:
			// One unreadable process must not cost the whole table.
			skipped++
			r.logger.Debug("process skipped", "pid", pid, "err", err)
		}
	}
	r.exe = nextExe
	return procs, keys, skipped, nil
}

var errVanished = errors.New("process vanished")

func denied(err error) bool {
	return errors.Is(err, fs.ErrPermission)
}

func (r *procReader) read(pid int32, name string, boot time.Time, nextExe map[procKey]string) (snapshot.Process, procKey, error) {
	dir := r.proc + "/" + name
	p := snapshot.Process{PID: pid}

	stat, err := r.readFile(dir + "/stat")
	if err != nil {
		return p, procKey{}, err
	}
	st, err := parseStat(stat)
	if err != nil {
		return p, procKey{}, fmt.Errorf("parse %s/stat: %w", dir, err)
	}
	k := procKey{pid, int64(st.starttime)}
	p.PPID = st.ppid
	p.Name = st.comm
	p.State = procState(st.state)
	p.CPUSeconds = float64(st.utime+st.stime) / userHZ
	p.RSSBytes = st.rssPages * r.pageSize
	p.Threads = st.threads
	p.StartedAt = boot.Add(time.Duration(st.starttime) * time.Second / userHZ).UTC()

	// status and cmdline of other users' processes are unreadable under
	// hidepid or ProtectProc: leave those fields empty rather than fail.
	status, err := r.readFile(dir + "/status")
	switch {
	case err == nil:
		p.User = r.users.name(statusUID(status))
	case !denied(err):
		return p, k, err
	}

	exe, ok := r.exe[k]
	if !ok {
		exe, _ = os.Readlink(dir + "/exe") // unreadable for kernel threads and others' processes
	}
	nextExe[k] = exe
	p.Exe = exe

	if r.cmdline {
		raw, err := r.readFile(dir + "/cmdline")
		switch {
		case err == nil:
			p.Cmdline = cmdlineString(raw)
		case !denied(err):
			return p, k, err
		}
	}
	// comm is cut at 15 bytes; recover the full name from the executable.
	if len(p.Name) == 15 && exe != "" {
		if base := filepath.Base(exe); len(base) > 15 && base[:15] == p.Name {
			p.Name = base
		}
	}
	return p, k, nil
}

// readFile reads a small /proc file into the reader's reusable buffer; the
// result is valid until the next call. It uses raw syscalls: os.File would
// add an epoll registration attempt and a finalizer per file, a quarter of
// the cost when reading hundreds of tiny files, and it stops after a short
// read because /proc files hand over all they have in one read.
func (r *procReader) readFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	r.buf = r.buf[:0]
	for {
		if len(r.buf) == cap(r.buf) {
			r.buf = append(r.buf, 0)[:len(r.buf)]
		}
		space := r.buf[len(r.buf):cap(r.buf)]
		n, err := unix.Read(fd, space)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			if err == unix.ESRCH {
				return nil, errVanished
			}
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		r.buf = r.buf[:len(r.buf)+n]
		if n < len(space) {
			return r.buf, nil
		}
	}
}

type procStat struct {
	comm      string
	state     byte
	ppid      int32
	utime     uint64
	stime     uint64
	threads   int32
	starttime uint64
	rssPages  uint64
}

// parseStat parses /proc/PID/stat. The command name may contain spaces and
// parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (procStat, error) {
	var s procStat
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 0 || end < open || end+2 > len(b) {
		return s, errors.New("no command name")
	}
	s.comm = string(b[open+1 : end])
	rest := b[end+2:]
	// Fields after the name, numbered from 0 (state) as in proc(5) minus 3.
	var field int
	for len(rest) > 0 && field <= 21 {
		sp := bytes.IndexByte(rest, ' ')
		var tok []byte
		if sp < 0 {
			tok, rest = bytes.TrimSpace(rest), nil
		} else {
			tok, rest = rest[:sp], rest[sp+1:]
		}
		switch field {
		case 0:
			if len(tok) > 0 {
				s.state = tok[0]
			}
		case 1:
			s.ppid = int32(atou(tok))
		case 11:
			s.utime = atou(tok)
		case 12:
			s.stime = atou(tok)
		case 17:
			s.threads = int32(atou(tok))
		case 19:
			s.starttime = atou(tok)
		case 21:
			s.rssPages = atou(tok)
		}
		field++
	}
	if field <= 21 {
		return s, fmt.Errorf("only %d fields", field+3)
	}
	return s, nil
}

func atou(b []byte) uint64 {
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return n
		}
		n = n*10 + uint64(c-'0')
	}
	return n
}

// statusUID returns the effective UID from /proc/PID/status, as ps shows it.
func statusUID(status []byte) string {
	i := bytes.Index(status, []byte("\nUid:"))
	if i < 0 {
		return ""
	}
	fields := bytes.Fields(status[i+5 : i+5+min(64, len(status)-i-5)])
	if len(fields) < 2 {
		return ""
	}
	return string(fields[1])
}

// cmdlineString keeps the NUL separators of argv, so that redaction sees
// argument boundaries ("--password" "two words"); the collector turns them
// into spaces for display.
func cmdlineString(raw []byte) string {
	return string(bytes.TrimRight(raw, "\x00"))
}

// kernelThread reports whether p is a kernel thread (a child of kthreadd),
// whose many per-CPU names (kworker/u8:4-events) would churn groups.
func kernelThread(p *snapshot.Process) bool { return p.PID == 2 || p.PPID == 2 }

// procState names the one-letter states of proc(5).
func procState(c byte) string {
	switch c {
	case 'R':
		return "running"
	case 'S':
		return "sleeping"
	case 'D':
		return "disk-sleep"
	case 'Z':
		return "zombie"
	case 'T':
		return "stopped"
	case 't':
		return "tracing-stop"
	case 'X', 'x':
		return "dead"
	case 'I':
		return "idle"
	case 'W':
		return "paging"
	case 'P':
		return "parked"
	case 'K':
		return "wakekill"
	default:
		return "unknown"
	}
}
