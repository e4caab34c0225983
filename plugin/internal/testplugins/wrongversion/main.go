// Command wrongversion is a test fixture: a pagechat plugin that announces a
// protocol version no host-sdk speaks, so tests can check that Load refuses
// it with ErrIncompatibleVersion.
package main

import (
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/pagechat/pagechat/internal/handshake"
	"github.com/pagechat/pagechat/plugin/internal/server"
)

func main() {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: handshake.Config,
		VersionedPlugins: map[int]goplugin.PluginSet{
			handshake.ProtocolVersion + 98: {handshake.PluginName: &server.GRPCPlugin{Chat: server.New(nil, nil, "wrongversion")}},
		},
		GRPCServer: goplugin.DefaultGRPCServer,
	})
}
