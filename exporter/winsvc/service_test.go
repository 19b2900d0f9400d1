package winsvc

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/oklog/run"
)

// recorder collects reported states; Run reports from its own goroutine.
type recorder struct {
	mu     sync.Mutex
	states []State
	seen   chan State
}

func newRecorder() *recorder { return &recorder{seen: make(chan State, 64)} }

func (r *recorder) report(s State) {
	r.mu.Lock()
	r.states = append(r.states, s)
	r.mu.Unlock()
	r.seen <- s
}

func (r *recorder) all() []State {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.states)
}

// waitFor blocks until the recorder has seen n states in total.
func (r *recorder) waitFor(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for len(r.all()) < n {
		select {
		case <-r.seen:
		case <-deadline:
			t.Fatalf("saw %v, waiting for %d states", r.all(), n)
		}
	}
}

func TestServiceTransitions(t *testing.T) {
	cases := []struct {
		name       string
		cmds       []Command
		exitCode   int
		wantStates []State
		wantStop   bool
	}{
		{
			name:       "stop by the service manager",
			cmds:       []Command{Stop},
			wantStates: []State{StartPending, Running, StopPending},
			wantStop:   true,
		},
		{
			name:       "machine shutdown",
			cmds:       []Command{Shutdown},
			wantStates: []State{StartPending, Running, StopPending},
			wantStop:   true,
		},
		{
			name:       "interrogate answers the current state",
			cmds:       []Command{Interrogate, Stop, Interrogate},
			wantStates: []State{StartPending, Running, Running, StopPending, StopPending},
			wantStop:   true,
		},
		{
			name:       "repeated stop is reported once",
			cmds:       []Command{Stop, Stop, Shutdown},
			wantStates: []State{StartPending, Running, StopPending},
			wantStop:   true,
		},
		{
			name:       "program fails on its own",
			exitCode:   1,
			wantStates: []State{StartPending, Running},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			rec := newRecorder()
			cmds := make(chan Command)
			result := make(chan int, 1)
			go func() { result <- s.Run(cmds, rec.report) }()
			rec.waitFor(t, 2)
			for _, c := range tc.cmds {
				cmds <- c // unbuffered: Run has taken it when this returns
			}
			rec.waitFor(t, len(tc.wantStates))
			select {
			case <-s.StopRequested():
				if !tc.wantStop {
					t.Error("stop requested without a stop command")
				}
			default:
				if tc.wantStop {
					t.Error("stop not requested")
				}
			}
			s.Exit(tc.exitCode)
			select {
			case code := <-result:
				if code != tc.exitCode {
					t.Errorf("Run returned %d, want %d", code, tc.exitCode)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return after Exit")
			}
			if got := rec.all(); !slices.Equal(got, tc.wantStates) {
				t.Errorf("states %v, want %v", got, tc.wantStates)
			}
		})
	}
}

// TestExitBeforeRun covers a program that fails (a bad flag) before the
// service manager has called the handler: Run must still end at once.
func TestExitBeforeRun(t *testing.T) {
	s := New()
	s.Exit(2)
	s.Exit(0) // ignored
	rec := newRecorder()
	if code := s.Run(make(chan Command), rec.report); code != 2 {
		t.Errorf("Run = %d, want 2", code)
	}
	if got := rec.all(); !slices.Equal(got, []State{StartPending, Running}) {
		t.Errorf("states %v", got)
	}
}

// TestActorStopsRunGroup checks a stop request ends a run group the way
// SIGTERM does, and that the actor also ends when another actor stops.
func TestActorStopsRunGroup(t *testing.T) {
	t.Run("stop request ends the group", func(t *testing.T) {
		s := New()
		cmds := make(chan Command)
		go s.Run(cmds, func(State) {})
		defer s.Exit(0)
		var g run.Group
		g.Add(s.Actor())
		server := make(chan struct{})
		g.Add(func() error { <-server; return nil }, func(error) { close(server) })
		done := make(chan error, 1)
		go func() { done <- g.Run() }()
		cmds <- Stop
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("group returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("group still running after stop request")
		}
	})
	t.Run("other actor ends the group", func(t *testing.T) {
		s := New()
		var g run.Group
		g.Add(s.Actor())
		boom := errors.New("listen failed")
		g.Add(func() error { return boom }, func(error) {})
		done := make(chan error, 1)
		go func() { done <- g.Run() }()
		select {
		case err := <-done:
			if !errors.Is(err, boom) {
				t.Errorf("group returned %v, want %v", err, boom)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("service actor did not stop when interrupted")
		}
	})
}

func TestStateString(t *testing.T) {
	for s, want := range map[State]string{StartPending: "StartPending", Running: "Running", StopPending: "StopPending", Stopped: "Stopped", 0: "unknown"} {
		if s.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(s), s.String(), want)
		}
	}
}
