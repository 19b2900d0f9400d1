// Package e2e holds the end-to-end tests that build and run the real
// binaries on loopback, and the small harness they share: building each
// binary once, picking free ports, starting processes that are always
// stopped, and waiting on conditions with a deadline instead of sleeping.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	buildMu   sync.Mutex
	buildDir  string
	built     = map[string]string{}
	buildErrs = map[string]error{}
)

// RepoRoot is the module root, found from this file's location so tests
// work from any working directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Binary builds ./<pkg> (for example "exporter") once per test process for
// GOOS/GOARCH of env (nil = host) and returns the path of the executable.
func Binary(t testing.TB, pkg string, env ...string) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	key := pkg + "|" + strings.Join(env, ",")
	if p, ok := built[key]; ok {
		return p
	}
	if err, ok := buildErrs[key]; ok {
		t.Fatalf("build %s: %v", pkg, err)
	}
	if buildDir == "" {
		d, err := os.MkdirTemp("", "prexmon-e2e-bin-")
		if err != nil {
			t.Fatalf("temp dir: %v", err)
		}
		buildDir = d
	}
	name := strings.ReplaceAll(pkg, "/", "_") + fmt.Sprintf("-%d", len(built))
	for _, e := range env {
		if e == "GOOS=windows" {
			name += ".exe"
		}
	}
	out := filepath.Join(buildDir, name)
	cmd := exec.Command("go", "build", "-o", out, "./"+pkg)
	cmd.Dir = RepoRoot()
	cmd.Env = append(os.Environ(), env...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		buildErrs[key] = fmt.Errorf("%v: %s", err, msg)
		t.Fatalf("build %s: %v: %s", pkg, err, msg)
	}
	built[key] = out
	return out
}

// FreePort returns a TCP port that was free on ip a moment ago.
func FreePort(t testing.TB, ip string) int {
	t.Helper()
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatalf("listen on %s: %v", ip, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Proc is a started child process whose output is kept for failure reports.
type Proc struct {
	Cmd    *exec.Cmd
	output *syncBuffer
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs bin with args; the process is killed when the test ends and its
// output is logged if the test failed.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartEnv(t, nil, bin, args...)
}

// StartEnv is Start with extra environment variables.
func StartEnv(t testing.TB, env []string, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{Cmd: exec.Command(bin, args...), output: &syncBuffer{}, done: make(chan struct{})}
	p.Cmd.Stdout = p.output
	p.Cmd.Stderr = p.output
	p.Cmd.Env = append(os.Environ(), env...)
	if err := p.Cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.Cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("output of %s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.Output())
		}
	})
	return p
}

// Output is everything the process wrote so far.
func (p *Proc) Output() string { return p.output.String() }

// Kill sends SIGKILL and waits for the process to go.
func (p *Proc) Kill() {
	if p.Cmd.Process != nil {
		_ = p.Cmd.Process.Kill()
	}
	<-p.done
}

// Wait waits up to d for the process to exit and returns its error; it
// fails the test if the process is still running by then.
func (p *Proc) Wait(t testing.TB, d time.Duration) error {
	t.Helper()
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		t.Fatalf("process still running after %v; output:\n%s", d, p.Output())
		return nil
	}
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitFor polls cond until it returns nil or the deadline passes, then
// fails the test with cond's last error.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// WaitHTTP waits until url answers 200 (or until the process dies).
func WaitHTTP(t testing.TB, p *Proc, url string) {
	t.Helper()
	WaitFor(t, 20*time.Second, url, func() error {
		if p != nil && p.Exited() {
			t.Fatalf("process exited early: %v\n%s", p.err, p.Output())
		}
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// Get fetches url and returns status and body, failing the test on
// transport errors.
func Get(t testing.TB, url string) (int, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, body
}

// NeedCommand skips the test when name is not installed. CI installs every
// such command (.ci/run), so a skip there is a CI bug, not a pass.
func NeedCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed but CI must have it (see .ci/run)", name)
		}
		t.Skipf("%s not installed; .ci/run installs it", name)
	}
	return p
}
