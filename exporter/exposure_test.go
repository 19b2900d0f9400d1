package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCmdlineExposure covers every answer of cmdlineExposure from the flags
// and the web config file; the e2e test sees the log line itself.
func TestCmdlineExposure(t *testing.T) {
	dir := t.TempDir()
	n := 0
	file := func(content string) string {
		n++
		p := filepath.Join(dir, fmt.Sprintf("web%d.yml", n))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return "--web.config.file=" + p
	}
	const (
		tls   = "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n"
		users = "basic_auth_users:\n  prometheus: $2y$10$abc\n"
		mtls  = "tls_server_config:\n  cert_file: c.pem\n  key_file: k.pem\n  client_ca_file: ca.pem\n  client_auth_type: RequireAndVerifyClientCert\n"
	)
	for _, tc := range []struct {
		name string
		args []string
		want string // substring of the warning; "" = none
	}{
		{"no web config", nil, "without TLS or authentication (no --web.config.file)"},
		{"TLS and users", []string{file(tls + users)}, ""},
		{"client certificates", []string{file(mtls)}, ""},
		{"TLS only", []string{file(tls)}, "without authentication"},
		{"users only", []string{file(users)}, "without TLS"},
		{"empty web config", []string{file("# nothing\n")}, "sets neither"},
		{"command lines off", []string{"--snapshot.cmdline=false"}, ""},
		{"processes off", []string{"--no-collector.processes"}, ""},
		{"push once", []string{"--push.once", "--push.url=http://a:5000"}, ""},
	} {
		o, err := parseFlags(tc.args)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := cmdlineExposure(o)
		if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%s: cmdlineExposure = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCmdlineMaxLengthFlag(t *testing.T) {
	for arg, ok := range map[string]bool{"": true, "=0": true, "=64": true, "=100000": true, "=63": false, "=1": false, "=-1": false} {
		args := []string{}
		if arg != "" {
			args = append(args, "--snapshot.cmdline.max-length"+arg)
		}
		o, err := parseFlags(args)
		if (err == nil) != ok {
			t.Errorf("--snapshot.cmdline.max-length%s: err = %v, want ok=%v", arg, err, ok)
		}
		if arg == "" && o.cfg.ProcessCmdlineMax != 4096 {
			t.Errorf("default max-length %d, want 4096", o.cfg.ProcessCmdlineMax)
		}
	}
}
