package hostsdk

import (
	"net"
	"testing"
	"time"
)

// loopbackPair returns the two ends of a loopback TCP connection: the
// server's, to watch, and the client's, to close as a browser would.
func loopbackPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = server.Close(); _ = client.Close() })
	return server, client
}

func TestCloseWatcher(t *testing.T) {
	t.Parallel()
	w, err := newCloseWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.stop()

	watch := func(conn net.Conn) (chan struct{}, func()) {
		t.Helper()
		gone := make(chan struct{}, 2)
		unwatch, err := w.watch(conn, func() { gone <- struct{}{} })
		if err != nil {
			t.Fatal(err)
		}
		return gone, unwatch
	}

	// The browser closing its end is reported once.
	server, client := loopbackPair(t)
	gone, unwatch := watch(server)
	_ = client.Close()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("a closed connection was not reported")
	}
	unwatch()
	_ = server.Close()

	// A connection unwatched before its browser leaves is not reported,
	// while another one still is.
	quietServer, quietClient := loopbackPair(t)
	quiet, unwatchQuiet := watch(quietServer)
	unwatchQuiet()
	server2, client2 := loopbackPair(t)
	gone2, unwatch2 := watch(server2)
	defer unwatch2()
	_ = quietClient.Close()
	_ = client2.Close()
	select {
	case <-gone2:
	case <-time.After(10 * time.Second):
		t.Fatal("a closed connection was not reported")
	}
	select {
	case <-quiet:
		t.Error("an unwatched connection was reported")
	case <-time.After(100 * time.Millisecond):
	}

	// A connection that is not a socket cannot be watched.
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if _, err := w.watch(p1, func() {}); err == nil {
		t.Error("a pipe was watched")
	}
}

func TestCloseWatcherStop(t *testing.T) {
	t.Parallel()
	w, err := newCloseWatcher()
	if err != nil {
		t.Fatal(err)
	}
	server, client := loopbackPair(t)
	reported := make(chan struct{}, 1)
	unwatch, err := w.watch(server, func() { reported <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	w.stop()
	select {
	case <-w.done:
	default:
		t.Fatal("stop returned with the watcher's goroutine running")
	}
	// After stop: nothing is reported, unwatching is harmless, and new
	// connections are refused so that their streams watch them alone.
	_ = client.Close()
	unwatch()
	w.stop()
	if _, err := w.watch(server, func() {}); err == nil {
		t.Error("a stopped watcher took a connection")
	}
	select {
	case <-reported:
		t.Error("a stopped watcher reported a connection")
	case <-time.After(100 * time.Millisecond):
	}
}
