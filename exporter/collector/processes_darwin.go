package collector

import (
	"context"
	"strings"
	"time"

	"github.com/shirou/gopsutil/v4/process"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

// gopsutilProcessReader reads the process table through gopsutil's sysctl
// and libproc calls. macOS is a development platform for prexmon, not a
// fleet one, so a plain per-field reader is enough here; a field the
// kernel refuses for another user's process is left empty.
type gopsutilProcessReader struct{ cmdline bool }

func newProcessReader(cfg Config) (processReader, error) {
	return gopsutilProcessReader{cmdline: cfg.ProcessCmdline}, nil
}

func (r gopsutilProcessReader) Processes(ctx context.Context) ([]snapshot.Process, int, error) {
	list, err := process.ProcessesWithContext(ctx)
	if err != nil {
		return nil, 0, err
	}
	procs := make([]snapshot.Process, 0, len(list))
	for i, p := range list {
		if i%64 == 0 && ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		name, err := p.NameWithContext(ctx)
		if err != nil {
			continue // gone since the listing
		}
		sp := snapshot.Process{PID: p.Pid, Name: name}
		if ppid, err := p.PpidWithContext(ctx); err == nil {
			sp.PPID = ppid
		}
		sp.Exe, _ = p.ExeWithContext(ctx)
		sp.User, _ = p.UsernameWithContext(ctx)
		if st, err := p.StatusWithContext(ctx); err == nil && len(st) > 0 {
			sp.State = darwinState(st[0])
		}
		if ms, err := p.CreateTimeWithContext(ctx); err == nil {
			sp.StartedAt = time.UnixMilli(ms).UTC()
		}
		if t, err := p.TimesWithContext(ctx); err == nil {
			sp.CPUSeconds = t.User + t.System
		}
		if m, err := p.MemoryInfoWithContext(ctx); err == nil {
			sp.RSSBytes = m.RSS
		}
		if n, err := p.NumThreadsWithContext(ctx); err == nil {
			sp.Threads = n
		}
		if r.cmdline {
			if args, err := p.CmdlineSliceWithContext(ctx); err == nil {
				sp.Cmdline = strings.Join(args, "\x00")
			}
		}
		procs = append(procs, sp)
	}
	return procs, 0, nil
}

// darwinState names gopsutil's states as proc(5) does, like the other OSes.
func darwinState(s string) string {
	switch s {
	case process.Sleep:
		return "sleeping"
	case process.Stop:
		return "stopped"
	case process.Running:
		return "running"
	case process.Zombie:
		return "zombie"
	case process.Idle:
		return "idle"
	}
	return s
}

// kernelThread is false: macOS shows its kernel as one process, kernel_task.
func kernelThread(*snapshot.Process) bool { return false }
