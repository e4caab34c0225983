package server

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/pagechat/pagechat/internal/grpcopts"
	"github.com/pagechat/pagechat/internal/handshake"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// ErrNotStartedByHost is returned by Serve when the process was started by a
// person rather than by a pagechat host, so there is nobody to talk to.
var ErrNotStartedByHost = errors.New("this binary is a pagechat plugin, meant to be started by a pagechat host (for example the example wiki), not run directly")

// DefaultParentCheckInterval is how often the plugin checks that the host
// that started it still runs. A plugin outliving its host would keep the
// bbolt lock and block the next host start, so the check is frequent.
const DefaultParentCheckInterval = time.Second

// ServeConfig is what Serve needs. The public plugin package fills it from
// its options; test plugins set fields the public API does not offer.
type ServeConfig struct {
	// Logger receives the plugin's logs; required.
	Logger hclog.Logger
	// Version is reported by Health and Configure.
	Version string
	// Now is the clock; nil means time.Now. Test plugins replace it to put
	// messages on chosen days.
	Now func() time.Time
	// ParentCheck is how often the host process is checked; 0 means
	// DefaultParentCheckInterval.
	ParentCheck time.Duration
}

// Serve runs the chat service under go-plugin until the host stops it or
// dies.
func Serve(cfg ServeConfig) error {
	if os.Getenv(handshake.MagicCookieKey) != handshake.MagicCookieValue {
		return ErrNotStartedByHost
	}
	if cfg.Logger == nil {
		return errors.New("serve: no logger")
	}
	if cfg.ParentCheck <= 0 {
		cfg.ParentCheck = DefaultParentCheckInterval
	}
	stopDebug, err := serveDebug(cfg.Logger)
	if err != nil {
		return err
	}
	defer stopDebug()
	srv := New(cfg.Logger, cfg.Now, cfg.Version)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go watchParent(ctx, cfg.ParentCheck, func() {
		cfg.Logger.Warn("host process is gone; closing storage and exiting")
		_ = srv.Close()
		os.Exit(0)
	})
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: handshake.Config,
		VersionedPlugins: map[int]goplugin.PluginSet{
			handshake.ProtocolVersion: {handshake.PluginName: &GRPCPlugin{Chat: srv}},
		},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpcopts.ServerOptions()...)...)
		},
		Logger: cfg.Logger,
	})
	return srv.Close()
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
	p.Chat.dialHost = func(id uint32) (*grpc.ClientConn, error) {
		return broker.DialWithOptions(id, grpcopts.DialOptions()...)
	}
	chatv1.RegisterChatPluginServer(s, p.Chat)
	return nil
}

// GRPCClient is not used on the plugin side.
func (p *GRPCPlugin) GRPCClient(context.Context, *goplugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("pagechat: GRPCClient is implemented by host-sdk, not the plugin")
}
