package hostsdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/internal/testutil"
)

// These tests serve the Handler with httptest against the real plugin
// binary, as a host does. Identity comes from test headers: X-Test-User
// stands for a browser session cookie (CSRF protection applies), Basic
// auth for a script.

func webIdentify(r *http.Request) (Identity, error) {
	if u := r.Header.Get("X-Test-User"); u != "" {
		return Identity{UserID: u, CookieSession: true}, nil
	}
	if u, _, ok := r.BasicAuth(); ok && u != "" {
		return Identity{UserID: u}, nil
	}
	return Identity{}, fmt.Errorf("no test user: %w", ErrUnauthenticated)
}

// withTuning changes handler internals that are not options.
func withTuning(f func(*handlerConfig)) HandlerOption {
	return handlerOptionFunc(func(c *handlerConfig) error {
		f(c)
		return nil
	})
}

// webServer is a Handler on a test HTTP server, with its plugin and a room.
type webServer struct {
	host    *testHost
	client  *Client
	h       *Handler
	srv     *httptest.Server
	room    Room
	stall   *stallGate
	dataDir string
}

func newWebServer(t *testing.T, clientOpts []Option, opts ...HandlerOption) *webServer {
	t.Helper()
	host := newTestHost()
	return newWebServerOn(t, host, host, clientOpts, opts...)
}

// newWebServerOn is newWebServer with host as the plugin's Host; base is
// the testHost inside it, which ws.host gives tests.
func newWebServerOn(t *testing.T, host Host, base *testHost, clientOpts []Option, opts ...HandlerOption) *webServer {
	t.Helper()
	dataDir := t.TempDir()
	c := loadPlugin(t, host, dataDir, clientOpts...)
	h, err := NewHandler(c, webIdentify, opts...)
	if err != nil {
		t.Fatalf("NewHandler: %v", err)
	}
	ws := &webServer{host: base, client: c, h: h, dataDir: dataDir}
	ws.serve(t)
	ws.room = openRoom(t, c, "Web Room")
	return ws
}

// serve starts the test HTTP server for ws.h.
func (ws *webServer) serve(t *testing.T) {
	t.Helper()
	ws.stall = newStallGate()
	ws.srv = httptest.NewServer(ws.stall.middleware(ws.h))
	// Cleanups run last-registered first: release stalled writes, close
	// the handler (ending streams), then the server, then the plugin.
	t.Cleanup(ws.srv.Close)
	t.Cleanup(func() {
		if err := ws.h.Close(); err != nil {
			t.Errorf("Handler.Close: %v", err)
		}
	})
	t.Cleanup(ws.stall.release)
}

// who authenticates a test request.
type who func(*http.Request)

func cookieUser(u string) who { return func(r *http.Request) { r.Header.Set("X-Test-User", u) } }
func basicUser(u string) who  { return func(r *http.Request) { r.SetBasicAuth(u, "secret") } }
func nobody(*http.Request)    {}

func (ws *webServer) api(roomID string) string {
	return "/chat/api/rooms/" + url.PathEscape(roomID)
}

// do sends a request and returns the response with its body read.
func (ws *webServer) do(t *testing.T, method, path string, as who, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, ws.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	as(req)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ws.srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp, b
}

// wantError checks a JSON error answer.
func wantError(t *testing.T, resp *http.Response, body []byte, status int, code string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status, body)
	}
	var e errorJSON
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("error body %q is not JSON {error, code}: %v", body, err)
	}
	if code != "" && e.Code != code {
		t.Fatalf("error code %q, want %q (%s)", e.Code, code, e.Error)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("error Content-Type %q, want JSON", ct)
	}
}

func (ws *webServer) send(t *testing.T, user, clientID, text string) Message {
	t.Helper()
	ctx := testCtx(t)
	for {
		res, err := ws.client.Send(ctx, user, ws.room.ID, clientID, text)
		if err == nil {
			return res.Message
		}
		// After a plugin kill the send is retried with the same client
		// id, as a browser would.
		if !errors.Is(err, ErrPluginUnavailable) || ctx.Err() != nil {
			t.Fatalf("Send: %v", err)
		}
	}
}

// sseEvent is one parsed server-sent event block.
type sseEvent struct {
	ID, Event, Data, Retry string
	Comments               []string
}

// sseConn is a test EventSource: one open event stream.
type sseConn struct {
	resp   *http.Response
	br     *bufio.Reader
	cancel context.CancelFunc
}

// openEvents opens an event stream and requires 200.
func (ws *webServer) openEvents(t *testing.T, as who, query string, hdr map[string]string) *sseConn {
	t.Helper()
	resp, err := ws.startEvents(t, as, query, hdr)
	if err != nil {
		t.Fatal(err)
	}
	if resp.resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.resp.Body)
		resp.close()
		t.Fatalf("events: status %d: %s", resp.resp.StatusCode, b)
	}
	if ct := resp.resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events Content-Type %q", ct)
	}
	return resp
}

func (ws *webServer) startEvents(t *testing.T, as who, query string, hdr map[string]string) (*sseConn, error) {
	t.Helper()
	// A stream that stops delivering fails its test after this long
	// instead of hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	path := ws.api(ws.room.ID) + "/events"
	if query != "" {
		path += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ws.srv.URL+path, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	as(req)
	req.Header.Set("Accept", "text/event-stream")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := ws.srv.Client().Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	c := &sseConn{resp: resp, br: bufio.NewReader(resp.Body), cancel: cancel}
	t.Cleanup(c.close)
	return c, nil
}

func (c *sseConn) close() {
	c.cancel()
	_ = c.resp.Body.Close()
}

// next reads one event block (comments included).
func (c *sseConn) next() (sseEvent, error) {
	var ev sseEvent
	seen := false
	for {
		line, err := c.br.ReadString('\n')
		if err != nil {
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" {
			if seen {
				return ev, nil
			}
			continue
		}
		seen = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "":
			ev.Comments = append(ev.Comments, value)
		case "id":
			ev.ID = value
		case "event":
			ev.Event = value
		case "data":
			if ev.Data != "" {
				ev.Data += "\n"
			}
			ev.Data += value
		case "retry":
			ev.Retry = value
		}
	}
}

