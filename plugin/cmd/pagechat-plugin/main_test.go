package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunByHandExplainsAndFails runs the built binary the way an admin
// might by mistake: it must say it is a plugin and exit non-zero, and print
// nothing on stdout (where go-plugin's handshake would go).
func TestRunByHandExplainsAndFails(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "pagechat-plugin")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("run: %v, want a non-zero exit", err)
	}
	if !strings.Contains(stderr.String(), "pagechat plugin") || !strings.Contains(stderr.String(), "host") {
		t.Errorf("stderr %q does not explain that this is a plugin for a host", stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing", stdout.String())
	}
}
