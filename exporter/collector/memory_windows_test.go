package collector

import "testing"

// TestPageFilesCall reads the page files; under Wine the call is refused
// and swapUsage's fallback is what the memory collector uses.
func TestPageFilesCall(t *testing.T) {
	total, used, err := pageFiles()
	if err != nil {
		t.Skipf("SystemPageFileInformation refused here: %v", err)
	}
	if used > total {
		t.Errorf("page file use %d exceeds size %d", used, total)
	}
	t.Logf("page files: %d bytes, %d in use", total, used)
}
