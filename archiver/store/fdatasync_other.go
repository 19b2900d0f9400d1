//go:build !linux

package store

import (
	"errors"
	"os"
)

// haveSyncfs is false: without syncfs(2) every written file is fsynced.
const haveSyncfs = false

// fdatasync falls back to a full fsync where fdatasync is not available.
func fdatasync(f *os.File) error { return f.Sync() }

func syncfs(*os.File) error { return errors.ErrUnsupported }

func syncfsReportsErrors() bool { return false }
