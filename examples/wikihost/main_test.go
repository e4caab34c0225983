package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
)

const demoPassword = "pagechat-demo"

func TestFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "-plugin is required"},
		{[]string{"-plugin", "x", "-log-level", "loud"}, "-log-level"},
		{[]string{"-plugin", "x", "extra"}, "unexpected arguments"},
		{[]string{"-nope"}, "not defined"},
		{[]string{"-plugin", "x", "-pages-per-minute", "0"}, "-pages-per-minute"},
		{[]string{"-plugin", "x", "-password-checks", "0"}, "-password-checks"},
		{[]string{"-plugin", "x", "-client-login-failures", "0"}, "-client-login-failures"},
		{[]string{"-plugin", "x", "-read-timeout", "0s"}, "-read-timeout"},
		{[]string{"-plugin", "x", "-max-conns-per-ip", "0"}, "-max-conns-per-ip"},
		{[]string{"-plugin", "x", "-edit-window", "-1m"}, "-edit-window"},
		{[]string{"-plugin", "x", "-messages-per-minute", "0"}, "-messages-per-minute"},
		{[]string{"-plugin", "x", "-upload-bytes-per-hour", "0"}, "-upload-bytes-per-hour"},
		{[]string{"-plugin", "x", "-upload-bytes-per-hour", "-2"}, "-upload-bytes-per-hour"},
		{[]string{"-plugin", "x", "-debug-addr", "0.0.0.0:6060"}, "-debug-addr"},
		{[]string{"-plugin", "x", "-plugin-debug-addr", "192.0.2.1:6061"}, "-plugin-debug-addr"},
	} {
		_, err := parseFlags(tt.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q): %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
	if _, err := parseFlags([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	c, err := parseFlags([]string{"-plugin", "/p"}, io.Discard)
	if err != nil || c.addr != "127.0.0.1:8080" || c.dataDir != "./wikihost-data" || c.transcriptDelay != time.Minute ||
		c.timeZone != "UTC" || c.demoPassword != demoPassword || c.logLevel.String() != "info" ||
		c.pagesPerMinute != 30 || c.clientFailures != 20 || c.readTimeout != time.Minute || c.maxConnsPerIP != 64 || c.passwordChecks < 1 ||
		c.editWindow != 15*time.Minute || c.messagesPerMinute != 120 || c.uploadBytesPerHour != 100<<20 {
		t.Errorf("defaults: %+v, %v", c, err)
	}
}

// An admin of the example wiki can change the chat's message rate and
// upload quota per user and room (issue 10, finding #2: "defaults an admin
// can change"), and uploads count against the message rate.
func TestChatLimitFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary")
	}
	t.Parallel()
	plugin := buildPlugin(t)
	wh := start(t, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-plugin", plugin,
		"-messages-per-minute", "3", "-upload-bytes-per-hour", "1000"})
	wh.do("GET", "/pages/1", "bob", nil, http.StatusOK) // opens the demo's room
	room := "/chat/api/rooms/1.team-room"
	upload := func(user, cid string, size int) (int, string) {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		_ = mw.WriteField("client_id", cid)
		fw, err := mw.CreateFormFile("file", "notes.txt")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write(bytes.Repeat([]byte("x"), size))
		_ = mw.Close()
		req, err := http.NewRequest("POST", wh.base+room+"/files", &body)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(user, demoPassword)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(out)
	}
	// carol: the byte quota.
	if code, body := upload("carol", "u1", 2000); code != http.StatusTooManyRequests || !strings.Contains(body, `"limit_exceeded"`) {
		t.Errorf("upload over the 1000-byte quota: %d %s, want 429 limit_exceeded", code, body)
	}
	// bob: the message rate, which his upload counts against.
	if code, body := upload("bob", "u2", 600); code != http.StatusOK {
		t.Errorf("upload within the quota: %d %s", code, body)
	}
	wh.do("POST", room+"/messages", "bob", map[string]string{"text": "one", "client_id": "m1"}, http.StatusOK)
	wh.do("POST", room+"/messages", "bob", map[string]string{"text": "two", "client_id": "m2"}, http.StatusOK)
	if code, body := wh.request("POST", room+"/messages", "bob", map[string]string{"text": "three", "client_id": "m3"}); code != http.StatusTooManyRequests || !strings.Contains(body, `"rate_limited"`) {
		t.Errorf("fourth message (the upload was the first) within a minute: %d %s, want 429 rate_limited", code, body)
	}
}