// nextMessage skips heartbeats and presence and returns the next message,
// checking that its id is its sequence.
func (c *sseConn) nextMessage(t *testing.T) messageJSON {
	t.Helper()
	for {
		ev, err := c.next()
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		switch ev.Event {
		case "presence", "":
			continue
		case "message":
		default:
			t.Fatalf("unexpected %q event: %s", ev.Event, ev.Data)
		}
		var m messageJSON
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			t.Fatalf("message data %q: %v", ev.Data, err)
		}
		if ev.ID != strconv.FormatUint(m.Seq, 10) {
			t.Fatalf("event id %q, message seq %d", ev.ID, m.Seq)
		}
		return m
	}
}

// wantMessages reads messages from..to in order, nothing skipped or
// repeated.
func (c *sseConn) wantMessages(t *testing.T, from, to uint64) []messageJSON {
	t.Helper()
	var got []messageJSON
	for seq := from; seq <= to; seq++ {
		m := c.nextMessage(t)
		if m.Seq != seq {
			t.Fatalf("got message %d, want %d (gap or duplicate)", m.Seq, seq)
		}
		got = append(got, m)
	}
	return got
}

// nextTerminal reads until a non-message event and returns it.
func (c *sseConn) nextTerminal(t *testing.T) sseEvent {
	t.Helper()
	for {
		ev, err := c.next()
		if err != nil {
			t.Fatalf("stream ended (%v) without a terminal event", err)
		}
		if ev.Event != "" && ev.Event != "message" && ev.Event != "presence" {
			return ev
		}
	}
}

// waitEnd reads until the stream ends and fails on a timeout.
func (c *sseConn) waitEnd(t *testing.T) []sseEvent {
	t.Helper()
	var evs []sseEvent
	for {
		ev, err := c.next()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("stream did not end")
			}
			return evs
		}
		evs = append(evs, ev)
	}
}

func (ws *webServer) online(t *testing.T, user string) bool {
	t.Helper()
	room, err := ws.client.RoomInfo(testCtx(t), "alice", ws.room.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range room.Participants {
		if p.UserID == user {
			return p.Online
		}
	}
	return false
}

// stallGate blocks writes of streams opened with X-Test-Stall while
// stalled, standing in for a browser that stops reading.
type stallGate struct {
	mu      sync.Mutex
	stalled bool
	gate    chan struct{}
	once    sync.Once
}

func newStallGate() *stallGate { return &stallGate{gate: make(chan struct{})} }

func (g *stallGate) stall() {
	g.mu.Lock()
	g.stalled = true
	g.mu.Unlock()
}

func (g *stallGate) release() { g.once.Do(func() { close(g.gate) }) }

func (g *stallGate) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Test-Stall") != "" {
			w = &stallWriter{ResponseWriter: w, g: g}
		}
		next.ServeHTTP(w, r)
	})
}

type stallWriter struct {
	http.ResponseWriter
	g *stallGate
}

func (s *stallWriter) Write(p []byte) (int, error) {
	s.g.mu.Lock()
	stalled := s.g.stalled
	s.g.mu.Unlock()
	if stalled {
		<-s.g.gate
	}
	return s.ResponseWriter.Write(p)
}

