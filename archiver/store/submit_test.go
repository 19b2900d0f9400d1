package store

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestSubmitGivesUpWhenTheQueueIsFull: with no room in the writer's queue
// (a stalled disk), Submit returns once its context ends, queueing
// nothing, instead of holding its caller (the push intake holds the
// address's turn meanwhile) until the writer catches up.
func TestSubmitGivesUpWhenTheQueueIsFull(t *testing.T) {
	// A store whose writers never take a request: every queue is full.
	s := &Store{}
	for range numShards {
		s.shards = append(s.shards, &shard{reqs: make(chan *request)})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	type result struct {
		queued bool
		err    error
	}
	done := make(chan result, 1)
	go func() {
		wait, err := s.Submit(ctx, Record{IP: netip.MustParseAddr("10.0.0.1"), ScrapedAt: time.Now(), Snapshot: []byte(`{"schema_version":1}`)})
		done <- result{wait != nil, err}
	}()
	select {
	case r := <-done:
		if !errors.Is(r.err, context.DeadlineExceeded) || r.queued {
			t.Fatalf("Submit into a full queue: queued %v, %v; want nothing queued and the context's deadline", r.queued, r.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Submit into a full queue still blocked 10 s after its context ended")
	}
}
