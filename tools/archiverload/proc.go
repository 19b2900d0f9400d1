package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, 100 on every Linux the project runs on; reading it
// properly needs cgo (sysconf), which the tools avoid.
const clockTicks = 100

// procSample is what /proc says about the archiver at one moment.
type procSample struct {
	CPUSeconds  float64 // utime + stime
	UserSeconds float64
	SysSeconds  float64
	RSSBytes    int64 // VmRSS
	HWMBytes    int64 // VmHWM, the peak resident set
	Threads     int
	FDs         int
	ReadBytes   int64 // /proc/<pid>/io read_bytes (from storage)
	WriteBytes  int64 // /proc/<pid>/io write_bytes (to storage)
	WChar       int64 // bytes passed to write-like calls, sockets included
	SyscW       int64 // write-like system calls
}

func sampleProc(pid int) (procSample, error) {
	s, err := sampleProcNoFDs(pid)
	if err != nil {
		return s, err
	}
	s.FDs, err = countFDs(pid)
	return s, err
}

// countFDs lists /proc/<pid>/fd, which costs milliseconds with thousands
// of sockets open: the monitor calls it once a second only.
func countFDs(pid int) (int, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	f, err := os.Open(dir)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", dir, err)
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, fmt.Errorf("list %s: %w", dir, err)
	}
	return len(names), nil
}

func sampleProcNoFDs(pid int) (procSample, error) {
	var s procSample
	dir := "/proc/" + strconv.Itoa(pid)
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return s, fmt.Errorf("read %s/stat: %w", dir, err)
	}
	if s.UserSeconds, s.SysSeconds, err = parseStatTimes(stat); err != nil {
		return s, fmt.Errorf("parse %s/stat: %w", dir, err)
	}
	s.CPUSeconds = s.UserSeconds + s.SysSeconds
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return s, fmt.Errorf("read %s/status: %w", dir, err)
	}
	kv := parseKV(status)
	s.RSSBytes = kv["VmRSS"] * 1024
	s.HWMBytes = kv["VmHWM"] * 1024
	s.Threads = int(kv["Threads"])
	if io, err := os.ReadFile(dir + "/io"); err == nil {
		kv := parseKV(io)
		s.ReadBytes, s.WriteBytes, s.WChar, s.SyscW = kv["read_bytes"], kv["write_bytes"], kv["wchar"], kv["syscw"]
	}
	return s, nil
}

// parseStatTimes returns utime and stime in seconds from /proc/<pid>/stat.
// The command name may contain spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatTimes(stat []byte) (user, sys float64, err error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("no command name in %q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is the state (field 3); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("only %d fields after the command name", len(f))
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("utime %q stime %q are not numbers", f[11], f[12])
	}
	return float64(ut) / clockTicks, float64(st) / clockTicks, nil
}

// parseKV reads "Key:   123 kB" lines (status, io); values keep their unit.
func parseKV(b []byte) map[string]int64 {
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(fields[0], 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}
