// Package hostsdk is what a Go wiki or CMS embeds to host pagechat.
//
// A host implements Host (users, pages, permissions, child pages, files)
// with its own types and storage, then calls Load with the path of the
// pagechat plugin binary. Load starts the plugin as a separate process
// through go-plugin (mutual TLS, optional SHA-256 check of the binary),
// serves the Host back to it over go-plugin's broker, and returns a Client
// for chat operations. The Client supervises the process: if it dies, a
// goroutine of the Client starts it again without waiting for a call, and
// open subscriptions end with an error that says where to resume.
//
// Nothing here exposes the generated protobuf types; host developers see
// plain Go values. The package owns no chat state: the plugin does.
package hostsdk
