//go:build !windows

package store

import "os"

// syncDirHandle makes a directory's entries durable, so a file created just
// before a crash is still found after it.
func syncDirHandle(d *os.File) error { return d.Sync() }
