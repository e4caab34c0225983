package server

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// The profiler is off unless asked for, and only ever on loopback.
func TestProfilerIsOptInAndLoopbackOnly(t *testing.T) {
	logger := hclog.NewNullLogger()

	t.Setenv(EnvDebugAddr, "")
	stop, err := serveDebug(logger)
	if err != nil {
		t.Fatalf("unset: %v", err)
	}
	stop()

	for _, bad := range []string{"0.0.0.0:0", "192.0.2.1:6061", "localhost", ":6061"} {
		t.Setenv(EnvDebugAddr, bad)
		if stop, err := serveDebug(logger); err == nil {
			stop()
			t.Errorf("%s=%q: no error", EnvDebugAddr, bad)
		}
	}

	// A free loopback port, then the profiler on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	t.Setenv(EnvDebugAddr, addr)
	stop, err = serveDebug(logger)
	if err != nil {
		t.Fatalf("%s=%q: %v", EnvDebugAddr, addr, err)
	}
	defer stop()
	defer http.DefaultClient.CloseIdleConnections()
	resp, err := http.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
		t.Errorf("profiler index: %d %.200s", resp.StatusCode, body)
	}
}
