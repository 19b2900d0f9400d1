package store

import (
	"os"
	"strconv"
	"strings"

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

// syncfsReportsErrors says whether this kernel's syncfs reports writeback
// errors (Linux 5.8 and later); before that it returns 0 even when data
// was lost, and only per-file fsyncs can be trusted.
func syncfsReportsErrors() bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return false
	}
	return kernelAtLeast(unix.ByteSliceToString(u.Release[:]), 5, 8)
}

// kernelAtLeast compares a release such as "5.10.0-28-amd64".
func kernelAtLeast(release string, major, minor int) bool {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return false
	}
	maj, err1 := strconv.Atoi(parts[0])
	digits := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if digits < 0 {
		digits = len(parts[1])
	}
	mnr, err2 := strconv.Atoi(parts[1][:digits])
	if err1 != nil || err2 != nil {
		return false
	}
	return maj > major || (maj == major && mnr >= minor)
}
