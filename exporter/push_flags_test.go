package main

import (
	"strings"
	"testing"
)

func TestPushFlags(t *testing.T) {
	o, err := parseFlags([]string{"--push.url=http://a:5000", "--push.spool.dir=/tmp/s"})
	if err != nil {
		t.Fatal(err)
	}
	if o.push.SpoolMaxBytes != 100<<20 || o.push.SpoolDir != "/tmp/s" {
		t.Fatalf("defaults: max %d, dir %q", o.push.SpoolMaxBytes, o.push.SpoolDir)
	}
	if o, err = parseFlags([]string{"--push.url=http://a:5000", "--push.spool.max-bytes=2GiB"}); err != nil || o.push.SpoolMaxBytes != 2<<30 {
		t.Fatalf("--push.spool.max-bytes=2GiB: %v, %d", err, o.push.SpoolMaxBytes)
	}
	for args, want := range map[string]string{
		"--push.spool.dir=/tmp/s":                           "need --push.url",
		"--push.http-config.file=h.yml":                     "need --push.url",
		"--push.url=http://a:5000 --push.spool.max-bytes=0": "must be positive",
	} {
		if _, err := parseFlags(strings.Fields(args)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", args, err, want)
		}
	}
}
