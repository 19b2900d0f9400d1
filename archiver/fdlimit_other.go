//go:build !unix

package main

// fileLimit is unknown here; the store's default applies.
func fileLimit() uint64 { return 0 }
