// Package grpcopts holds the gRPC transport options of the two
// connections between host-sdk and the plugin: the chat connection (host
// calls plugin) and the host API connection through go-plugin's broker
// (plugin calls host). Both ends of both connections take theirs from
// here, so the connections are tuned alike and in one place.
//
// The one setting that matters is a static flow-control window. By default
// gRPC sizes its windows dynamically from bandwidth-delay-product (BDP)
// estimates: a connection that receives data after its last estimate was
// answered sends a PING to measure the next. On these connections traffic
// is a small message every few milliseconds at light load, so nearly every
// message started a new estimate: an extra PING frame, its ACK and the
// wake-ups of both processes' reader and writer goroutines, per message and
// per direction. Over a unix socket the round trip is tens of microseconds,
// so windows of a fixed size never limit throughput and estimating them
// buys nothing.
package grpcopts

import "google.golang.org/grpc"

const (
	// StreamWindow is each stream's flow-control window: what a sender
	// may have in flight on one stream before its reader takes it. Four
	// times gRPC's starting window, so a file upload or a long history
	// page streams without waiting for window updates on a unix socket
	// (256 KiB per round trip of ~50 µs is gigabytes a second); small
	// enough that the many long-lived room streams a host holds cannot
	// buffer much for a reader that stalls.
	StreamWindow = 256 << 10
	// ConnWindow is the connection's window, shared by its streams. gRPC
	// returns connection credit as data arrives, not as readers take it,
	// so this bounds only data in flight on the socket.
	ConnWindow = 1 << 20
)

// ServerOptions are the options of a gRPC server on either side; callers
// append them to those go-plugin passes (which carry its TLS settings).
func ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.StaticStreamWindowSize(StreamWindow),
		grpc.StaticConnWindowSize(ConnWindow),
	}
}

// DialOptions are the options of a gRPC client on either side.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithStaticStreamWindowSize(StreamWindow),
		grpc.WithStaticConnWindowSize(ConnWindow),
	}
}
