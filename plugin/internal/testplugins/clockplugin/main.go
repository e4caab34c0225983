// Command clockplugin is a test fixture: the real pagechat plugin with a
// clock the test controls, so end-to-end tests can put messages on chosen
// days. The clock reads an RFC 3339 time from the file named by
// PAGECHAT_TEST_CLOCK_FILE on every call, so the test moves it by rewriting
// the file; while the file is missing or unreadable the clock is the real
// one.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/plugin/internal/server"
)

// ClockFileEnv names the environment variable with the clock file's path.
const ClockFileEnv = "PAGECHAT_TEST_CLOCK_FILE"

func main() {
	path := os.Getenv(ClockFileEnv)
	now := func() time.Time {
		if path == "" {
			return time.Now()
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return time.Now()
		}
		t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
		if err != nil {
			return time.Now()
		}
		return t
	}
	logger := hclog.New(&hclog.LoggerOptions{Name: "pagechat-plugin", Level: hclog.Debug, Output: os.Stderr, JSONFormat: true})
	if err := server.Serve(server.ServeConfig{Logger: logger, Now: now, Version: "clockplugin"}); err != nil {
		fmt.Fprintf(os.Stderr, "clockplugin: %v\n", err)
		os.Exit(1)
	}
}
