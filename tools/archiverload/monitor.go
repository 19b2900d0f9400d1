package main

import (
	"sync"
	"time"
)

// monitor samples the archiver's descriptors, threads and resident set
// four times a second, because their peaks fall between the window's ends,
// and what each thread is doing (running, or blocked in which system call).
type monitor struct {
	mu          sync.Mutex
	maxFDs      int
	maxThreads  int
	maxRSS      int64
	samples     int
	busy        map[string]int // thread state samples that were not idle
	busySamples int
	quit        chan struct{}
	once        sync.Once
	wg          sync.WaitGroup
}

func startMonitor(pid int) *monitor {
	m := &monitor{quit: make(chan struct{}), busy: map[string]int{}}
	m.wg.Go(func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for tick := 0; ; tick++ {
			if tick%4 == 0 {
				if n, err := countFDs(pid); err == nil {
					m.mu.Lock()
					m.maxFDs = max(m.maxFDs, n)
					m.mu.Unlock()
				}
			}
			if s, err := sampleProcNoFDs(pid); err == nil {
				m.mu.Lock()
				m.maxThreads = max(m.maxThreads, s.Threads)
				m.maxRSS = max(m.maxRSS, s.RSSBytes)
				m.samples++
				m.mu.Unlock()
			}
			states := threadStates(pid)
			m.mu.Lock()
			for _, st := range states {
				if !idleState(st) {
					m.busy[st]++
					m.busySamples++
				}
			}
			m.mu.Unlock()
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

// blockedSummary says what busy threads were doing, and how many were busy
// on average.
func (m *monitor) blockedSummary() (string, float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.samples == 0 {
		return "none", 0
	}
	return summarizeStates(m.busy, 6), float64(m.busySamples) / float64(m.samples)
}
