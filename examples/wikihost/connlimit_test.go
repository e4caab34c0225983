package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/internal/testutil"
)

// startServer serves h like run does, with cfg's limits, on a free
// loopback port.
func startServer(t *testing.T, cfg config, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(cfg, hclog.NewNullLogger(), h)
	go func() { _ = srv.Serve(limitConnsPerIP(ln, cfg.maxConnsPerIP)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", src, err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// get sends one GET on c and reports whether a 200 came back; the
// connection stays open for more.
func get(c net.Conn) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: wiki\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	return nil
}

// A client that sends its body slowly is cut once the read timeout has
// passed, instead of holding the connection for as long as it likes
// (finding #3).
func TestSlowRequestBodyIsCut(t *testing.T) {
	t.Parallel()
	const readTimeout = 300 * time.Millisecond
	addr := startServer(t, config{readTimeout: readTimeout, maxConnsPerIP: defaultMaxConnsPerIP}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			http.Error(w, "body too slow", http.StatusRequestTimeout)
		}
	}))
	c := dialFrom(t, "127.0.0.1", addr)
	start := time.Now()
	// Headers promise 1000 bytes; only three ever come.
	if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: wiki\r\nContent-Length: 1000\r\n\r\nabc"); err != nil {
		t.Fatal(err)
	}
	// Far beyond the read timeout: only a server that never cuts the
	// client gets here with a timeout of its own.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := io.Copy(io.Discard, c)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection still open after %v with a %v read timeout", time.Since(start).Round(time.Millisecond), readTimeout)
	}
	// The server's deadline starts when it begins reading the request,
	// which can be a little before start was taken here; half the timeout
	// still tells a cut by the deadline from one for another reason.
	if took := time.Since(start); took < readTimeout/2 {
		t.Errorf("cut after %v, long before the %v read timeout", took, readTimeout)
	}
}

// One address gets at most -max-conns-per-ip connections; further ones
// are closed at accept, while other addresses are served, and a closed
// connection frees its slot (finding #3).
func TestConnectionsPerClientAddressAreCapped(t *testing.T) {
	t.Parallel()
	const limit = 3
	addr := startServer(t, config{readTimeout: time.Minute, maxConnsPerIP: limit}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	held := make([]net.Conn, limit)
	for i := range held {
		held[i] = dialFrom(t, "127.0.0.1", addr)
		if err := get(held[i]); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	tests := []struct {
		name, src string
		served    bool
	}{
		{"one more from the same address", "127.0.0.1", false},
		{"another address", "127.0.0.2", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := get(dialFrom(t, tt.src, addr))
			if served := err == nil; served != tt.served {
				t.Fatalf("served %v (%v), want %v", served, err, tt.served)
			}
			if !tt.served && errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("refused connection was left open: %v", err)
			}
		})
	}
	_ = held[0].Close()
	testutil.Eventually(t, 5*time.Second, func() bool {
		c := dialFrom(t, "127.0.0.1", addr)
		defer c.Close()
		return get(c) == nil
	}, "a closed connection frees its slot")
}
