package collector

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/shirou/gopsutil/v4/cpu"
	"golang.org/x/sys/unix"
)

// opensOf counts the opens of the files of dir while fn runs, by name, as
// the kernel reports them to inotify: whatever opens them (our readers,
// gopsutil, os.ReadFile) is counted. inotify merges an event into an
// identical one still unread, so two opens of a file not yet closed may
// count as one: the count can be low, never high. Watching closes too keeps
// serial reads apart (open, close, open, close).
func opensOf(t *testing.T, dir string, fn func()) map[string]int {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_OPEN|unix.IN_CLOSE_NOWRITE); err != nil {
		t.Fatalf("inotify watch %s: %v", dir, err)
	}
	fn()
	opens := map[string]int{}
	buf := make([]byte, 64<<10)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EAGAIN {
			return opens
		}
		if err != nil {
			t.Fatalf("inotify read: %v", err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := buf[off+unix.SizeofInotifyEvent : off+unix.SizeofInotifyEvent+int(ev.Len)]
			if ev.Mask&unix.IN_OPEN != 0 {
				opens[unix.ByteSliceToString(name)]++
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
}

// Three collectors need <proc>/stat (CPU times, boot time for the host and
// for process start times); a collection reads it once for all of them.
func TestCollectionReadsProcStatOnce(t *testing.T) {
	proc := copyFixtureProc(t)
	cfg := fixtureConfig(t)
	cfg.ProcPath = proc
	set, err := NewSet(cfg, []string{"cpu", "host", "processes"})
	if err != nil {
		t.Fatal(err)
	}
	collect := func() {
		coll, err := set.Collect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range coll.Statuses {
			if st.Err != nil {
				t.Fatalf("collector %s: %v", st.Name, st.Err)
			}
		}
	}
	collect() // the CPU model and other facts read once are read now
	for i := range 3 {
		if got := opensOf(t, proc, collect)["stat"]; got != 1 {
			t.Fatalf("collection %d opened %s %d times, want once", i, filepath.Join(proc, "stat"), got)
		}
	}
}

func TestParseSystemStat(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		wantCPUs int
		wantBoot int64 // 0: none
		wantErr  bool
	}{
		{"full", "cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 2 3 4 5 6 7 8 9 10\ncpu1 1 2 3 4 5 6 7 8 9 10\nintr 5\nctxt 6\nbtime 1700000123\nprocesses 7\n", 2, 1700000123, false},
		{"old kernel: seven counters", "cpu  1 2 3 4 5 6 7\ncpu0 1 2 3 4 5 6 7\nbtime 1\n", 1, 1, false},
		{"short CPU line left out", "cpu0 1 2 3\ncpu1 1 2 3 4 5 6 7\nbtime 1\n", 1, 1, false},
		{"no btime", "cpu  1 2 3 4 5 6 7\ncpu0 1 2 3 4 5 6 7\n", 1, 0, false},
		{"bad btime", "btime soon\n", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSystemStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if len(got.cpus) != tt.wantCPUs {
				t.Errorf("%d CPUs, want %d: %+v", len(got.cpus), tt.wantCPUs, got.cpus)
			}
			if tt.wantBoot == 0 && !got.boot.IsZero() || tt.wantBoot != 0 && got.boot.Unix() != tt.wantBoot {
				t.Errorf("boot %v, want %d", got.boot, tt.wantBoot)
			}
		})
	}
}

// The cpu collector's figures must not change with its reader: the CPU
// times parsed here are gopsutil's, field for field.
func TestSystemStatCPUsMatchGopsutil(t *testing.T) {
	cfg := fixtureConfig(t)
	want, err := cpu.TimesWithContext(cfg.hostContext(context.Background()), true)
	if err != nil || len(want) == 0 {
		t.Fatalf("gopsutil: %v, %v", want, err)
	}
	st, err := readSystemStat(context.Background(), cfg.ProcPath)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.cpus, want) {
		t.Fatalf("parsed\n%+v\ngopsutil\n%+v", st.cpus, want)
	}
}

// BenchmarkSystemStatCollectors collects this host with the collectors that
// read /proc/stat (processes left out: its per-process reads dominate).
func BenchmarkSystemStatCollectors(b *testing.B) {
	for _, names := range [][]string{{"cpu"}, {"host"}, {"cpu", "host"}} {
		b.Run(strings.Join(names, "+"), func(b *testing.B) { benchCollect(b, names) })
	}
}
