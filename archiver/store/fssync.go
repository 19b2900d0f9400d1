package store

import (
	"os"
	"sync"
)

// fsSync coalesces the shards' syncfs calls. syncfs flushes the whole
// filesystem, so when eight shards each ran their own every round the disk
// did the same flush eight times; now a shard whose data a running syncfs
// may have missed waits for the next one, which serves every shard that
// asked meanwhile (group commit across shards).
type fsSync struct {
	dir *os.File

	mu      sync.Mutex
	cond    *sync.Cond
	started uint64 // syncfs calls begun
	done    uint64 // syncfs calls finished
	running bool
	lastErr error
}

func newFSSync(dir *os.File) *fsSync {
	f := &fsSync{dir: dir}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// Sync returns once a syncfs that began after the call has finished, and
// that call's error.
func (f *fsSync) Sync() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// A sync already running may have started before our writes: we need
	// the one after it.
	target := f.started + 1
	for f.done < target {
		if !f.running {
			f.running = true
			f.started++
			gen := f.started
			f.mu.Unlock()
			err := syncAll(f.dir)
			f.mu.Lock()
			f.running = false
			f.done, f.lastErr = gen, err
			f.cond.Broadcast()
			continue
		}
		f.cond.Wait()
	}
	return f.lastErr
}
