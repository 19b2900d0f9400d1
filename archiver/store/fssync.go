package store

import (
	"fmt"
	"os"
	"sync"
	"sync/atomic"
)

// fsSync coalesces the shards' syncfs calls. syncfs flushes the whole
// filesystem, so when eight shards each ran their own every round the disk
// did the same flush eight times; now a shard whose data a running syncfs
// may have missed waits for the next one, which serves every shard that
// asked meanwhile (group commit across shards).
//
// syncfs reports a writeback error once (the kernel's errseq): whichever
// call comes first after the failed writeback gets it, and the next call
// succeeds although the data is gone. So a caller's data is safe only if
// no call failed from the moment it began writing (its mark) up to the
// call that covers it; calls are numbered in the order they run, one at a
// time.
type fsSync struct {
	dir *os.File

	mu       sync.Mutex
	cond     *sync.Cond
	started  uint64 // syncfs calls begun
	done     atomic.Uint64
	running  bool
	failures []syncFailure // the latest failed calls, oldest first
	forgot   uint64        // failures of calls up to this one were dropped
}

type syncFailure struct {
	call uint64
	err  error
}

// maxFailures bounds the failures remembered; a caller whose mark is older
// than the ones kept is failed rather than risk acknowledging lost data.
const maxFailures = 64

func newFSSync(dir *os.File) *fsSync {
	f := &fsSync{dir: dir}
	f.cond = sync.NewCond(&f.mu)
	return f
}

// mark is taken before writing: every syncfs call after it may be the one
// that reports (and so consumes) an error of those writes.
func (f *fsSync) mark() uint64 { return f.done.Load() }

// Sync returns once a syncfs that began after the call has finished. It
// returns an error if that call, or any call since mark (a value of mark
// taken before the data to cover was written), failed.
func (f *fsSync) Sync(mark uint64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	// A sync already running may have started before our writes: we need
	// the one after it.
	target := f.started + 1
	for f.done.Load() < target {
		if !f.running {
			f.running = true
			f.started++
			call := f.started
			f.mu.Unlock()
			err := syncAll(f.dir)
			f.mu.Lock()
			f.running = false
			if err != nil {
				f.failures = append(f.failures, syncFailure{call, err})
				if len(f.failures) > maxFailures {
					f.forgot = f.failures[0].call
					f.failures = f.failures[1:]
				}
			}
			f.done.Store(call)
			f.cond.Broadcast()
			continue
		}
		f.cond.Wait()
	}
	if mark < f.forgot {
		return fmt.Errorf("syncfs failed %d times since these writes", maxFailures)
	}
	for _, fail := range f.failures {
		if fail.call > mark && fail.call <= target {
			if fail.call == target {
				return fail.err
			}
			return fmt.Errorf("an earlier syncfs reported the writeback error: %w", fail.err)
		}
	}
	return nil
}
