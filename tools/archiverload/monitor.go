package main

import (
	"sync"
	"time"
)

// monitor samples the archiver's descriptors, threads and resident set
// twice a second, because their peaks fall between the window's ends.
type monitor struct {
	mu         sync.Mutex
	maxFDs     int
	maxThreads int
	maxRSS     int64
	samples    int
	quit       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

func startMonitor(pid int) *monitor {
	m := &monitor{quit: make(chan struct{})}
	m.wg.Go(func() {
		t := time.NewTicker(500 * time.Millisecond)
		defer t.Stop()
		for {
			if s, err := sampleProc(pid); err == nil {
				m.mu.Lock()
				m.maxFDs = max(m.maxFDs, s.FDs)
				m.maxThreads = max(m.maxThreads, s.Threads)
				m.maxRSS = max(m.maxRSS, s.RSSBytes)
				m.samples++
				m.mu.Unlock()
			}
			select {
			case <-m.quit:
				return
			case <-t.C:
			}
		}
	})
	return m
}

func (m *monitor) stop() {
	m.once.Do(func() { close(m.quit) })
	m.wg.Wait()
}

func (m *monitor) peaks() (fds, threads int, rss int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.maxFDs, m.maxThreads, m.maxRSS
}
