package store

import (
	"os"

	"golang.org/x/sys/unix"
)

// haveSyncfs says syncfs(2) exists: one call makes every file written on
// the filesystem durable, so a second of lines spread over thousands of day
// files costs one journal commit instead of thousands of fsyncs.
const haveSyncfs = true

// fdatasync flushes a file's data and the size needed to read it back, but
// not its timestamps: for appends that is all durability needs, at one
// journal write less than fsync.
func fdatasync(f *os.File) error {
	return control(f, "fdatasync", unix.Fdatasync)
}

// syncfs flushes the whole filesystem holding d, directory entries
// included. Since Linux 5.8 it reports writeback errors of any file there.
func syncfs(d *os.File) error {
	return control(d, "syncfs", unix.Syncfs)
}

func control(f *os.File, op string, call func(fd int) error) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for {
			serr = call(int(fd))
			if serr != unix.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	if serr != nil {
		return &os.PathError{Op: op, Path: f.Name(), Err: serr}
	}
	return nil
}
