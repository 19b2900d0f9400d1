package api

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// bigSnap is a valid snapshot of about n bytes.
func bigSnap(n int) []byte {
	return fmt.Appendf(nil, `{"schema_version":1,"collected_at":"2026-12-03T07:00:00.000Z","host":{"hostname":"h"},"padding":"%s"}`, strings.Repeat("x", n))
}

// A reload that raises body_size_limit raises the push memory with it: a
// push that fits the new limit is stored, not refused with 503 for ever
// (the agent would retry it for ever, and its spool behind it).
func TestPushMemoryFollowsBodyLimitReload(t *testing.T) {
	var limit atomic.Int64
	limit.Store(256 << 10)
	ps := newPushServer(t, func(o *Options) {
		o.MaxBodyBytes = limit.Load
		// Four times the limit, as PushMemoryFor gives above
		// DefaultPushMemory, without its floor that would hide the bug at
		// a test's sizes.
		o.PushMemory = func() int64 { return 4 * limit.Load() }
	}, nil)
	body := bigSnap(600 << 10)

	if r := ps.push(t, body, nil); r.code != 413 {
		t.Fatalf("before the reload: %d %s, want 413 (over the 256 KiB limit)", r.code, r.body)
	}
	limit.Store(1 << 20) // the reload
	for i := range 3 {
		if r := ps.push(t, body, nil); r.code != 200 {
			t.Fatalf("push %d after raising the limit to 1 MiB: %d %s, want 200", i, r.code, r.body)
		}
	}
}

func TestPushMemoryFor(t *testing.T) {
	for _, tt := range []struct{ limit, want int64 }{
		{16 << 20, DefaultPushMemory},
		{DefaultPushMemory / 4, DefaultPushMemory},
		{100 << 20, 400 << 20},
	} {
		if got := PushMemoryFor(tt.limit); got != tt.want {
			t.Errorf("PushMemoryFor(%d) = %d, want %d", tt.limit, got, tt.want)
		}
	}
}

// Without PushMemory the budget follows MaxBodyBytes through PushMemoryFor.
func TestPushMemoryDefaultFollowsLimit(t *testing.T) {
	var limit atomic.Int64
	limit.Store(16 << 20)
	a := newAPI(Options{MaxBodyBytes: limit.Load})
	if got := a.pushMemory(); got != DefaultPushMemory {
		t.Fatalf("budget at a 16 MiB limit: %d, want %d", got, DefaultPushMemory)
	}
	limit.Store(100 << 20)
	if got := a.pushMemory(); got != 400<<20 {
		t.Fatalf("budget after raising the limit to 100 MiB: %d, want %d", got, 400<<20)
	}
}
