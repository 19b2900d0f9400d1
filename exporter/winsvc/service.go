// Package winsvc is what running the exporter as a Windows service needs
// beyond the Windows API: the service's state machine and a size-bounded
// log file. exporter/0_service_windows.go connects them to the service
// control manager, so everything here is tested on any OS.
package winsvc

import "sync"

// State is a service state as the service control manager knows it.
type State int

// The states a service reports; Stopped is reported by the caller when Run
// returns (x/sys/windows/svc does so when Execute returns).
const (
	StartPending State = iota + 1
	Running
	StopPending
	Stopped
)

func (s State) String() string {
	switch s {
	case StartPending:
		return "StartPending"
	case Running:
		return "Running"
	case StopPending:
		return "StopPending"
	case Stopped:
		return "Stopped"
	default:
		return "unknown"
	}
}

// Command is a control request from the service control manager.
type Command int

// The control requests the exporter accepts.
const (
	Interrogate Command = iota + 1
	Stop
	Shutdown
)

// Service is one run of the program under the service control manager. It
// reports Running at once, before the program does anything slow (the
// manager gives up on services that stay StartPending), turns Stop and
// Shutdown into a closed StopRequested channel, and ends when the program
// calls Exit.
type Service struct {
	stopOnce sync.Once
	stop     chan struct{}
	exitOnce sync.Once
	exited   chan struct{}
	code     int
}

// New returns a service that has not started yet.
func New() *Service {
	return &Service{stop: make(chan struct{}), exited: make(chan struct{})}
}

// StopRequested is closed when the service control manager asks the
// service to stop or the machine shuts down.
func (s *Service) StopRequested() <-chan struct{} { return s.stop }

// Exit tells Run the program has finished with the given exit status;
// later calls are ignored.
func (s *Service) Exit(code int) {
	s.exitOnce.Do(func() {
		s.code = code
		close(s.exited)
	})
}

// Run answers the service control manager: it reports each state change
// through report, answers Interrogate with the current state, and returns
// the program's exit status once Exit is called. A non-zero status is a
// failure: the caller reports it as a service-specific exit code, which
// makes the manager's recovery actions (restart) apply.
func (s *Service) Run(cmds <-chan Command, report func(State)) int {
	report(StartPending)
	state := Running
	report(state)
	for {
		select {
		case c := <-cmds:
			switch c {
			case Interrogate:
				report(state)
			case Stop, Shutdown:
				if state == Running {
					// Ask the program to stop before telling the service
					// manager, so anyone who saw StopPending sees the request.
					state = StopPending
					s.stopOnce.Do(func() { close(s.stop) })
					report(state)
				}
			}
		case <-s.exited:
			return s.code
		}
	}
}

// Actor is an oklog/run actor that returns when the service control manager
// asks to stop, so the program's run group shuts down as on SIGTERM.
func (s *Service) Actor() (execute func() error, interrupt func(error)) {
	cancel := make(chan struct{})
	var once sync.Once
	return func() error {
			select {
			case <-s.stop:
			case <-cancel:
			}
			return nil
		}, func(error) {
			once.Do(func() { close(cancel) })
		}
}
