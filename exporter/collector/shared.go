package collector

import (
	"context"
	"errors"
	"sync"
)

// The collectors of one collection run at once, and some need the same
// file (on Linux /proc/stat: CPU times for one, boot time for two). The
// Set gives each collection a cache, so such a file is read and parsed once,
// by whichever collector asks first, without the collectors knowing about
// each other or running in an order.

type collectionCache struct {
	mu      sync.Mutex
	entries map[any]*cacheEntry
}

type cacheEntry struct {
	once sync.Once
	v    any
	err  error
}

type collectionCacheKey struct{}

// errLoadPanicked is what the others get when the collector that loaded a
// shared value panicked doing so (its own panic is reported as such).
var errLoadPanicked = errors.New("shared read panicked")

// withCollectionCache starts the cache of one collection.
func withCollectionCache(ctx context.Context) context.Context {
	return context.WithValue(ctx, collectionCacheKey{}, &collectionCache{entries: map[any]*cacheEntry{}})
}

// shared returns what load returns, loading it at most once per collection
// for key; the value must not be modified. Outside a collection (a
// collector's first reading at start-up) it simply calls load.
func shared[T any](ctx context.Context, key any, load func() (T, error)) (T, error) {
	c, _ := ctx.Value(collectionCacheKey{}).(*collectionCache)
	if c == nil {
		return load()
	}
	c.mu.Lock()
	e := c.entries[key]
	if e == nil {
		e = &cacheEntry{}
		c.entries[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() {
		e.err = errLoadPanicked // left in place only if load does not return
		e.v, e.err = load()
	})
	v, _ := e.v.(T)
	return v, e.err
}
