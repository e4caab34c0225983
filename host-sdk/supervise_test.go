package hostsdk

import (
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/pagechat/pagechat/internal/testutil"
)

// runningPID is the pid of the plugin process the Client holds, or 0 if
// it holds none or that process has exited. Unlike pluginPID it never
// starts a process, so it shows what the Client did on its own.
func runningPID(c *Client) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil || c.cur.exited() {
		return 0
	}
	if rc := c.cur.pc.ReattachConfig(); rc != nil {
		return rc.Pid
	}
	return 0
}

// TestKilledPluginIsRestartedWithoutACall checks security finding #11: a
// plugin killed on a quiet site comes back by itself, within the restart
// back-off, with no call to trigger it.
func TestKilledPluginIsRestartedWithoutACall(t *testing.T) {
	t.Parallel()
	const maxBackoff = 200 * time.Millisecond
	c := loadPlugin(t, newTestHost(), t.TempDir(), WithRestartBackoff(10*time.Millisecond, maxBackoff))
	for kill := range 2 {
		pid := runningPID(c)
		if pid == 0 {
			t.Fatalf("kill %d: no plugin process running", kill)
		}
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, waitTimeout, func() bool {
			n := runningPID(c)
			return n != 0 && n != pid
		}, "a new plugin process after kill -9 of %d", pid)
		// The back-off plus a process start; generous for a loaded
		// machine, but far short of "never", which is what it was.
		if d := time.Since(killed); d > 10*time.Second {
			t.Errorf("kill %d: plugin back after %v", kill, d)
		}
	}
	if _, err := c.Health(testCtx(t)); err != nil {
		t.Fatalf("Health after the restarts: %v", err)
	}
}

// Not parallel: goleak sees every goroutine of the process.
func TestClientCloseStopsTheSupervisor(t *testing.T) {
	before := goleak.IgnoreCurrent()
	c := loadPlugin(t, newTestHost(), t.TempDir())
	// Kill it so Close meets the supervisor mid-restart or just after.
	pid := runningPID(c)
	if pid == 0 {
		t.Fatal("no plugin process running")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Logf("Close after kill: %v", err)
	}
	goleak.VerifyNone(t, before)
}
