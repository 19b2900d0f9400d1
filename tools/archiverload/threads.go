package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// syscallNames names the amd64 system calls a Go server blocks in, for the
// poor man's off-CPU profile: what the archiver's threads wait on.
var syscallNames = map[string]string{
	"0": "read", "1": "write", "3": "close", "5": "fstat", "7": "poll", "8": "lseek", "9": "mmap",
	"11": "munmap", "17": "pread64", "18": "pwrite64", "28": "madvise", "35": "nanosleep",
	"44": "sendto", "45": "recvfrom", "72": "fcntl", "74": "fsync", "75": "fdatasync",
	"77": "ftruncate", "83": "mkdir", "202": "futex", "230": "clock_nanosleep", "232": "epoll_wait",
	"257": "openat", "258": "mkdirat", "262": "newfstatat", "281": "epoll_pwait", "306": "syncfs",
	"437": "openat2", "441": "epoll_pwait2",
}

// threadStates returns "state syscall" for every thread of pid, e.g.
// "D syncfs" (waiting on the disk), "R user" (running Go code), "S futex"
// (idle). Threads that vanish mid-read are skipped.
func threadStates(pid int) []string {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range tasks {
		stat, err := os.ReadFile(filepath.Join(dir, t.Name(), "stat"))
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) {
			continue
		}
		state := string(stat[i+2])
		sc, err := os.ReadFile(filepath.Join(dir, t.Name(), "syscall"))
		if err != nil {
			continue
		}
		out = append(out, state+" "+syscallName(string(sc)))
	}
	return out
}

func syscallName(content string) string {
	f := strings.Fields(content)
	switch {
	case len(f) == 0:
		return "?"
	case f[0] == "running":
		return "user"
	case f[0] == "-1":
		return "kernel"
	}
	if n, ok := syscallNames[f[0]]; ok {
		return n
	}
	return "syscall#" + f[0]
}

// idleState reports thread states that mean "nothing to do".
func idleState(s string) bool {
	switch s {
	case "S futex", "S epoll_wait", "S epoll_pwait", "S epoll_pwait2", "S nanosleep", "S clock_nanosleep":
		return true
	}
	return false
}

// summarizeStates lists the most frequent busy thread states with their
// share of all busy samples, e.g. "D syncfs 41%, R user 30%".
func summarizeStates(counts map[string]int, top int) string {
	total := 0
	type kv struct {
		k string
		n int
	}
	var list []kv
	for k, n := range counts {
		total += n
		list = append(list, kv{k, n})
	}
	if total == 0 {
		return "none"
	}
	slices.SortFunc(list, func(a, b kv) int { return b.n - a.n })
	var parts []string
	for _, e := range list[:min(top, len(list))] {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", e.k, 100*float64(e.n)/float64(total)))
	}
	return strings.Join(parts, ", ")
}
