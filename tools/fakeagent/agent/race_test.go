//go:build race

package agent

// raceEnabled shrinks the fleet self-check under the race detector, which
// makes each request about ten times dearer.
const raceEnabled = true
