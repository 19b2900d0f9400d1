//go:build linux

package e2e

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests check the archiver stays useful when its HTTP side is abused:
// connection floods, slow bodies, hostile paths and push bombs. Linux only:
// they read the process's descriptors and memory from /proc.

// rawHTTP sends request byte for byte on a new connection (the Go client
// would clean the path) and returns the response.
func rawHTTP(t *testing.T, base, request string) *http.Response {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", request, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

func openFDs(pid int) int {
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(ents)
}

// TestArchiverSafeDefaults: raw dot segments and double slashes are refused
// before any routing (never redirected), a wrong method under /api/v1/ is
// 405, and the lifecycle and profiling endpoints are off unless asked for.
func TestArchiverSafeDefaults(t *testing.T) {
	t.Parallel()
	a := startArchiver(t, t.TempDir(), "scrape_interval: 1s\n")
	for _, path := range []string{"/api/v1/../metrics", "/./metrics", "//metrics", "/api/v1//files", "/debug/pprof/../../api/v1/files"} {
		resp := rawHTTP(t, a.base, "GET "+path+" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("GET %s: %d Location %q, want 400", path, resp.StatusCode, resp.Header.Get("Location"))
		}
	}
	resp := rawHTTP(t, a.base, "DELETE /api/v1/files HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("DELETE /api/v1/files: %d Allow %q, want 405 GET, HEAD", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if resp := rawHTTP(t, a.base, "POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"); resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /-/reload without --web.enable-lifecycle: %d, want 403", resp.StatusCode)
	}
	if code, _ := Get(t, a.base+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("GET /debug/pprof/ without --web.enable-pprof: %d, want 404", code)
	}
	if code, _ := Get(t, a.base+"/metrics"); code != http.StatusOK {
		t.Errorf("GET /metrics: %d", code)
	}
}

// TestArchiverConnectionFlood opens far more idle connections than
// --web.max-connections allows: the archiver holds no more than its cap of
// them, keeps scraping and storing meanwhile, answers again once the flood
// ends, and closes a kept-alive connection left idle past
// --web.idle-timeout.
func TestArchiverConnectionFlood(t *testing.T) {
	t.Parallel()
	const maxConns, flood = 64, 1000
	body := archFakeSnapshot("flood", 2<<10)
	agent := archFakeAgent(t, "127.0.12.2", func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	a := startArchiver(t, t.TempDir(), fmt.Sprintf("scrape_interval: 1s\nscrape_timeout: 900ms\nstatic_configs:\n  - targets: [%q]\n", agent),
		"--web.max-connections="+strconv.Itoa(maxConns), "--web.idle-timeout=1s")
	a.waitLines(t, "127.0.12.2", 1)
	pid := a.Cmd.Process.Pid
	fdsBefore := openFDs(pid)

	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	addr := strings.TrimPrefix(a.base, "http://")
	for range flood {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			break // the accept queue is full: the flood is as big as it gets
		}
		conns = append(conns, c)
	}
	t.Logf("%d idle connections open; archiver descriptors %d before", len(conns), fdsBefore)
	if len(conns) < 2*maxConns {
		t.Fatalf("only %d connections opened, not a flood", len(conns))
	}

	// Scrapes go on being stored while the flood lasts.
	during := len(a.lines(t, "127.0.12.2"))
	a.waitLines(t, "127.0.12.2", during+3)
	if fds := openFDs(pid); fds > fdsBefore+maxConns+8 {
		t.Errorf("archiver holds %d descriptors during the flood, %d before: the connection cap does not hold", fds, fdsBefore)
	}

	for _, c := range conns {
		c.Close()
	}
	conns = nil
	WaitHTTP(t, a.Proc, a.base+"/readyz")

	// A kept-alive connection left idle is closed after the idle timeout.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	start := time.Now()
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("idle kept-alive connection: %v after %v, want closed by the server (EOF)", err, time.Since(start))
	}
	t.Logf("idle connection closed after %v", time.Since(start).Round(10*time.Millisecond))
}

