package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
)

// EnvDebugAddr names the environment variable that turns on the plugin's
// profiler: a loopback address such as 127.0.0.1:6061 on which the plugin
// serves Go's net/http/pprof. It is off unless the host sets it (host-sdk's
// WithPluginEnv; the example wiki's -plugin-debug-addr), so that an admin
// can see where the plugin's time goes under load without exposing it.
const EnvDebugAddr = "PAGECHAT_PLUGIN_DEBUG_ADDR"

// serveDebug starts the profiler if EnvDebugAddr is set. An address that
// is not loopback, or that cannot be listened on, is an error: the host
// asked for something it cannot have, and should hear so at start-up.
func serveDebug(logger hclog.Logger) (stop func(), err error) {
	addr := os.Getenv(EnvDebugAddr)
	if addr == "" {
		return func() {}, nil
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s=%q: the profiler must listen on a loopback address such as 127.0.0.1:6061", EnvDebugAddr, addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", EnvDebugAddr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("plugin profiler stopped", "error", err)
		}
	}()
	logger.Info("plugin profiler listening", "url", "http://"+ln.Addr().String()+"/debug/pprof/")
	return func() { _ = srv.Close() }, nil
}
