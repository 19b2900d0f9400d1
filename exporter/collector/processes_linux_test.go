package collector

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/prexmon/prexmon/exporter/snapshot"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    procStat
		wantErr bool
	}{
		{"plain", "1 (systemd) S 0 1 1 0 -1 4194560 50000 300000 100 200 1500 700 3000 1000 20 0 1 0 12 170000000 3000 18446744073709551615",
			procStat{comm: "systemd", state: 'S', ppid: 0, utime: 1500, stime: 700, threads: 1, starttime: 12, rssPages: 3000}, false},
		{"parens and spaces in name", "7 (a) b (c)) R 3 7 7 0 -1 0 0 0 0 0 5 6 0 0 20 0 9 0 44 1 2 3",
			procStat{comm: "a) b (c)", state: 'R', ppid: 3, utime: 5, stime: 6, threads: 9, starttime: 44, rssPages: 2}, false},
		{"truncated", "1 (x) S 0 1", procStat{}, true},
		{"no name", "garbage", procStat{}, true},
		{"empty", "", procStat{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestStatusUID(t *testing.T) {
	for in, want := range map[string]string{
		"Name:\tx\nUid:\t1000\t1001\t1001\t1001\nGid:\t0\n": "1001",
		"Name:\tx\n":        "",
		"Name:\tx\nUid:\t5": "",
	} {
		if got := statusUID([]byte(in)); got != want {
			t.Errorf("statusUID(%q) = %q, want %q", in, got, want)
		}
	}
}

// The live reader must see this test process itself, with sane fields.
func TestProcReaderSeesSelf(t *testing.T) {
	r, err := newProcessReader(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	procs, _, err := r.Processes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	self := int32(os.Getpid())
	for _, p := range procs {
		if p.PID != self {
			continue
		}
		exe, _ := os.Executable()
		if p.Exe != exe || p.PPID != int32(os.Getppid()) || p.Threads < 1 || p.RSSBytes == 0 || p.StartedAt.IsZero() || p.Cmdline == "" {
			t.Fatalf("self = %+v (exe %s)", p, exe)
		}
		return
	}
	t.Fatalf("own pid %d not among %d processes", self, len(procs))
}

// plainProcRead is the yardstick of issue 2: read stat, status and cmdline
// of every process with nothing else.
func plainProcRead(b *testing.B) int {
	d, err := os.Open("/proc")
	if err != nil {
		b.Fatal(err)
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	n := 0
	for _, name := range names {
		if name[0] < '0' || name[0] > '9' {
			continue
		}
		for _, f := range []string{"stat", "status", "cmdline"} {
			if _, err := os.ReadFile("/proc/" + name + "/" + f); err == nil {
				n++
			}
		}
	}
	return n
}

func BenchmarkPlainProcRead(b *testing.B) {
	for b.Loop() {
		plainProcRead(b)
	}
}

func BenchmarkProcReader(b *testing.B) {
	r, err := newProcessReader(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	var n int
	for b.Loop() {
		procs, _, err := r.Processes(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		n = len(procs)
	}
	b.ReportMetric(float64(n), "procs")
}

// BenchmarkProcessesCollector adds what the collector does on top of the
// reader: CPU deltas, redaction (cached) and grouping.
func BenchmarkProcessesCollector(b *testing.B) {
	c, err := newProcessesCollector(DefaultConfig())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := c.Update(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func TestGroupNameLinux(t *testing.T) {
	tests := []struct {
		p    snapshot.Process
		want string
	}{
		{snapshot.Process{PID: 2, Name: "kthreadd"}, "kernel"},
		{snapshot.Process{PID: 77, PPID: 2, Name: "kworker/u8:4-events_unbound"}, "kernel"},
		{snapshot.Process{PID: 900, PPID: 1, Name: "memfd:sealed (deleted)"}, "memfd:sealed"},
		{snapshot.Process{PID: 901, PPID: 1, Name: "nginx"}, "nginx"},
	}
	for _, tt := range tests {
		if got := groupName(&tt.p); got != tt.want {
			t.Errorf("groupName(%+v) = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestInvalidUTF8NamesKeepMetricsValid(t *testing.T) {
	tr := newGroupTracker(5)
	groups := tr.update([]snapshot.Process{{PID: 10, PPID: 1, Name: "\xff\xfey"}}, []float64{1}, []float64{0})
	r := &processesResult{states: map[string]int{"running": 1}, groups: groups}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(&Collection{Results: []Result{r}, Statuses: []Status{{Name: "processes"}}})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var found bool
	for _, mf := range mfs {
		if mf.GetName() == "host_process_group_processes" {
			found = mf.GetMetric()[0].GetLabel()[0].GetValue() == "\uFFFDy"
		}
	}
	if !found {
		t.Fatal("group with an invalid UTF-8 name not exposed with a repaired label")
	}
}

// A process whose files cannot be parsed or read is left out and counted;
// the others are still listed.
func TestProcReaderSkipsUnreadableProcess(t *testing.T) {
	cfg := fixtureConfig(t)
	proc := t.TempDir()
	if err := os.CopyFS(proc, os.DirFS(cfg.ProcPath)); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(proc, "777"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proc, "777", "stat"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.ProcPath = proc
	coll := collectFixture(t, cfg, "processes")
	if n := len(coll.Snapshot("test").Processes); n != 2 {
		t.Fatalf("%d processes, want the 2 readable ones", n)
	}
	want := `
# HELP host_process_read_errors_total Processes left out of a collection because they could not be read (not counting those that exited meanwhile).
# TYPE host_process_read_errors_total counter
host_process_read_errors_total 1
`
	if err := testutil.CollectAndCompare(coll, strings.NewReader(want), "host_process_read_errors_total"); err != nil {
		t.Fatal(err)
	}
}
