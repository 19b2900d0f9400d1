package collector

import (
	"context"
	"testing"
)

// TestSessionsCall checks the WTS calls work on this host. Whether anyone
// is logged in depends on the host, so only the shape is checked.
func TestSessionsCall(t *testing.T) {
	users, err := newSessionReader(DefaultConfig()).Sessions(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range users {
		if u.User == "" || u.SessionID == nil || u.State == "" {
			t.Errorf("incomplete session %+v", u)
		}
		t.Logf("%+v", u)
	}
}
