package collector

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

func TestShared(t *testing.T) {
	var loads atomic.Int32
	load := func() (int, error) { loads.Add(1); return 42, nil }

	tests := []struct {
		name      string
		ctx       context.Context
		callers   int
		wantLoads int32
	}{
		{"one collection: one load for all its collectors", withCollectionCache(context.Background()), 8, 1},
		{"outside a collection: every caller loads", context.Background(), 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loads.Store(0)
			var wg sync.WaitGroup
			for range tt.callers {
				wg.Go(func() {
					if v, err := shared(tt.ctx, "k", load); v != 42 || err != nil {
						t.Errorf("got %v, %v", v, err)
					}
				})
			}
			wg.Wait()
			if got := loads.Load(); got != tt.wantLoads {
				t.Fatalf("%d loads, want %d", got, tt.wantLoads)
			}
		})
	}
}

// Each collection reads afresh, and a key's value is not another key's.
func TestSharedPerCollectionAndKey(t *testing.T) {
	n := 0
	load := func() (int, error) { n++; return n, nil }
	a, b := withCollectionCache(context.Background()), withCollectionCache(context.Background())
	for _, c := range []struct {
		ctx  context.Context
		key  string
		want int
	}{{a, "x", 1}, {a, "x", 1}, {a, "y", 2}, {b, "x", 3}} {
		if v, _ := shared(c.ctx, c.key, load); v != c.want {
			t.Fatalf("key %s: %d, want %d", c.key, v, c.want)
		}
	}
}

// A collector that panics while loading reports its panic; the others get
// an error, not a zero value that looks read.
func TestSharedLoadPanics(t *testing.T) {
	ctx := withCollectionCache(context.Background())
	func() {
		defer func() { _ = recover() }()
		_, _ = shared(ctx, "k", func() (*payload, error) { panic("boom") })
	}()
	v, err := shared(ctx, "k", func() (*payload, error) { return &payload{}, nil })
	if v != nil || !errors.Is(err, errLoadPanicked) {
		t.Fatalf("after a panicking load: %v, %v; want nil, errLoadPanicked", v, err)
	}
}

type payload struct{}
