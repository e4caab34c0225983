package plugin

import (
	"errors"
	"os"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/plugin/internal/server"
)

// Version is the plugin's version string, reported by Health and Configure.
// Release builds set it with -ldflags "-X github.com/pagechat/pagechat/plugin.Version=...".
var Version = "dev"

// ErrNotStartedByHost is returned by Serve when the process was started by a
// person rather than by a pagechat host, so there is nobody to talk to.
var ErrNotStartedByHost = server.ErrNotStartedByHost

// ServeOption configures Serve. Options validate themselves, so a bad value
// is an error from Serve, not a panic.
type ServeOption interface {
	applyServeOption(*server.ServeConfig) error
}

type serveOptionFunc func(*server.ServeConfig) error

func (f serveOptionFunc) applyServeOption(c *server.ServeConfig) error { return f(c) }

// WithLogger sets the logger; the default writes JSON to stderr, which
// go-plugin turns into log lines of the host.
func WithLogger(l hclog.Logger) ServeOption {
	return serveOptionFunc(func(c *server.ServeConfig) error {
		if l == nil {
			return errors.New("WithLogger: logger is nil")
		}
		c.Logger = l
		return nil
	})
}

// Serve runs the plugin until the host stops it, or until the host process
// dies. It returns ErrNotStartedByHost at once if no host started it.
func Serve(opts ...ServeOption) error {
	cfg := server.ServeConfig{Version: Version}
	for _, o := range opts {
		if err := o.applyServeOption(&cfg); err != nil {
			return err
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = hclog.New(&hclog.LoggerOptions{
			Name:       "pagechat-plugin",
			Level:      hclog.Debug,
			Output:     os.Stderr,
			JSONFormat: true,
		})
	}
	return server.Serve(cfg)
}