func (s *stallWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func TestEventsFanOutFromOneUpstreamFeed(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	alice := ws.openEvents(t, cookieUser("alice"), "after=0", nil)
	bob := ws.openEvents(t, basicUser("bob"), "after=0&epoch="+url.QueryEscape(ws.room.Epoch), nil)

	// Half the messages through the browser API, half directly.
	for i := 1; i <= 6; i++ {
		if i%2 == 0 {
			ws.send(t, "bob", fmt.Sprint("direct-", i), fmt.Sprintf("message %d", i))
			continue
		}
		body := fmt.Sprintf(`{"text": "message %d", "client_id": "web-%d"}`, i, i)
		resp, b := ws.do(t, http.MethodPost, ws.api(ws.room.ID)+"/messages", cookieUser("alice"), strings.NewReader(body), map[string]string{"Sec-Fetch-Site": "same-origin"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST message: %d %s", resp.StatusCode, b)
		}
	}
	for _, c := range []*sseConn{alice, bob} {
		got := c.wantMessages(t, 1, 6)
		for i, m := range got {
			if m.Text != fmt.Sprintf("message %d", i+1) || m.Epoch != ws.room.Epoch || m.HTML == "" {
				t.Fatalf("message %d = %+v", i+1, m)
			}
		}
	}
	if n := ws.h.feedOpens.Load(); n != 1 {
		t.Fatalf("%d upstream feeds opened for one room with two viewers, want 1", n)
	}
	// Each viewer is joined, so presence shows them.
	testutil.Eventually(t, waitTimeout, func() bool { return ws.online(t, "alice") && ws.online(t, "bob") }, "alice and bob online")
}

func TestEventsResumeGetsExactlyTheRest(t *testing.T) {
	t.Parallel()
	// A ring of 3 messages: recent positions resume from memory, older
	// ones through History, and the two must join without a seam.
	ws := newWebServer(t, nil, withTuning(func(c *handlerConfig) { c.ringMessages = 3 }))
	for i := 1; i <= 4; i++ {
		ws.send(t, "alice", fmt.Sprint("pre-", i), fmt.Sprint("m", i))
	}
	keep := ws.openEvents(t, cookieUser("alice"), "after=4", nil) // keeps the feed alive
	for i := 5; i <= 12; i++ {
		ws.send(t, "alice", fmt.Sprint("c-", i), fmt.Sprint("m", i))
	}
	keep.wantMessages(t, 5, 12)

	// Each case resumes relative to the room's last message: the ring
	// holds the last three, so last-3 is the oldest position served from
	// memory.
	last := uint64(12)
	tests := []struct {
		name        string
		query       func(last uint64) string
		lastEventID func(last uint64) string
		fromHistory bool
		cursor      func(last uint64) uint64
	}{
		{"Last-Event-ID in memory", nil, func(l uint64) string { return fmt.Sprint(l - 2) }, false, func(l uint64) uint64 { return l - 2 }},
		{"after at the edge of memory", func(l uint64) string { return fmt.Sprint("after=", l-3) }, nil, false, func(l uint64) uint64 { return l - 3 }},
		{"Last-Event-ID before memory", nil, func(uint64) string { return "2" }, true, func(uint64) uint64 { return 2 }},
		{"after zero", func(uint64) string { return "after=0" }, nil, true, func(uint64) uint64 { return 0 }},
		{"up to date", func(l uint64) string { return fmt.Sprint("after=", l) }, nil, false, func(l uint64) uint64 { return l }},
		{"header wins over query", func(uint64) string { return "after=1" }, func(l uint64) string { return fmt.Sprint(l - 1) }, false, func(l uint64) uint64 { return l - 1 }},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tt.lastEventID != nil {
				hdr["Last-Event-ID"] = tt.lastEventID(last)
			}
			query := ""
			if tt.query != nil {
				query = tt.query(last)
			}
			before := ws.h.historyFills.Load()
			c := ws.openEvents(t, basicUser("bob"), query, hdr)
			if from := tt.cursor(last) + 1; from <= last {
				c.wantMessages(t, from, last)
			}
			if fromHistory := ws.h.historyFills.Load() > before; fromHistory != tt.fromHistory {
				t.Errorf("served from history = %v, want %v", fromHistory, tt.fromHistory)
			}
			// ... and then live, continuing the same sequence.
			m := ws.send(t, "alice", fmt.Sprint("live-", i), "live")
			last = m.Seq
			c.wantMessages(t, last, last)
			keep.wantMessages(t, last, last)
			c.close()
		})
	}
	if n := ws.h.feedOpens.Load(); n != 1 {
		t.Errorf("%d upstream feeds opened, want 1", n)
	}
}

func TestEventsRejectBadResumePositions(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	ws.send(t, "alice", "one", "only message")
	bad := []struct {
		name  string
		query string
		hdr   map[string]string
	}{
		{"letters in Last-Event-ID", "", map[string]string{"Last-Event-ID": "abc"}},
		{"negative Last-Event-ID", "", map[string]string{"Last-Event-ID": "-1"}},
		{"fraction", "", map[string]string{"Last-Event-ID": "1.5"}},
		{"overflow", "", map[string]string{"Last-Event-ID": "99999999999999999999"}},
		{"after with a space", "after=%201", nil},
		{"after letters", "after=x", nil},
		{"after plus", "after=%2B1", nil},
		{"after beyond the room", "after=2", nil},
		{"Last-Event-ID beyond the room", "", map[string]string{"Last-Event-ID": "50"}},
		{"long epoch", "epoch=" + strings.Repeat("e", 200), nil},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			path := ws.api(ws.room.ID) + "/events"
			if tt.query != "" {
				path += "?" + tt.query
			}
			resp, body := ws.do(t, http.MethodGet, path, cookieUser("alice"), nil, tt.hdr)
			wantError(t, resp, body, http.StatusBadRequest, "bad_request")
		})
	}
}

func TestEventsWithAnotherEpochSayReset(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	c := ws.openEvents(t, cookieUser("alice"), "after=0&epoch=not-this-one", nil)
	ev := c.nextTerminal(t)
	var reset resetJSON
	if ev.Event != "reset" || json.Unmarshal([]byte(ev.Data), &reset) != nil || reset.Epoch != ws.room.Epoch {
		t.Fatalf("got %+v, want a reset event naming epoch %s", ev, ws.room.Epoch)
	}
	c.waitEnd(t)
}