// TestArchiverSlowPushBody: a push whose body trickles in is cut off by
// --web.read-timeout instead of holding its handler for ever, and stores
// nothing.
func TestArchiverSlowPushBody(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	archWriteFile(t, filepath.Join(dir, "push.tokens"), "tok\n")
	a := startArchiver(t, dir, "scrape_interval: 1s\napi:\n  write_tokens_file: push.tokens\n", "--web.read-timeout=2s")
	c, err := net.Dial("tcp", strings.TrimPrefix(a.base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if _, err := io.WriteString(c, "POST /api/v1/snapshots HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\nContent-Length: 1000\r\n\r\n{"); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, c) // returns when the server hangs up
		closed <- err
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case <-closed:
			if d := time.Since(start); d < 1500*time.Millisecond {
				t.Errorf("connection closed after %v, before the 2s read timeout", d)
			}
			t.Logf("slow push cut off after %v", time.Since(start).Round(10*time.Millisecond))
			if n := len(a.lines(t, "127.0.0.1")); n != 0 {
				t.Errorf("%d lines stored from a push that never finished", n)
			}
			return
		case <-tick.C:
			c.Write([]byte(" ")) // one byte a second
		case <-deadline:
			t.Fatal("a push sending a byte a second still holds its connection after 30s")
		}
	}
}

// TestArchiverPushBombMemory sends 48 pushes at once, each 15 KB of gzip
// decoding to 15 MiB, with a valid token: the archiver's peak resident
// memory stays under 500 MiB (it went to 1.8 GB before pushes had a memory
// budget). Most decode to zeros and are refused once decoded; eight are
// valid snapshots padded with spaces, which go on to be copied into lines
// and stored.
func TestArchiverPushBombMemory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	archWriteFile(t, filepath.Join(dir, "push.tokens"), "tok\n")
	a := startArchiver(t, dir, "scrape_interval: 1s\napi:\n  write_tokens_file: push.tokens\n  push_rate_limit: {rate: 0}\n")

	gz := func(b []byte) []byte {
		var zw bytes.Buffer
		w, _ := gzip.NewWriterLevel(&zw, gzip.BestCompression)
		w.Write(b)
		w.Close()
		return zw.Bytes()
	}
	var bombs [][]byte
	zeros := gz(make([]byte, 15<<20))
	pad := bytes.Repeat([]byte(" "), 15<<20-200)
	for i := range 48 {
		if i%6 != 0 {
			bombs = append(bombs, zeros)
			continue
		}
		doc := fmt.Appendf(nil, `{"schema_version":1,"collected_at":"2026-12-03T08:00:%02dZ",%s"host":{}}`, i, pad)
		bombs = append(bombs, gz(doc))
	}
	t.Logf("bombs: %d bytes of gzip, 15 MiB decoded", len(zeros))

	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	start := make(chan struct{})
	for _, bomb := range bombs {
		wg.Go(func() {
			<-start
			req, _ := http.NewRequest("POST", a.base+"/api/v1/snapshots", bytes.NewReader(bomb))
			req.Header.Set("Authorization", "Bearer tok")
			req.Header.Set("Content-Encoding", "gzip")
			code := 0
			if resp, err := http.DefaultClient.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				code = resp.StatusCode
			}
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	close(start)
	wg.Wait()
	hwm := procStatus(t, a.Cmd.Process.Pid, "VmHWM")
	t.Logf("answers %v; %d stored; archiver peak RSS (VmHWM) %d MiB", codes, len(a.lines(t, "127.0.0.1")), hwm>>20)
	if codes[0] > 0 {
		t.Errorf("%d pushes got no answer", codes[0])
	}
	if hwm > 500<<20 {
		t.Errorf("archiver peak RSS %d MiB, want under 500 MiB", hwm>>20)
	}
	WaitHTTP(t, a.Proc, a.base+"/readyz")
}
