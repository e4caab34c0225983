package hostsdk

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/pagechat/pagechat/internal/testutil"
)

// An event stream on an HTTP/1.1 connection takes the connection over:
// its response is a plain body ended by closing the connection (no
// chunked framing), with the headers middleware set, and the stream
// lives on after its handler returned: it delivers, it notices the
// browser leaving, and Close ends it.
func TestEventStreamTakesOverItsConnection(t *testing.T) {
	t.Parallel()
	p := newFakePlugin()
	h, err := newHandler(p, newTestHost(), config{}, hclog.NewNullLogger(), webIdentify)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Frame-Options", "DENY") // as a host's middleware would
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = h.Close()
		}
	})

	open := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(conn, "GET /chat/api/rooms/%s/events?after=0 HTTP/1.1\r\nHost: test\r\nX-Test-User: alice\r\nAccept: text/event-stream\r\n\r\n", p.room.ID)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		for name, want := range map[string]string{
			"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
			"X-Frame-Options": "DENY", "Transfer-Encoding": "",
		} {
			if got := resp.Header.Get(name); got != want {
				t.Errorf("%s: %q, want %q", name, got, want)
			}
		}
		if resp.StatusCode != http.StatusOK || len(resp.TransferEncoding) != 0 || resp.ContentLength != -1 || !resp.Close {
			t.Errorf("response %d, transfer encoding %v, length %d, close %v; want 200 with a body ended by closing", resp.StatusCode, resp.TransferEncoding, resp.ContentLength, resp.Close)
		}
		return conn, bufio.NewReader(resp.Body)
	}
	readUntil := func(br *bufio.Reader, want string) {
		t.Helper()
		var seen strings.Builder
		for !strings.Contains(seen.String(), want) {
			line, err := br.ReadString('\n')
			seen.WriteString(line)
			if err != nil {
				t.Fatalf("stream ended (%v) before %q; read %q", err, want, seen.String())
			}
		}
	}
	streams := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.streams)
	}

	conn, br := open()
	p.post(2)
	readUntil(br, "id: 2\n")
	// The browser leaves: the server notices without writing anything.
	_ = conn.Close()
	testutil.Eventually(t, 10*time.Second, func() bool { return streams() == 0 }, "the stream to end after its browser left")

	_, br = open()
	p.post(1)
	readUntil(br, "id: 3\n")
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	if _, err := io.ReadAll(br); err != nil {
		t.Errorf("after Close the stream's connection ended with %v, want a clean end", err)
	}
	if n := streams(); n != 0 {
		t.Errorf("%d streams open after Close", n)
	}
}

// An idle stream on a taken-over connection costs no goroutine: its
// events are written by goroutines that run only while there is something
// to write, and the browser leaving is noticed by the handler's one close
// watcher, not by a goroutine per stream waiting in a read. Heartbeats and
// messages still reach every stream.
// Not parallel: it counts the process's goroutines.
func TestIdleStreamsNeedNoGoroutine(t *testing.T) {
	if !closeWatchSupported {
		t.Skip("no shared close watcher on this platform")
	}
	p := newFakePlugin()
	h, err := newHandler(p, newTestHost(), config{}, hclog.NewNullLogger(), webIdentify, WithMaxStreamsPerUser(100))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { _ = h.Close() })
	streams := func() int {
		h.mu.Lock()
		defer h.mu.Unlock()
		return len(h.streams)
	}
	open := func() net.Conn {
		t.Helper()
		conn, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.Close() })
		fmt.Fprintf(conn, "GET /chat/api/rooms/%s/events?after=0 HTTP/1.1\r\nHost: test\r\nX-Test-User: alice\r\n\r\n", p.room.ID)
		return conn
	}
	// The first stream starts the room's feed, the sweeper and the
	// watcher: the fixed cost, measured from there.
	open()
	testutil.Eventually(t, 10*time.Second, func() bool { return streams() == 1 }, "the first stream to open")
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	const n = 40
	conns := make([]net.Conn, n)
	for i := range conns {
		conns[i] = open()
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return streams() == n+1 }, "every stream to open")
	// Let net/http's connection goroutines, which hand over, end.
	testutil.Eventually(t, 10*time.Second, func() bool {
		return runtime.NumGoroutine()-before <= 2
	}, "the idle streams to settle without goroutines")
	// Quiet streams still deliver.
	p.post(1)
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(c)
		var seen strings.Builder
		for !strings.Contains(seen.String(), "id: 1\n") {
			line, err := br.ReadString('\n')
			seen.WriteString(line)
			if err != nil {
				t.Fatalf("stream %d ended (%v) before the message; read %q", i, err, seen.String())
			}
		}
	}
	// And they still notice their browsers leaving.
	for _, c := range conns {
		_ = c.Close()
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return streams() == 1 }, "the streams to end after their browsers left")
}