func TestNoViewPermissionIsRefusedEverywhere(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	ws.host.deny("mallory", "p1", PermissionView)
	ws.host.deny("mallory", "p1", PermissionPost)
	api := ws.api(ws.room.ID)
	for _, tt := range []struct {
		method, path, body string
	}{
		{http.MethodGet, api + "/events", ""},
		{http.MethodGet, api + "/messages", ""},
		{http.MethodGet, api, ""},
		{http.MethodPost, api + "/messages", `{"text":"hi","client_id":"m1"}`},
	} {
		resp, body := ws.do(t, tt.method, tt.path, basicUser("mallory"), strings.NewReader(tt.body), nil)
		wantError(t, resp, body, http.StatusForbidden, "forbidden")
	}
	resp, body := ws.do(t, http.MethodGet, "/chat/rooms/"+url.PathEscape(ws.room.ID), cookieUser("mallory"), nil, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "No access") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("popup for mallory: %d %s", resp.StatusCode, body)
	}

	// Unknown rooms are 404, missing logins 401.
	resp, body = ws.do(t, http.MethodGet, ws.api("p1.no-such-room")+"/messages", cookieUser("alice"), nil, nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found")
	resp, body = ws.do(t, http.MethodGet, ws.api("p1.no-such-room")+"/events", cookieUser("alice"), nil, nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found")
	resp, _ = ws.do(t, http.MethodGet, "/chat/rooms/p1.no-such-room", cookieUser("alice"), nil, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("popup of an unknown room: %d", resp.StatusCode)
	}
	resp, body = ws.do(t, http.MethodGet, api+"/messages", nobody, nil, nil)
	wantError(t, resp, body, http.StatusUnauthorized, "unauthenticated")
	resp, body = ws.do(t, http.MethodDelete, api+"/messages", cookieUser("alice"), nil, nil)
	wantError(t, resp, body, http.StatusMethodNotAllowed, "method_not_allowed")
	if allow := resp.Header.Get("Allow"); allow != "GET, POST" {
		t.Errorf("Allow = %q", allow)
	}
	resp, body = ws.do(t, http.MethodGet, "/chat/nothing/here", cookieUser("alice"), nil, nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found")
}

// wantCutForbidden checks that s, whose user lost view permission at
// revoked, ends with an error event with code forbidden, soon.
func wantCutForbidden(t *testing.T, s *sseConn, revoked time.Time) {
	t.Helper()
	ev := s.nextTerminal(t)
	var e errorJSON
	if ev.Event != "error" || json.Unmarshal([]byte(ev.Data), &e) != nil || e.Code != "forbidden" {
		t.Fatalf("got %+v, want an error event with code forbidden", ev)
	}
	s.waitEnd(t)
	// The bound is the permission window plus the plugin's cache; the
	// slack is for a loaded CI machine. This checks the re-check cuts the
	// stream, not its speed.
	if waited := time.Since(revoked); waited > 5*time.Second {
		t.Errorf("stream cut %v after revocation", waited)
	}
}

func TestRevokedViewerStreamIsCut(t *testing.T) {
	t.Parallel()
	window := 200 * time.Millisecond
	ws := newWebServer(t, []Option{WithPermissionCache(window)}, WithPermissionWindow(window))
	alice := ws.openEvents(t, cookieUser("alice"), "after=0", nil)
	bob := ws.openEvents(t, cookieUser("bob"), "after=0", nil)
	ws.send(t, "alice", "1", "before")
	alice.wantMessages(t, 1, 1)
	bob.wantMessages(t, 1, 1)

	revoked := time.Now()
	ws.host.deny("bob", "p1", PermissionView)
	wantCutForbidden(t, bob, revoked)
	// Alice is unaffected and the room goes on.
	ws.send(t, "alice", "2", "after")
	alice.wantMessages(t, 2, 2)
	// And bob cannot come back.
	resp, body := ws.do(t, http.MethodGet, ws.api(ws.room.ID)+"/events", cookieUser("bob"), nil, nil)
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
}

func TestSlowStreamIsCutWithoutBlockingTheRoomAndResumes(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil, WithStreamBuffer(2))
	fast := ws.openEvents(t, cookieUser("alice"), "after=0", nil)
	slow := ws.openEvents(t, cookieUser("bob"), "after=0", map[string]string{"X-Test-Stall": "1"})
	ws.send(t, "alice", "1", "m1")
	fast.wantMessages(t, 1, 1)
	slow.wantMessages(t, 1, 1)

	// Bob's browser stops reading: his stream's writes block.
	ws.stall.stall()
	const total = 12
	for i := 2; i <= total; i++ {
		ws.send(t, "alice", fmt.Sprint(i), fmt.Sprint("m", i))
	}
	// Alice gets everything while bob is stuck: the feed never waits.
	fast.wantMessages(t, 2, total)
	testutil.Eventually(t, waitTimeout, func() bool { return ws.h.slowCuts.Load() >= 1 }, "the slow stream to be cut")

	// Bob reads again: he gets what was written before the cut, then the
	// stream ends, and resuming from his last id gets exactly the rest.
	ws.stall.release()
	last := uint64(1)
	for _, ev := range slow.waitEnd(t) {
		if ev.Event != "message" {
			continue
		}
		seq, err := strconv.ParseUint(ev.ID, 10, 64)
		if err != nil || seq != last+1 {
			t.Fatalf("slow stream delivered id %q after %d", ev.ID, last)
		}
		last = seq
	}
	if last == total {
		t.Fatalf("slow stream got all %d messages; it should have been cut", total)
	}
	resumed := ws.openEvents(t, cookieUser("bob"), "", map[string]string{"Last-Event-ID": strconv.FormatUint(last, 10)})
	resumed.wantMessages(t, last+1, total)
}

func TestHeartbeatsKeepIdleStreamsAlive(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil, WithHeartbeat(20*time.Millisecond))
	c := ws.openEvents(t, cookieUser("alice"), "", nil)
	first, err := c.next()
	if err != nil || first.Retry == "" {
		t.Fatalf("first block %+v, %v; want a retry hint", first, err)
	}
	for {
		ev, err := c.next()
		if err != nil {
			t.Fatal(err)
		}
		if len(ev.Comments) > 0 && ev.Comments[0] == "heartbeat" && ev.Event == "" && ev.Data == "" {
			return
		}
	}
}

