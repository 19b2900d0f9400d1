// Package s3gateway runs versitygw, an S3 gateway over a local directory,
// on a loopback port: the real S3-compatible server that the store's
// end-to-end tests and the load tool (archiverload --s3-gateway) upload
// segments to. scripts/build-versitygw.sh builds the pinned version into
// the cache directory Binary looks in.
package s3gateway

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Bucket is the one bucket Start creates.
const Bucket = "prexmon"

const (
	accessKey = "prexmon-test"
	secretKey = "prexmon-test-secret"
)

// Binary is $PREXMON_VERSITYGW, or versitygw as scripts/build-versitygw.sh
// caches it; "" when neither exists.
func Binary() string {
	if p := os.Getenv("PREXMON_VERSITYGW"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	p := filepath.Join(home, ".cache", "prexmon", "versitygw-v1.8.0")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Gateway is a running versitygw.
type Gateway struct {
	// Dir is the posix root; the bucket's objects are files under Dir/Bucket.
	Dir string
	// Config is the Thanos bucket config (--storage.remote.config.file) for it.
	Config []byte
	cmd    *exec.Cmd
	done   chan struct{}
}

// Start runs bin over dir (created if need be, with the bucket) on a free
// loopback port, writing its output to log, and returns once it listens.
func Start(bin, dir string, log io.Writer) (*Gateway, error) {
	if err := os.MkdirAll(filepath.Join(dir, Bucket), 0o700); err != nil {
		return nil, fmt.Errorf("bucket directory: %w", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a free port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	g := &Gateway{Dir: dir, done: make(chan struct{})}
	g.cmd = exec.Command(bin, "--port", addr, "posix", "--nometa", dir)
	g.cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+accessKey, "ROOT_SECRET_KEY="+secretKey)
	g.cmd.Stdout, g.cmd.Stderr = log, log
	g.cmd.SysProcAttr = childAttr()
	if err := g.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		_ = g.cmd.Wait()
		close(g.done)
	}()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			g.Stop()
			return nil, fmt.Errorf("versitygw did not listen on %s: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.Config = fmt.Appendf(nil, "type: S3\nconfig:\n  bucket: %s\n  endpoint: %s\n  access_key: %s\n  secret_key: %s\n  insecure: true\n  bucket_lookup_type: path\n",
		Bucket, addr, accessKey, secretKey)
	return g, nil
}

// Pid is the gateway's process id, to measure its CPU.
func (g *Gateway) Pid() int { return g.cmd.Process.Pid }

// Stop kills the gateway and waits for it.
func (g *Gateway) Stop() {
	select {
	case <-g.done:
	default:
		_ = g.cmd.Process.Kill()
		<-g.done
	}
}
