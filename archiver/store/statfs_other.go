//go:build !linux && !darwin && !freebsd && !windows

package store

import "errors"

// diskFree is not implemented here: archiver_storage_free_bytes is absent.
func diskFree(string) (uint64, error) { return 0, errors.ErrUnsupported }