func TestCrossOriginPostsFromBrowserSessionsAreRefused(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	path := ws.api(ws.room.ID) + "/messages"
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "http://evil.example"}
	resp, body := ws.do(t, http.MethodPost, path, cookieUser("alice"), strings.NewReader(`{"text":"forged","client_id":"x1"}`), crossSite)
	wantError(t, resp, body, http.StatusForbidden, "cross_origin")
	resp, body = ws.do(t, http.MethodPost, ws.api(ws.room.ID)+"/files", cookieUser("alice"), strings.NewReader("x"), crossSite)
	wantError(t, resp, body, http.StatusForbidden, "cross_origin")

	// A script authenticating itself (Basic auth) is not a forgeable
	// browser session.
	resp, body = ws.do(t, http.MethodPost, path, basicUser("alice"), strings.NewReader(`{"text":"scripted","client_id":"x2"}`), crossSite)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("Basic-auth POST: %d %s", resp.StatusCode, body)
	}
	// And a same-origin browser request passes.
	resp, body = ws.do(t, http.MethodPost, path, cookieUser("alice"), strings.NewReader(`{"text":"mine","client_id":"x3"}`), map[string]string{"Sec-Fetch-Site": "same-origin"})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("same-origin POST: %d %s", resp.StatusCode, body)
	}
	page, err := ws.client.History(testCtx(t), "alice", ws.room.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range page.Messages {
		if m.Text == "forged" {
			t.Fatal("the forged message was stored")
		}
	}
}

func TestSendDecodesStrictly(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, []Option{WithMaxMessageBytes(100)})
	path := ws.api(ws.room.ID) + "/messages"
	post := func(body string) (*http.Response, []byte) {
		return ws.do(t, http.MethodPost, path, basicUser("alice"), strings.NewReader(body), nil)
	}
	for _, tt := range []struct {
		name, body string
		status     int
	}{
		{"empty body", "", http.StatusBadRequest},
		{"not JSON", "text=hello", http.StatusBadRequest},
		{"truncated", `{"text":"hi"`, http.StatusBadRequest},
		{"unknown field", `{"text":"hi","client_id":"a","admin":true}`, http.StatusBadRequest},
		{"trailing data", `{"text":"hi","client_id":"a"} {"text":"again"}`, http.StatusBadRequest},
		{"trailing garbage", `{"text":"hi","client_id":"a"}x`, http.StatusBadRequest},
		{"wrong type", `{"text":5,"client_id":"a"}`, http.StatusBadRequest},
		{"array", `["hi"]`, http.StatusBadRequest},
		{"null", `null`, http.StatusBadRequest},
		{"blank text", `{"text":"  \n","client_id":"a"}`, http.StatusBadRequest},
		{"no client id", `{"text":"hi"}`, http.StatusBadRequest},
		{"long client id", `{"text":"hi","client_id":"` + strings.Repeat("c", 129) + `"}`, http.StatusBadRequest},
		{"text over the plugin's limit", `{"text":"` + strings.Repeat("x", 101) + `","client_id":"a"}`, http.StatusBadRequest},
		{"body over the handler's limit", `{"text":"` + strings.Repeat("x", int(ws.h.maxSend)) + `","client_id":"a"}`, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := post(tt.body)
			code := "bad_request"
			if tt.status == http.StatusRequestEntityTooLarge {
				code = "too_large"
			}
			wantError(t, resp, body, tt.status, code)
		})
	}
	room, err := ws.client.RoomInfo(testCtx(t), "alice", ws.room.ID)
	if err != nil || room.LastSeq != 0 {
		t.Fatalf("refused requests stored messages: last seq %d, %v", room.LastSeq, err)
	}

	// A valid send, then its retry with the same client id.
	var first, again sendResponseJSON
	resp, body := post(`{"text":"hello <b>world</b>","client_id":"retry-me"}`)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &first) != nil || first.Seq != 1 || first.Message.Seq != 1 || first.Duplicate {
		t.Fatalf("send: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(first.Message.HTML, "<b>") {
		t.Fatalf("message HTML %q is not escaped", first.Message.HTML)
	}
	resp, body = post(`{"text":"hello <b>world</b>","client_id":"retry-me"}`)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &again) != nil || again.Seq != 1 || !again.Duplicate {
		t.Fatalf("retried send: %d %s", resp.StatusCode, body)
	}
}

func TestSendingTooFastIs429WithRetryAfter(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, []Option{WithMessagesPerMinute(2)})
	path := ws.api(ws.room.ID) + "/messages"
	for i := range 2 {
		resp, body := ws.do(t, http.MethodPost, path, basicUser("alice"), strings.NewReader(fmt.Sprintf(`{"text":"hi","client_id":"r%d"}`, i)), nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("send %d: %d %s", i, resp.StatusCode, body)
		}
	}
	resp, body := ws.do(t, http.MethodPost, path, basicUser("alice"), strings.NewReader(`{"text":"hi","client_id":"r2"}`), nil)
	wantError(t, resp, body, http.StatusTooManyRequests, "rate_limited")
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("Retry-After = %q, want 1..60 seconds", resp.Header.Get("Retry-After"))
	}
}

