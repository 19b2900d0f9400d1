package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
	"time"
	"unicode/utf16"
)

// fakeThread is the state and wait reason of one SYSTEM_THREAD_INFORMATION.
type fakeThread struct{ state, wait uint32 }

type fakeProc struct {
	pid, ppid, session uint32
	name               string
	create             time.Time
	user, kernel       uint64 // 100 ns units
	workingSet         uint64
	threads            []fakeThread
	claimThreads       int // NumberOfThreads when it differs from len(threads)
	nameOutsideBuffer  bool
}

// processTable lays records out as Windows does: each record, its thread
// array, then its image name, with NextEntryOffset chaining them and 0 in
// the last. base is the address the buffer pretends to have.
func processTable(base uint64, procs ...fakeProc) []byte {
	le := binary.LittleEndian
	var buf []byte
	prev := -1
	for _, p := range procs {
		off := len(buf)
		if prev >= 0 {
			le.PutUint32(buf[prev:], uint32(off-prev))
		}
		prev = off
		name := utf16.Encode([]rune(p.name))
		rec := make([]byte, spiSize+len(p.threads)*stiSize+2*len(name)+8)
		n := uint32(len(p.threads))
		if p.claimThreads != 0 {
			n = uint32(p.claimThreads)
		}
		le.PutUint32(rec[spiThreadsOff:], n)
		if !p.create.IsZero() {
			le.PutUint64(rec[spiCreateTimeOff:], toFiletime(p.create))
		}
		le.PutUint64(rec[spiUserTimeOff:], p.user)
		le.PutUint64(rec[spiKernelTimeOff:], p.kernel)
		le.PutUint64(rec[spiPIDOff:], uint64(p.pid))
		le.PutUint64(rec[spiPPIDOff:], uint64(p.ppid))
		le.PutUint32(rec[spiSessionOff:], p.session)
		le.PutUint64(rec[spiWorkingSetOff:], p.workingSet)
		for i, t := range p.threads {
			le.PutUint32(rec[spiSize+i*stiSize+stiStateOff:], t.state)
			le.PutUint32(rec[spiSize+i*stiSize+stiWaitReasonOff:], t.wait)
		}
		nameOff := spiSize + len(p.threads)*stiSize
		for i, c := range name {
			le.PutUint16(rec[nameOff+2*i:], c)
		}
		if len(name) > 0 {
			le.PutUint16(rec[spiNameLenOff:], uint16(2*len(name)))
			ptr := base + uint64(off+nameOff)
			if p.nameOutsideBuffer {
				ptr = base + 1<<30
			}
			le.PutUint64(rec[spiNameBufOff:], ptr)
		}
		buf = append(buf, rec...)
	}
	return buf
}

func TestParseProcessTable(t *testing.T) {
	const base = 0x7ff6_1234_0000
	boot := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	running := fakeThread{threadRunning, 0}
	waiting := fakeThread{threadWaiting, 6} // UserRequest
	suspended := fakeThread{threadWaiting, waitSuspended}
	table := processTable(base,
		fakeProc{pid: 0, threads: []fakeThread{running, running}, kernel: 5e9},
		fakeProc{pid: 4, name: "System", create: boot, threads: []fakeThread{waiting}, kernel: 3e7},
		fakeProc{pid: 812, ppid: 4, name: "svchost.exe", create: boot.Add(time.Minute), user: 15e6, kernel: 5e6,
			workingSet: 12 << 20, session: 0, threads: []fakeThread{waiting, {threadReady, 0}, waiting}},
		fakeProc{pid: 4242, ppid: 812, name: "notepad – ünïcode.exe", create: boot.Add(time.Hour), session: 2,
			threads: []fakeThread{suspended, suspended}},
		fakeProc{pid: 5000, ppid: 812, name: "half.exe", create: boot, threads: []fakeThread{suspended, waiting}},
		fakeProc{pid: 6000, ppid: 1, name: "gone.exe", create: boot},
		fakeProc{pid: 7000, name: "lying.exe", create: boot, threads: []fakeThread{running}, claimThreads: 900},
	)
	names := map[string]string{}
	got, err := parseProcessTable(table, base, nil, names)
	if err != nil {
		t.Fatal(err)
	}
	// A second pass reuses the slice and the interned names.
	if again, err := parseProcessTable(table, base, got, names); err != nil || len(again) != len(got) {
		t.Fatalf("second pass: %d processes, %v", len(again), err)
	}
	want := []ntProcess{
		{PID: 0, Name: "System Idle Process", Threads: 2, CreateTime: boot, CPUSeconds: 500, State: "idle"},
		{PID: 4, Name: "System", Threads: 1, CreateTime: boot, CPUSeconds: 3, State: "sleeping"},
		{PID: 812, PPID: 4, Name: "svchost.exe", Threads: 3, CreateTime: boot.Add(time.Minute), CPUSeconds: 2, WorkingSet: 12 << 20, State: "running"},
		{PID: 4242, PPID: 812, Name: "notepad – ünïcode.exe", Threads: 2, SessionID: 2, CreateTime: boot.Add(time.Hour), State: "suspended"},
		{PID: 5000, PPID: 812, Name: "half.exe", Threads: 2, CreateTime: boot, State: "sleeping"},
		{PID: 6000, PPID: 1, Name: "gone.exe", CreateTime: boot, State: "zombie"},
		{PID: 7000, Name: "lying.exe", Threads: 900, CreateTime: boot, State: "sleeping"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d processes, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.CreateTime.Equal(w.CreateTime) {
			t.Errorf("pid %d: CreateTime = %v, want %v", w.PID, g.CreateTime, w.CreateTime)
		}
		g.CreateTime, w.CreateTime = time.Time{}, time.Time{}
		if g != w {
			t.Errorf("process %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

func TestParseProcessTableRejectsGarbage(t *testing.T) {
	const base = 0x10000
	good := processTable(base, fakeProc{pid: 8, name: "a.exe"}, fakeProc{pid: 9, name: "b.exe"})
	loop := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(loop, 8) // next record inside this one
	past := append([]byte(nil), good...)
	binary.LittleEndian.PutUint32(past, uint32(len(good)+spiSize))
	cases := []struct {
		name string
		buf  []byte
	}{
		{"empty", nil},
		{"truncated record", good[:spiSize-1]},
		{"truncated chain", good[:len(good)-10]},
		{"next offset inside record", loop},
		{"next offset past the end", past},
		{"name pointer outside", processTable(base, fakeProc{pid: 8, name: "x.exe", nameOutsideBuffer: true})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := parseProcessTable(tc.buf, base, nil, nil); !errors.Is(err, errBadProcessTable) {
				t.Fatalf("err = %v, want errBadProcessTable", err)
			}
		})
	}
}

// BenchmarkParseProcessTable decodes a 300-process table with 60 distinct
// names, the host size the CPU target names.
func BenchmarkParseProcessTable(b *testing.B) {
	const base = 0x7ff6_0000_0000
	var fakes []fakeProc
	for i := range 300 {
		fakes = append(fakes, fakeProc{pid: uint32(4 * (i + 2)), ppid: 4, name: fmt.Sprintf("service%02d.exe", i%60),
			create: time.Now(), threads: make([]fakeThread, 12)})
	}
	table := processTable(base, fakes...)
	var (
		procs []ntProcess
		names = map[string]string{}
		err   error
	)
	b.ReportAllocs()
	for b.Loop() {
		if procs, err = parseProcessTable(table, base, procs, names); err != nil {
			b.Fatal(err)
		}
	}
}
