// Package handshake holds the values the pagechat plugin and host-sdk must
// agree on before go-plugin lets them talk: the magic cookie, the protocol
// version and the plugin-set key. It is the only place they are defined.
//
// Never change these silently. Changing the cookie makes every installed
// plugin unloadable; a wire-incompatible change to proto/pagechat/chat must
// bump ProtocolVersion so an old plugin and a new host refuse each other
// with a clear message instead of failing on the first call.
package handshake

import goplugin "github.com/hashicorp/go-plugin"

// ProtocolVersion is the version of the ChatPlugin wire protocol
// (pagechat.chat.v1) this build speaks.
//
// History: 1 was the first release; 2 made Subscribe and Feed stream one
// shared RoomEvent message instead of twin response types; 3 made
// HostAPI.ResolveLink carry the sending user, whose view permission the
// host must check. The wire format of 3 is compatible with 2, but its
// meaning is not: a version-2 host-sdk would ignore the user and resolve
// every link as if anyone could see the page, leaking private pages.
const ProtocolVersion = 3

// PluginName is the key of the chat plugin in go-plugin's plugin set.
const PluginName = "chat"

// MagicCookieKey and MagicCookieValue are the environment variable go-plugin
// sets when the host starts the plugin. They are not a security measure;
// they let the binary tell that a host, not a person, started it.
const (
	MagicCookieKey   = "PAGECHAT_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "5c0b8a8e-4f7d-4d6b-9a51-pagechat-chat-plugin"
)

// Config is the go-plugin handshake for ProtocolVersion. The version lives in
// VersionedPlugins on both sides, so ProtocolVersion here is only go-plugin's
// fallback.
var Config = goplugin.HandshakeConfig{
	ProtocolVersion:  ProtocolVersion,
	MagicCookieKey:   MagicCookieKey,
	MagicCookieValue: MagicCookieValue,
}