func TestHistoryPagesBackwards(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	for i := 1; i <= 120; i++ {
		ws.send(t, "alice", fmt.Sprint(i), fmt.Sprint("m", i))
	}
	get := func(query string) historyJSON {
		t.Helper()
		resp, body := ws.do(t, http.MethodGet, ws.api(ws.room.ID)+"/messages?"+query, cookieUser("bob"), nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("history %s: %d %s", query, resp.StatusCode, body)
		}
		var h historyJSON
		if err := json.Unmarshal(body, &h); err != nil {
			t.Fatal(err)
		}
		if h.Epoch != ws.room.Epoch {
			t.Fatalf("epoch %q, want %q", h.Epoch, ws.room.Epoch)
		}
		return h
	}
	check := func(h historyJSON, from, to uint64, more bool) {
		t.Helper()
		if uint64(len(h.Messages)) != to-from+1 || h.HasMore != more {
			t.Fatalf("got %d messages (more %v), want %d..%d (more %v)", len(h.Messages), h.HasMore, from, to, more)
		}
		for i, m := range h.Messages {
			if m.Seq != from+uint64(i) {
				t.Fatalf("message %d has seq %d, want %d (newest last)", i, m.Seq, from+uint64(i))
			}
		}
	}
	check(get(""), 71, 120, true)
	check(get("before=71"), 21, 70, true)
	check(get("before=21&limit=50"), 1, 20, false)
	check(get("before=11&limit=3"), 8, 10, true)
	for _, q := range []string{"before=x", "before=-1", "limit=0", "limit=501", "limit=ten"} {
		resp, body := ws.do(t, http.MethodGet, ws.api(ws.room.ID)+"/messages?"+q, cookieUser("bob"), nil, nil)
		wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	}
}

func TestRoomInfoForThePanel(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	stream := ws.openEvents(t, cookieUser("bob"), "", nil)
	_ = stream
	testutil.Eventually(t, waitTimeout, func() bool { return ws.online(t, "bob") }, "bob online")
	resp, body := ws.do(t, http.MethodGet, ws.api(ws.room.ID), cookieUser("alice"), nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("room info: %d %s", resp.StatusCode, body)
	}
	var info roomJSON
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatal(err)
	}
	if info.ID != ws.room.ID || info.Name != "Web Room" || info.PageID != "p1" || info.PageURL != "/pages/p1" || info.PageTitle != "Team" || info.Epoch != ws.room.Epoch {
		t.Fatalf("room info %+v", info)
	}
	online := false
	for _, p := range info.Participants {
		if p.UserID == "bob" && p.Online && p.DisplayName == "Bob Builder" {
			online = true
		}
	}
	if !online || info.Files == nil || info.Transcripts == nil {
		t.Fatalf("participants %+v files %v transcripts %v", info.Participants, info.Files, info.Transcripts)
	}
}

var (
	scriptTag = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	// sameOriginScript is a script tag loading one of the handler's own files.
	sameOriginScript = regexp.MustCompile(`^\s*src="/chat/static/[a-z0-9-]+\.js\?v=[0-9a-f]+"\s+defer\s*$`)
	inlineEvent      = regexp.MustCompile(`(?i)\son[a-z]+\s*=`)
	styleAttr        = regexp.MustCompile(`(?i)\sstyle\s*=|<style`)
)

