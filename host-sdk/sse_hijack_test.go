package hostsdk

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
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
