package push

// syncDir does nothing: Windows cannot open a directory for fsync, and
// NTFS journals the rename itself.
func syncDir(string) error { return nil }
