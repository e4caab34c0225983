package store

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// processCPU is the user and system CPU time this process has used.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// BenchmarkDiskFlush is the disk's part of a commit without bbolt: write
// pages 4 KiB pages at scattered offsets of an allocated file and
// fdatasync it. A bbolt commit does this twice, once for its data pages
// (nine to fifteen for one message, see BenchmarkAppendPagesPerCommit) and
// once for the meta page, so pages=1 and pages=12 bound what a commit can
// cost on this disk whatever the store's own code does. cpu_us/op is the
// kernel's CPU time for it, which the process is charged.
func BenchmarkDiskFlush(b *testing.B) {
	for _, pages := range []int{1, 12} {
		b.Run("pages="+strconv.Itoa(pages), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "flush"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			const filePages = 16 << 10 // 64 MiB, written once so no write allocates
			zero := make([]byte, 1<<20)
			for range filePages * 4096 / len(zero) {
				if _, err := f.Write(zero); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			page := make([]byte, 4096)
			cpu0, _ := processCPU()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				for p := range pages {
					// A stride that lands each page far from the others.
					off := int64((i*37+p*997)%filePages) * 4096
					if _, err := f.WriteAt(page, off); err != nil {
						b.Fatal(err)
					}
				}
				if err := syscall.Fdatasync(int(f.Fd())); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			cpu1, _ := processCPU()
			b.ReportMetric(float64((cpu1-cpu0).Microseconds())/float64(b.N), "cpu_us/op")
		})
	}
}
