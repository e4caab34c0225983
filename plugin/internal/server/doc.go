// Package server is the pagechat chat service behind the plugin binary:
// the gRPC adapter for pagechat.chat.v1.ChatPlugin (server.go, upload.go,
// render_macro.go, configure.go), the chat logic it delegates to
// (chat.go, stream.go), and the one client of the host's callback API
// (hostclient.go).
//
// The adapter only converts: requests become plain Go values, the logic
// answers with store types and Go errors of the kinds in errors.go, and
// toStatus turns those into gRPC statuses in one place. Storage, fan-out,
// rendering and transcripts live in sibling internal packages that know
// nothing of gRPC.
//
// It is internal so that the plugin's public surface stays Serve and its
// options (package plugin); test plugins under plugin/internal/testplugins
// reach the parts a test needs, such as a settable clock.
package server