// TestEndToEnd builds the real plugin, runs the whole wiki on a free port
// and goes through it as a script would: pages through the API, the
// rendered macro, chat messages through host-sdk's handler, permissions
// enforced by the plugin asking the wiki, the transcript the plugin writes
// back, search over it, and a restart that keeps everything.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary")
	}
	t.Parallel()
	plugin := buildPlugin(t)
	data := t.TempDir()
	args := []string{"-addr", "127.0.0.1:0", "-data", data, "-plugin", plugin, "-transcript-delay", "100ms", "-log-level", "debug"}

	wh := start(t, args)
	demo := wh.do("GET", "/api/search?q=welcome", "alice", nil, http.StatusOK)
	if !strings.Contains(demo, "Welcome to pagechat") {
		t.Errorf("demo page not found by search: %s", demo)
	}
	if page := wh.do("GET", "/pages/1", "carol", nil, http.StatusOK); !strings.Contains(page, `class="pagechat-room"`) || !strings.Contains(page, "Team Room") {
		t.Errorf("demo page has no chat table:\n%s", page)
	}

	// A page with a room, created through the API.
	var created struct{ ID, URL string }
	wh.decode(wh.do("POST", "/api/pages", "bob", map[string]string{"title": "E2E room page", "body": "Testing.\n\n{chat:Some Room}"}, http.StatusCreated), &created)
	room := created.ID + ".some-room"
	page := wh.do("GET", created.URL, "bob", nil, http.StatusOK)
	for _, want := range []string{`class="pagechat-room"`, `data-room="` + room + `"`, `class="pagechat-join-link" href="/chat/rooms/` + room + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}

	// Chat through host-sdk's browser API, with Basic auth.
	msgs := "/chat/api/rooms/" + room + "/messages"
	var sent struct{ Seq uint64 }
	wh.decode(wh.do("POST", msgs, "bob", map[string]string{"text": "hello zanzibar from the end-to-end test", "client_id": "e2e-1"}, http.StatusOK), &sent)
	if sent.Seq != 1 {
		t.Errorf("first message has seq %d", sent.Seq)
	}
	history := wh.do("GET", msgs, "carol", nil, http.StatusOK)
	if !strings.Contains(history, "hello zanzibar") || !strings.Contains(history, `"user_id":"bob"`) {
		t.Errorf("history: %s", history)
	}

	// Permissions are the page's: the plugin asks the wiki, and carol
	// loses the room within the plugin's permission cache window.
	wh.do("PUT", "/api/pages/"+created.ID+"/permissions", "bob", map[string][]string{"view": {"bob"}}, http.StatusOK)
	wh.eventually("carol loses the room", func() bool { return wh.status("GET", msgs, "carol") == http.StatusForbidden })
	wh.do("POST", msgs, "carol", map[string]string{"text": "sneaky", "client_id": "e2e-2"}, http.StatusForbidden)
	wh.do("PUT", "/api/pages/"+created.ID+"/permissions", "bob", map[string][]string{}, http.StatusOK)

	// The plugin writes the day's transcript as a child page, which search
	// finds.
	var transcript struct{ ID, Title string }
	wh.eventually("transcript page", func() bool {
		var p struct {
			Children []struct{ ID, Title string }
		}
		wh.decode(wh.do("GET", "/api/pages/"+created.ID, "bob", nil, http.StatusOK), &p)
		if len(p.Children) == 0 {
			return false
		}
		transcript = p.Children[0]
		return true
	})
	if !strings.HasPrefix(transcript.Title, "Some Room chat transcript ") {
		t.Errorf("transcript title %q", transcript.Title)
	}
	wh.eventually("transcript searchable", func() bool {
		return strings.Contains(wh.do("GET", "/api/search?q=zanzibar", "carol", nil, http.StatusOK), `"id":"`+transcript.ID+`"`)
	})
	if tp := wh.do("GET", "/pages/"+transcript.ID, "carol", nil, http.StatusOK); !strings.Contains(tp, "hello zanzibar") {
		t.Errorf("transcript page:\n%s", tp)
	}

	// A restart on the same data keeps pages, users and chat history, and
	// does not seed the demo twice.
	wh.stop()
	wh = start(t, args)
	if h := wh.do("GET", msgs, "carol", nil, http.StatusOK); !strings.Contains(h, "hello zanzibar") {
		t.Errorf("history after restart: %s", h)
	}
	if s := wh.do("GET", "/api/search?q=welcome", "bob", nil, http.StatusOK); strings.Count(s, `"title":"Welcome to pagechat`) != 1 {
		t.Errorf("demo page after restart: %s", s)
	}
	wh.stop()
}

// buildPlugin builds the plugin binary into a short temporary directory
// (unix socket paths are limited to about 104 bytes).
func buildPlugin(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pcw")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	bin := filepath.Join(dir, "pagechat-plugin")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/pagechat/pagechat/plugin/cmd/pagechat-plugin")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build plugin: %v\n%s", err, out)
	}
	return bin
}