func TestPopupPageIsStrictHTML(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	room, err := ws.client.OpenRoom(testCtx(t), "alice", "p1", `Tom & "Jerry" <script>alert(1)</script>`)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := ws.do(t, http.MethodGet, "/chat/rooms/"+url.PathEscape(room.ID), cookieUser("alice"), nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("popup: %d %s", resp.StatusCode, body)
	}
	page := string(body)
	hdr := resp.Header
	if got := hdr.Get("Content-Security-Policy"); got != popupCSP {
		t.Errorf("CSP = %q", got)
	}
	if !strings.Contains(popupCSP, "script-src 'self'") || strings.Contains(popupCSP, "unsafe-inline") {
		t.Errorf("CSP %q is not strict", popupCSP)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"X-Content-Type-Options": "nosniff",
		"Referrer-Policy":        "same-origin",
	} {
		if got := hdr.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	scripts := scriptTag.FindAllStringSubmatch(page, -1)
	if len(scripts) == 0 {
		t.Fatal("popup loads no script")
	}
	if !strings.Contains(scripts[0][1], `src="/chat/static/chat.js?v=`) {
		t.Errorf("first script is %q, want chat.js: extensions need its window.pagechat seam", scripts[0][0])
	}
	for _, s := range scripts {
		if !sameOriginScript.MatchString(s[1]) || strings.TrimSpace(s[2]) != "" {
			t.Errorf("inline or foreign script: %q", s[0])
		}
	}
	// chat.css first, then every other style sheet (format.css styles
	// formatted messages), each versioned like the scripts.
	chatCSS, formatCSS := strings.Index(page, `<link rel="stylesheet" href="/chat/static/chat.css?v=`), strings.Index(page, `<link rel="stylesheet" href="/chat/static/format.css?v=`+ws.h.web.static["format.css"].version+`">`)
	if chatCSS < 0 || formatCSS < chatCSS {
		t.Errorf("popup does not load chat.css and then format.css:\n%s", page)
	}
	if inlineEvent.MatchString(page) || styleAttr.MatchString(page) || strings.Contains(page, "javascript:") {
		t.Error("popup has inline event handlers or styles, which the CSP blocks")
	}
	if strings.Contains(page, "<script>alert") || !strings.Contains(page, "Tom &amp; &#34;Jerry&#34; &lt;script&gt;") {
		t.Errorf("room name not escaped in:\n%s", page)
	}
	if !strings.Contains(page, `data-room-id="`+room.ID+`"`) || !strings.Contains(page, `data-api="/chat/api/rooms/`+room.ID+`"`) || !strings.Contains(page, `href="/pages/p1"`) {
		t.Errorf("popup lacks its data attributes or page link:\n%s", page)
	}

	// Its static files, with the CSP's same-origin rules in mind.
	for name, ctype := range map[string]string{"chat.js": "text/javascript; charset=utf-8", "chat.css": "text/css; charset=utf-8", "format.css": "text/css; charset=utf-8"} {
		resp, body := ws.do(t, http.MethodGet, "/chat/static/"+name, nobody, nil, nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ctype || len(body) == 0 {
			t.Fatalf("static %s: %d %q", name, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if strings.Contains(string(body), "http://") || strings.Contains(string(body), "https://") || strings.Contains(string(body), "@import") {
			t.Errorf("%s refers to external resources", name)
		}
		v := ws.h.web.static[name].version
		resp, _ = ws.do(t, http.MethodGet, "/chat/static/"+name+"?v="+v, nobody, nil, map[string]string{"If-None-Match": `"` + v + `"`})
		if resp.StatusCode != http.StatusNotModified || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("versioned %s: %d, Cache-Control %q", name, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}
	resp, body = ws.do(t, http.MethodGet, "/chat/static/secret.go", nobody, nil, nil)
	wantError(t, resp, body, http.StatusNotFound, "not_found")
	resp, _ = ws.do(t, http.MethodGet, "/chat/rooms/"+url.PathEscape(room.ID), nobody, nil, nil)
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("Content-Security-Policy") != popupCSP {
		t.Errorf("popup without login: %d", resp.StatusCode)
	}
}

func multipartBody(t *testing.T, fields map[string]string, fileName string, content []byte) (io.Reader, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for k, v := range fields {
		if err := mw.WriteField(k, v); err != nil {
			t.Fatal(err)
		}
	}
	if content != nil {
		fw, err := mw.CreateFormFile("file", fileName)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fw.Write(content); err != nil {
			t.Fatal(err)
		}
	}
	if err := mw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf, mw.FormDataContentType()
}

func TestUploadThroughTheBrowserAPI(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil, WithUploadLimit(2<<20))
	stream := ws.openEvents(t, cookieUser("bob"), "", nil)
	path := ws.api(ws.room.ID) + "/files"
	upload := func(fields map[string]string, name string, content []byte) (*http.Response, []byte) {
		body, ctype := multipartBody(t, fields, name, content)
		return ws.do(t, http.MethodPost, path, cookieUser("alice"), body, map[string]string{"Content-Type": ctype, "Sec-Fetch-Site": "same-origin"})
	}

	// Over the in-memory threshold, so it is spooled through a temp file.
	content := append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte("x"), uploadMemory+1000)...)
	resp, body := upload(map[string]string{"client_id": "up-1"}, "report.pdf", content)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d %s", resp.StatusCode, body)
	}
	var res uploadResponseJSON
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.Seq != 1 || res.Message.File == nil || res.File.Size != int64(len(content)) || res.File.URL == "" {
		t.Fatalf("upload response %s", body)
	}
	ws.host.mu.Lock()
	stored := ws.host.files[res.File.Name]
	ws.host.mu.Unlock()
	if !bytes.Equal(stored, content) {
		t.Fatalf("host stored %d bytes, want %d", len(stored), len(content))
	}
	if m := stream.nextMessage(t); m.Seq != 1 || m.File == nil || m.File.Name != res.File.Name {
		t.Fatalf("stream announced %+v", m)
	}

	resp, body = upload(nil, "big.bin", make([]byte, 2<<20+1))
	wantError(t, resp, body, http.StatusRequestEntityTooLarge, "too_large")
	resp, body = upload(map[string]string{"client_id": "x"}, "", nil)
	wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	resp, body = upload(map[string]string{"other": "x"}, "a.txt", []byte("hi"))
	wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	resp, body = ws.do(t, http.MethodPost, path, basicUser("alice"), strings.NewReader(`{"file":"x"}`), map[string]string{"Content-Type": "application/json"})
	wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	ws.host.deny("bob", "p1", PermissionPost)
	body2, ctype := multipartBody(t, nil, "a.txt", []byte("hello"))
	resp, body = ws.do(t, http.MethodPost, path, basicUser("bob"), body2, map[string]string{"Content-Type": ctype})
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
}

func TestFeedStopsAfterItsLastViewerAndPresenceFollows(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil, withTuning(func(c *handlerConfig) { c.feedGrace = 50 * time.Millisecond }))
	c := ws.openEvents(t, cookieUser("bob"), "", nil)
	testutil.Eventually(t, waitTimeout, func() bool { return ws.online(t, "bob") }, "bob online")
	c.close()
	testutil.Eventually(t, waitTimeout, func() bool {
		ws.h.mu.Lock()
		defer ws.h.mu.Unlock()
		return len(ws.h.feeds) == 0
	}, "the feed to stop")
	testutil.Eventually(t, waitTimeout, func() bool { return !ws.online(t, "bob") }, "bob offline")

	// A new viewer starts a new feed.
	c = ws.openEvents(t, cookieUser("bob"), "", nil)
	ws.send(t, "alice", "after-restart", "hello again")
	c.wantMessages(t, 1, 1)
	if n := ws.h.feedOpens.Load(); n != 2 {
		t.Errorf("%d feeds opened, want 2", n)
	}
}

func TestStreamsPerUserAreLimited(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil, WithMaxStreamsPerUser(2))
	ws.openEvents(t, cookieUser("bob"), "", nil)
	ws.openEvents(t, cookieUser("bob"), "", nil)
	resp, body := ws.do(t, http.MethodGet, ws.api(ws.room.ID)+"/events", cookieUser("bob"), nil, nil)
	wantError(t, resp, body, http.StatusTooManyRequests, "too_many_streams")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	ws.openEvents(t, cookieUser("alice"), "", nil) // others are not affected
}

