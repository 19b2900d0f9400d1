package collector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"
)

// TestProcessTableLayout pins ntprocess.go's offsets to x/sys/windows'
// definition of SYSTEM_PROCESS_INFORMATION.
func TestProcessTableLayout(t *testing.T) {
	var spi windows.SYSTEM_PROCESS_INFORMATION
	cases := []struct {
		field     string
		got, want uintptr
	}{
		{"NumberOfThreads", unsafe.Offsetof(spi.NumberOfThreads), spiThreadsOff},
		{"CreateTime", unsafe.Offsetof(spi.CreateTime), spiCreateTimeOff},
		{"UserTime", unsafe.Offsetof(spi.UserTime), spiUserTimeOff},
		{"KernelTime", unsafe.Offsetof(spi.KernelTime), spiKernelTimeOff},
		{"ImageName", unsafe.Offsetof(spi.ImageName), spiNameLenOff},
		{"ImageName.Buffer", unsafe.Offsetof(spi.ImageName) + unsafe.Offsetof(spi.ImageName.Buffer), spiNameBufOff},
		{"UniqueProcessID", unsafe.Offsetof(spi.UniqueProcessID), spiPIDOff},
		{"InheritedFromUniqueProcessID", unsafe.Offsetof(spi.InheritedFromUniqueProcessID), spiPPIDOff},
		{"SessionID", unsafe.Offsetof(spi.SessionID), spiSessionOff},
		{"WorkingSetSize", unsafe.Offsetof(spi.WorkingSetSize), spiWorkingSetOff},
		{"size", unsafe.Sizeof(spi), spiSize},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s at %d, ntprocess.go says %d", c.field, c.got, c.want)
		}
	}
}

// TestProcessesFindsItself reads the real table and checks this test
// process is in it with the facts that need a handle.
func TestProcessesFindsItself(t *testing.T) {
	cfg := DefaultConfig()
	r, err := newProcessReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 2 { // the second round is served from the cache
		procs, _, err := r.Processes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(procs) < 2 {
			t.Fatalf("round %d: only %d processes", round, len(procs))
		}
		var found bool
		for _, p := range procs {
			if int(p.PID) != os.Getpid() {
				continue
			}
			found = true
			self, _ := os.Executable()
			if !strings.EqualFold(p.Name, filepath.Base(self)) {
				t.Errorf("name = %q, want %q", p.Name, filepath.Base(self))
			}
			if !strings.EqualFold(filepath.Base(p.Exe), filepath.Base(self)) {
				t.Errorf("exe = %q, want …%s", p.Exe, filepath.Base(self))
			}
			if p.Threads < 1 || p.RSSBytes == 0 || p.StartedAt.IsZero() || p.User == "" {
				t.Errorf("incomplete: %+v", p)
			}
			switch {
			case p.Cmdline == "" && wine():
				// Wine 8 does not implement ProcessCommandLineInformation,
				// which every Windows Go supports has.
				t.Log("cmdline empty: Wine lacks ProcessCommandLineInformation")
			case !strings.Contains(p.Cmdline, "-test."):
				t.Errorf("cmdline %q lacks this test binary's flags", p.Cmdline)
			}
			if int(p.PPID) != os.Getppid() {
				t.Errorf("ppid = %d, want %d", p.PPID, os.Getppid())
			}
			t.Logf("round %d: %+v", round, p)
		}
		if !found {
			t.Fatalf("round %d: pid %d not listed", round, os.Getpid())
		}
	}
}

// BenchmarkProcesses measures one collection of the real process table,
// with the per-process cache warm as in steady scraping.
func BenchmarkProcesses(b *testing.B) {
	r, err := newProcessReader(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	procs, _, err := r.Processes(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if procs, _, err = r.Processes(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(procs)), "processes")
}

// BenchmarkProcessesCold includes opening every process, as on the first
// scrape after start.
func BenchmarkProcessesCold(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		r, err := newProcessReader(DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := r.Processes(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// wine reports whether this test runs under Wine, whose ntdll exports
// wine_get_version.
func wine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}