// wikihost is one run of the program, in this process.
type wikihost struct {
	t      *testing.T
	base   string
	cancel context.CancelFunc
	done   chan error
	logs   *testutil.ListenWatcher
}

func start(t *testing.T, args []string) *wikihost {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	wh := &wikihost{t: t, cancel: cancel, done: make(chan error, 1), logs: testutil.NewListenWatcher()}
	go func() { wh.done <- run(ctx, args, wh.logs) }()
	t.Cleanup(wh.stop)
	select {
	case addr := <-wh.logs.Addr():
		wh.base = "http://" + addr
	case err := <-wh.done:
		t.Fatalf("wikihost exited before listening: %v\n%s", err, wh.logs)
	case <-time.After(time.Minute):
		t.Fatalf("wikihost did not log its address\n%s", wh.logs)
	}
	return wh
}

// stop shuts the program down as SIGINT would and checks it ends cleanly.
func (wh *wikihost) stop() {
	wh.t.Helper()
	if wh.cancel == nil {
		return
	}
	wh.cancel()
	wh.cancel = nil
	select {
	case err := <-wh.done:
		if err != nil {
			wh.t.Errorf("wikihost: %v", err)
		}
	case <-time.After(30 * time.Second):
		wh.t.Errorf("wikihost did not shut down\n%s", wh.logs)
	}
	if wh.t.Failed() {
		wh.t.Logf("wikihost log:\n%s", wh.logs)
	}
}

func (wh *wikihost) request(method, path, user string, body any) (int, string) {
	wh.t.Helper()
	var r io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			wh.t.Fatal(err)
		}
		r = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, wh.base+path, r)
	if err != nil {
		wh.t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, demoPassword)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		wh.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		wh.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, string(out)
}

// do sends a request as user (with the demo password) and fails the test
// unless the answer has status want.
func (wh *wikihost) do(method, path, user string, body any, want int) string {
	wh.t.Helper()
	code, out := wh.request(method, path, user, body)
	if code != want {
		wh.t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, user, code, want, out)
	}
	return out
}

func (wh *wikihost) status(method, path, user string) int {
	wh.t.Helper()
	code, _ := wh.request(method, path, user, nil)
	return code
}

func (wh *wikihost) decode(s string, v any) {
	wh.t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		wh.t.Fatalf("decode %s: %v", s, err)
	}
}

// eventually polls cond for up to 20 s.
func (wh *wikihost) eventually(what string, cond func() bool) {
	wh.t.Helper()
	testutil.Eventually(wh.t, 20*time.Second, cond, "%s", what)
}

// Rooms named outside a–z and 0–9 work through the browser API: each
// name keeps its own room (names differing only in non-ASCII letters do
// not collapse into one), and a message posted to one is in its history
// only.
func TestUnicodeRoomsThroughTheBrowserAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary")
	}
	t.Parallel()
	wh := start(t, []string{"-addr", "127.0.0.1:0", "-data", t.TempDir(), "-plugin", buildPlugin(t)})
	var created struct{ ID, URL string }
	wh.decode(wh.do("POST", "/api/pages", "bob", map[string]string{"title": "Unicode rooms", "body": "{chat:日本語}\n\n{chat:Привет}\n\n{chat:Δ Room}\n\n{chat:Ω Room}"}, http.StatusCreated), &created)
	page := wh.do("GET", created.URL, "bob", nil, http.StatusOK)
	rooms := regexp.MustCompile(`data-room="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(rooms) != 4 {
		t.Fatalf("the page shows %d rooms, want 4:\n%s", len(rooms), page)
	}
	seen := map[string]bool{}
	// The slugs keep the letters, case-folded.
	slugs := []string{"日本語", "привет", "δ-room", "ω-room"}
	for i, m := range rooms {
		room := html.UnescapeString(m[1])
		if !strings.HasSuffix(room, "."+slugs[i]) {
			t.Errorf("room %d has id %q, want one ending in .%s", i, room, slugs[i])
		}
		if seen[room] {
			t.Fatalf("two macros share the room %q", room)
		}
		seen[room] = true
		msgs := "/chat/api/rooms/" + url.PathEscape(room) + "/messages"
		text := fmt.Sprintf("message %d for %s", i, room)
		wh.do("POST", msgs, "bob", map[string]string{"text": text, "client_id": fmt.Sprint("u-", i)}, http.StatusOK)
		history := wh.do("GET", msgs, "carol", nil, http.StatusOK)
		if !strings.Contains(history, text) || strings.Count(history, `"seq":`) != 1 {
			t.Errorf("history of %q: %s", room, history)
		}
	}
}
