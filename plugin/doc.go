// Package plugin is the pagechat plugin: the chat service a host starts as a
// separate process through go-plugin and talks to over gRPC.
//
// The plugin owns rooms, messages, presence and transcripts. The chat
// service itself lives in internal/server; this package only starts it. It
// keeps its data in a Store (bbolt by default, internal/store), fans new
// messages out to open streams through a hub (internal/hub), and asks the
// host about users,
// pages and permissions through the HostAPI the host serves back over
// go-plugin's broker. It never decides on its own who may see a room: every
// read, stream and post is checked with the host, and open streams are
// re-checked so that a revoked user is cut off within the permission cache
// window.
//
// The plugin must never write to stdout: go-plugin's handshake line lives
// there. It logs JSON through hclog to stderr, which the host relays.
package plugin