// killPlugin kills the plugin process, as a crash would.
func killPlugin(t *testing.T, c *Client) {
	t.Helper()
	if err := syscall.Kill(pluginPID(t, c), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

func TestStreamsSurviveAPluginRestart(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	c := ws.openEvents(t, cookieUser("bob"), "", nil)
	ws.send(t, "alice", "1", "before the crash")
	c.wantMessages(t, 1, 1)
	testutil.Eventually(t, waitTimeout, func() bool { return ws.online(t, "bob") }, "bob online")

	killPlugin(t, ws.client)
	// The browser's stream stays open; the message sent once the plugin
	// is back arrives on it, right after the last one.
	ws.send(t, "alice", "2", "after the crash")
	c.wantMessages(t, 2, 2)
	if n := ws.h.feedOpens.Load(); n < 2 {
		t.Errorf("feed opened %d times; it should have reconnected", n)
	}
	// The new plugin process learns who is online again.
	testutil.Eventually(t, waitTimeout, func() bool { return ws.online(t, "bob") }, "bob online after the restart")
}

func TestStreamsEndWhenTheRoomVanishesUnderTheFeed(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	c := ws.openEvents(t, cookieUser("bob"), "", nil)
	ws.send(t, "alice", "1", "hello")
	c.wantMessages(t, 1, 1)
	// The database disappears (an admin's mistake); the restarted plugin
	// starts an empty one, in which the room does not exist.
	if err := os.Remove(filepath.Join(ws.dataDir, "pagechat.db")); err != nil {
		t.Fatal(err)
	}
	killPlugin(t, ws.client)
	ev := c.nextTerminal(t)
	var e errorJSON
	if ev.Event != "error" || json.Unmarshal([]byte(ev.Data), &e) != nil || e.Code != "not_found" {
		t.Fatalf("got %+v, want an error event with code not_found", ev)
	}
	c.waitEnd(t)
	testutil.Eventually(t, waitTimeout, func() bool {
		ws.h.mu.Lock()
		defer ws.h.mu.Unlock()
		return len(ws.h.running) == 0
	}, "the dead feed to be gone")
}

func TestCloseEndsStreamsAndRefusesRequests(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	c := ws.openEvents(t, cookieUser("bob"), "", nil)
	testutil.Eventually(t, waitTimeout, func() bool { return ws.online(t, "bob") }, "bob online")
	if err := ws.h.Close(); err != nil {
		t.Fatal(err)
	}
	c.waitEnd(t)
	resp, body := ws.do(t, http.MethodGet, ws.api(ws.room.ID)+"/messages", cookieUser("bob"), nil, nil)
	wantError(t, resp, body, http.StatusServiceUnavailable, "unavailable")
	if resp.Header.Get("Retry-After") == "" {
		t.Error("503 without Retry-After")
	}
	// Closing left the room: bob is no longer shown online.
	if ws.online(t, "bob") {
		t.Error("bob still online after Close")
	}
	if err := ws.h.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestHandlerOptionsAreValidated(t *testing.T) {
	t.Parallel()
	c := &Client{logger: hclog.NewNullLogger()}
	bad := map[string]HandlerOption{
		"prefix without slash":   WithPrefix("chat"),
		"prefix with pattern":    WithPrefix("/{x}/"),
		"prefix with dots":       WithPrefix("/a/../b/"),
		"tiny heartbeat":         WithHeartbeat(time.Millisecond),
		"huge heartbeat":         WithHeartbeat(time.Hour),
		"zero buffer":            WithStreamBuffer(0),
		"huge buffer":            WithStreamBuffer(1 << 30),
		"no streams":             WithMaxStreamsPerUser(0),
		"zero upload":            WithUploadLimit(0),
		"long permission window": WithPermissionWindow(time.Minute),
		"nil CSRF protection":    WithCrossOriginProtection(nil),
		"login on another site":  WithLoginURL("https://evil.example/login?next={next}"),
		"login scheme-relative":  WithLoginURL("//evil.example/login"),
		"login relative path":    WithLoginURL("login?next={next}"),
		"login with a space":     WithLoginURL("/log in"),
		"nil option":             nil,
	}
	for name, opt := range bad {
		if _, err := NewHandler(c, webIdentify, opt); err == nil {
			t.Errorf("%s: NewHandler accepted it", name)
		}
	}
	if _, err := NewHandler(nil, webIdentify); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := NewHandler(c, nil); err == nil {
		t.Error("nil identify accepted")
	}
	h, err := NewHandler(c, webIdentify, WithPrefix("/wiki/chat/"), WithHeartbeat(15*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Close(); err != nil {
		t.Fatal(err)
	}
	// The handler follows the prefix the plugin links to, and refuses
	// another.
	c.cfg.chatPrefix = "/talk/"
	if h, err = NewHandler(c, webIdentify); err != nil || h.cfg.prefix != "/talk/" {
		t.Fatalf("prefix from the Client: %v, %v", h, err)
	}
	if _, err := NewHandler(c, webIdentify, WithPrefix("/chat/")); err == nil {
		t.Fatal("NewHandler accepted a prefix the plugin does not link to")
	}
}

func TestParseSeq(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]uint64{"0": 0, "7": 7, "0042": 42, "18446744073709551615": 1<<64 - 1} {
		if got, err := parseSeq(s); err != nil || got != want {
			t.Errorf("parseSeq(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "-1", "+1", " 1", "1 ", "1e3", "0x10", "18446744073709551616", "１"} {
		if _, err := parseSeq(s); err == nil {
			t.Errorf("parseSeq(%q) accepted", s)
		}
	}
}
