package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/pagechat/pagechat/internal/handshake"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// ErrNotStartedByHost is returned by Serve when the process was started by a
// person rather than by a pagechat host, so there is nobody to talk to.
var ErrNotStartedByHost = errors.New("this binary is a pagechat plugin, meant to be started by a pagechat host (for example the example wiki), not run directly")

// ServeOption configures Serve. Options validate themselves, so a bad value
// is an error from Serve, not a panic.
type ServeOption interface {
	applyServeOption(*serveConfig) error
}

type serveOptionFunc func(*serveConfig) error

func (f serveOptionFunc) applyServeOption(c *serveConfig) error { return f(c) }

type serveConfig struct {
	logger      hclog.Logger
	now         func() time.Time
	parentCheck time.Duration
}

// WithLogger sets the logger; the default writes JSON to stderr, which
// go-plugin turns into log lines of the host.
func WithLogger(l hclog.Logger) ServeOption {
	return serveOptionFunc(func(c *serveConfig) error {
		if l == nil {
			return errors.New("WithLogger: logger is nil")
		}
		c.logger = l
		return nil
	})
}

// WithClock replaces time.Now, for tests that need messages on chosen days.
func WithClock(now func() time.Time) ServeOption {
	return serveOptionFunc(func(c *serveConfig) error {
		if now == nil {
			return errors.New("WithClock: clock is nil")
		}
		c.now = now
		return nil
	})
}

// DefaultParentCheckInterval is how often the plugin checks that the host
// that started it still runs. A plugin outliving its host would keep the
// bbolt lock and block the next host start, so the check is frequent.
const DefaultParentCheckInterval = time.Second

// Serve runs the plugin until the host stops it, or until the host process
// dies. It returns ErrNotStartedByHost at once if no host started it.
func Serve(opts ...ServeOption) error {
	cfg := serveConfig{parentCheck: DefaultParentCheckInterval, now: time.Now}
	for _, o := range opts {
		if err := o.applyServeOption(&cfg); err != nil {
			return err
		}
	}
	if os.Getenv(handshake.MagicCookieKey) != handshake.MagicCookieValue {
		return ErrNotStartedByHost
	}
	if cfg.logger == nil {
		cfg.logger = hclog.New(&hclog.LoggerOptions{
			Name:       "pagechat-plugin",
			Level:      hclog.Debug,
			Output:     os.Stderr,
			JSONFormat: true,
		})
	}
	srv := NewServer(cfg.logger, cfg.now)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchParent(ctx, cfg.parentCheck, func() {
		cfg.logger.Warn("host process is gone; closing storage and exiting")
		srv.close()
		os.Exit(0)
	})
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: handshake.Config,
		VersionedPlugins: map[int]goplugin.PluginSet{
			handshake.ProtocolVersion: {handshake.PluginName: &GRPCPlugin{Chat: srv}},
		},
		GRPCServer: goplugin.DefaultGRPCServer,
		Logger:     cfg.logger,
	})
	srv.close()
	return nil
}

// watchParent calls gone once the parent process has exited. A process
// whose parent dies is re-parented, so a changed parent id means the host
// is gone.
func watchParent(ctx context.Context, every time.Duration, gone func()) {
	parent := os.Getppid()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if os.Getppid() != parent {
				gone()
				return
			}
		}
	}
}

// GRPCPlugin is the go-plugin glue for the chat service on the plugin side.
// host-sdk has its own counterpart for the client side.
type GRPCPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	// Chat is the chat service to register.
	Chat *Server
}

var _ goplugin.GRPCPlugin = (*GRPCPlugin)(nil)

// GRPCServer registers the chat service and remembers the broker, through
// which Configure reaches the host's callback API.
func (p *GRPCPlugin) GRPCServer(broker *goplugin.GRPCBroker, s *grpc.Server) error {
	p.Chat.dialHost = broker.Dial
	chatv1.RegisterChatPluginServer(s, p.Chat)
	return nil
}

// GRPCClient is not used on the plugin side.
func (p *GRPCPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("pagechat: GRPCClient is implemented by host-sdk, not the plugin")
}
