package hostsdk

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
)

// orphanHostEnv makes the test binary act as a host that loads the plugin,
// prints the plugin's pid and waits to be killed.
const orphanHostEnv = "PAGECHAT_TEST_ORPHAN_HOST"

// runOrphanHost is that host. It runs instead of the tests.
func runOrphanHost(pluginPath, dataDir, socketDir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Load(ctx, pluginPath, dataDir, newTestHost(), WithSocketDir(socketDir))
	if err != nil {
		fmt.Fprintln(os.Stderr, "orphan host:", err)
		return 1
	}
	in, err := c.live(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "orphan host:", err)
		return 1
	}
	fmt.Println(in.pc.ReattachConfig().Pid)
	select {} // until killed
}

// processGone reports whether pid has exited (a zombie counts: it holds
// no locks and runs no code).
func processGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

// TestPluginExitsWhenItsHostDies kills a host with SIGKILL, so it cannot
// shut the plugin down: the plugin must notice and exit by itself, or it
// would keep the bbolt lock and block the next start of the host.
func TestPluginExitsWhenItsHostDies(t *testing.T) {
	t.Parallel()
	plugin := pluginBinary(t)
	dataDir := t.TempDir()
	host := exec.Command(os.Args[0], "-test.run=^$")
	host.Env = append(os.Environ(), orphanHostEnv+"="+strings.Join([]string{plugin, dataDir, binDir}, string(filepath.ListSeparator)))
	host.Stderr = os.Stderr
	out, err := host.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("host printed no plugin pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("host printed %q, not a pid", line)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })

	if err := host.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = host.Wait()
	testutil.Eventually(t, 15*time.Second, func() bool { return processGone(pid) }, "plugin %d to exit after its host died", pid)
	// The next host starts on the same data: the database lock is free.
	c := loadPlugin(t, newTestHost(), dataDir)
	if h, err := c.Health(testCtx(t)); err != nil || !h.Configured {
		t.Fatalf("next host's plugin: %+v, %v", h, err)
	}
}
