package store

import (
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Many shards asking at once share few syncfs calls, and every caller's
// sync began after it asked.
func TestFSSyncCoalesces(t *testing.T) {
	var calls atomic.Int64
	var mu sync.Mutex
	var starts []time.Time
	orig := syncAll
	syncAll = func(*os.File) error {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		calls.Add(1)
		time.Sleep(20 * time.Millisecond) // a disk flush takes a while
		return nil
	}
	t.Cleanup(func() { syncAll = orig })

	f := newFSSync(nil)
	const callers = 32
	var wg sync.WaitGroup
	asked := make([]time.Time, callers)
	finished := make([]time.Time, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			asked[i] = time.Now()
			if err := f.Sync(f.mark()); err != nil {
				t.Error(err)
			}
			finished[i] = time.Now()
		}()
	}
	wg.Wait()
	if n := calls.Load(); n >= callers/2 {
		t.Fatalf("%d syncfs calls for %d callers: not coalesced", n, callers)
	}
	// Each caller must have been covered by a sync that started after it asked.
	mu.Lock()
	defer mu.Unlock()
	for i := range callers {
		covered := false
		for _, s := range starts {
			if !s.Before(asked[i]) && !s.After(finished[i]) {
				covered = true
			}
		}
		if !covered {
			t.Fatalf("caller %d (asked %v) returned without a sync that began after it asked", i, asked[i])
		}
	}
}
