package hostsdk

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
)

// checksumFixture is a plugin directory an attacker can write: the good
// binary at path, and a different but working binary (the good one with
// bytes appended) beside it, both as hard links so a rename swaps them in
// one step.
type checksumFixture struct {
	dir, path, good, bad string
	goodSum              [32]byte
}

func newChecksumFixture(t *testing.T) checksumFixture {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc/<pid>/exe")
	}
	data, err := os.ReadFile(pluginBinary(t))
	if err != nil {
		t.Fatal(err)
	}
	f := checksumFixture{dir: t.TempDir(), goodSum: sha256.Sum256(data)}
	f.path = filepath.Join(f.dir, "pagechat-plugin")
	f.good = filepath.Join(f.dir, "good")
	f.bad = filepath.Join(f.dir, "bad")
	if err := os.WriteFile(f.good, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.bad, append(data, "swapped"...), 0o755); err != nil {
		t.Fatal(err)
	}
	f.install(t, f.good)
	return f
}

// install renames a fresh link to src over the plugin path, as an
// attacker with write access to the directory would.
func (f checksumFixture) install(t testing.TB, src string) {
	t.Helper()
	tmp := filepath.Join(f.dir, fmt.Sprintf("tmp-%d", time.Now().UnixNano()))
	if err := os.Link(src, tmp); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, f.path); err != nil {
		t.Error(err)
	}
}

func (f checksumFixture) load(ctx context.Context, dataDir string) (*Client, error) {
	return Load(ctx, f.path, dataDir, newTestHost(),
		WithChecksum(hex.EncodeToString(f.goodSum[:])), WithSocketDir(binDir),
		WithRestartBackoff(10*time.Millisecond, 50*time.Millisecond))
}

// exeSum is the SHA-256 of what process pid executes, read through the
// kernel's link to the running image, which follows no path.
func exeSum(t testing.TB, pid int) [32]byte {
	t.Helper()
	fh, err := os.Open(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

func noExecDirsLeft(t testing.TB, dataDir string) {
	t.Helper()
	left, err := filepath.Glob(filepath.Join(dataDir, execDirPattern))
	if err != nil || len(left) > 0 {
		t.Errorf("private copies left in %s: %v, %v", dataDir, left, err)
	}
}

// TestChecksumSurvivesBinarySwapAndRestart checks security finding #9:
// once Load verified the binary, replacing the file and killing the
// plugin must not get the replacement run by the restart.
func TestChecksumSurvivesBinarySwapAndRestart(t *testing.T) {
	t.Parallel()
	f := newChecksumFixture(t)
	dataDir := t.TempDir()
	c, err := f.load(testCtx(t), dataDir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	pid := runningPID(c)
	if pid == 0 {
		t.Fatal("no plugin process running")
	}
	// It runs a private copy, not the path an attacker can rename over.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || filepath.Dir(exe) == f.dir {
		t.Errorf("plugin runs %q (%v), want a private copy outside %s", exe, err, f.dir)
	}
	if exeSum(t, pid) != f.goodSum {
		t.Error("plugin does not run the verified binary")
	}

	f.install(t, f.bad)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// The restart verifies again and refuses the swapped file.
	_, err = c.Health(testCtx(t))
	if !errors.Is(err, ErrChecksumMismatch) {
		t.Fatalf("Health after the swap: %v, want ErrChecksumMismatch", err)
	}
	if n := runningPID(c); n != 0 {
		t.Fatalf("process %d runs after the swap (sha256 good: %v)", n, exeSum(t, n) == f.goodSum)
	}

	// Put the good binary back: the supervisor brings the plugin up.
	f.install(t, f.good)
	testutil.Eventually(t, waitTimeout, func() bool { return runningPID(c) != 0 }, "plugin back with the good binary")
	if n := runningPID(c); n != 0 && exeSum(t, n) != f.goodSum {
		t.Error("restarted plugin does not run the verified binary")
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	noExecDirsLeft(t, dataDir)
}

// TestChecksumRaceWithSwappingBinary checks security finding #9 against
// the race itself: while the plugin path flips between the good binary
// and another one, every Load that succeeds runs the good one.
func TestChecksumRaceWithSwappingBinary(t *testing.T) {
	t.Parallel()
	f := newChecksumFixture(t)
	dataDir := t.TempDir()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f.install(t, []string{f.good, f.bad}[i%2])
		}
	})
	const loads = 20
	ok := 0
	for i := range loads {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := f.load(ctx, dataDir)
		cancel()
		if err != nil {
			if !errors.Is(err, ErrChecksumMismatch) {
				t.Errorf("load %d: %v, want success or ErrChecksumMismatch", i, err)
			}
			noExecDirsLeft(t, dataDir)
			continue
		}
		ok++
		pid := runningPID(c)
		if pid == 0 {
			t.Errorf("load %d: no plugin process", i)
		} else if exeSum(t, pid) != f.goodSum {
			t.Errorf("load %d: the plugin process runs the swapped binary", i)
		}
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		noExecDirsLeft(t, dataDir)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d of %d loads succeeded", ok, loads)
	if ok == 0 {
		t.Error("no Load succeeded; the test proved nothing")
	}
}
