// Command exporterbench measures the prexmon exporter beside Debian's
// prometheus-node-exporter on this machine, in one run with interleaved
// requests so both see the same load: median and p90 latency of /metrics,
// CPU seconds per scrape (from /proc/PID/stat), and steady RSS. It also
// times /snapshot against a plain reader of /proc/PID/{stat,status,cmdline}.
// It talks to loopback only and stops by itself.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	exporter := flag.String("exporter", "bin/exporter", "prexmon exporter binary")
	nodeExporter := flag.String("node-exporter", "/usr/bin/prometheus-node-exporter", "node_exporter binary (skipped when missing)")
	n := flag.Int("n", 200, "scrapes per endpoint")
	flag.Parse()
	if err := run(*exporter, *nodeExporter, *n); err != nil {
		fmt.Fprintln(os.Stderr, "exporterbench:", err)
		os.Exit(1)
	}
}

type target struct {
	name string
	url  string
	cmd  *exec.Cmd
	lat  []time.Duration
	cpu0 float64
}

func run(exporterBin, nodeBin string, n int) error {
	var targets []*target
	t, err := start("prexmon /metrics", exporterBin, "/metrics", "--web.listen-address=%s")
	if err != nil {
		return err
	}
	defer stop(t)
	targets = append(targets, t)
	snap := &target{name: "prexmon /snapshot", url: strings.Replace(t.url, "/metrics", "/snapshot", 1), cmd: t.cmd}
	if _, err := os.Stat(nodeBin); err == nil {
		ne, err := start("node_exporter /metrics", nodeBin, "/metrics", "--web.listen-address=%s")
		if err != nil {
			return err
		}
		defer stop(ne)
		targets = append(targets, ne)
	} else {
		fmt.Printf("(%s not installed: apt-get install prometheus-node-exporter to compare)\n", nodeBin)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	// Warm up: first collections fill caches (CPU model, users, exe links).
	for range 5 {
		for _, t := range append(targets, snap) {
			if _, err := fetch(client, t.url); err != nil {
				return err
			}
		}
	}
	for _, t := range targets {
		t.cpu0 = cpuSeconds(t.cmd.Process.Pid)
	}
	// Interleave so both exporters see the same background load; leave a
	// short gap so each scrape is a fresh collection, as in production.
	for range n {
		for _, t := range targets {
			d, err := fetch(client, t.url)
			if err != nil {
				return err
			}
			t.lat = append(t.lat, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Printf("%-24s %10s %10s %14s %10s %10s\n", "endpoint", "median", "p90", "cpu/scrape", "rss", "bytes")
	for _, t := range targets {
		cpu := (cpuSeconds(t.cmd.Process.Pid) - t.cpu0) / float64(n)
		size, _ := fetchSize(client, t.url)
		report(t, cpu, size)
	}
	// /snapshot alone, then the plain /proc reader in this process.
	c0 := cpuSeconds(snap.cmd.Process.Pid)
	for range n / 2 {
		d, err := fetch(client, snap.url)
		if err != nil {
			return err
		}
		snap.lat = append(snap.lat, d)
		time.Sleep(20 * time.Millisecond)
	}
	size, _ := fetchSize(client, snap.url)
	report(snap, (cpuSeconds(snap.cmd.Process.Pid)-c0)/float64(n/2), size)

	var plain []time.Duration
	self := os.Getpid()
	p0 := cpuSeconds(self)
	procs := 0
	for range n / 2 {
		start := time.Now()
		procs = plainProcRead()
		plain = append(plain, time.Since(start))
	}
	fmt.Printf("%-24s %10s %10s %14s %10s %10s\n", "plain /proc reader", median(plain, 50), median(plain, 90),
		fmt.Sprintf("%.2fms", (cpuSeconds(self)-p0)/float64(n/2)*1000), "-", fmt.Sprintf("%d procs", procs))
	return nil
}

func report(t *target, cpu float64, size int) {
	fmt.Printf("%-24s %10s %10s %14s %10s %10d\n", t.name, median(t.lat, 50), median(t.lat, 90),
		fmt.Sprintf("%.2fms", cpu*1000), fmt.Sprintf("%.1fMiB", float64(rssBytes(t.cmd.Process.Pid))/(1<<20)), size)
}

func start(name, bin, path, listenFlag string) (*target, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(bin, fmt.Sprintf(listenFlag, addr))
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	t := &target{name: name, url: "http://" + addr + path, cmd: cmd}
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := fetch(http.DefaultClient, t.url); err == nil {
			return t, nil
		} else if time.Now().After(deadline) {
			stop(t)
			return nil, fmt.Errorf("%s did not answer: %w", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stop(t *target) {
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = t.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = t.cmd.Process.Kill()
	}
}

func fetch(c *http.Client, url string) (time.Duration, error) {
	start := time.Now()
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	return time.Since(start), err
}

func fetchSize(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return len(b), err
}

func median(d []time.Duration, pct int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[(len(s)-1)*pct/100].Round(10 * time.Microsecond)
}

// cpuSeconds is utime+stime of pid from /proc/PID/stat (USER_HZ = 100).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	u, _ := strconv.ParseFloat(f[11], 64)
	s, _ := strconv.ParseFloat(f[12], 64)
	return (u + s) / 100
}

func rssBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

func plainProcRead() int {
	names, _ := filepath.Glob("/proc/[0-9]*")
	n := 0
	for _, dir := range names {
		ok := true
		for _, f := range []string{"stat", "status", "cmdline"} {
			if _, err := os.ReadFile(dir + "/" + f); err != nil {
				ok = false
			}
		}
		if ok {
			n++
		}
	}
	return n
}
