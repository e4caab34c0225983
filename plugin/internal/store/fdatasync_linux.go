package store

import (
	"os"
	"syscall"
)

// fdatasync flushes f's data, and its size when that changed, without
// the other metadata a full fsync also writes (as bbolt does on Linux).
func fdatasync(f *os.File) error {
	for {
		err := syscall.Fdatasync(int(f.Fd()))
		if err != syscall.EINTR {
			return err
		}
	}
}
