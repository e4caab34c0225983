package hostsdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/pagechat/pagechat/internal/testutil"
)

// SearchUsers lists the directory's users who may view the page, so
// mentions of users who never joined resolve.
func (h *testHost) SearchUsers(_ context.Context, pageID, prefix string, limit int) ([]User, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []User
	for id, name := range h.users {
		if h.denied[fmt.Sprintf("%s|%s|%v", id, pageID, PermissionView)] {
			continue
		}
		p := strings.ToLower(prefix)
		if strings.HasPrefix(id, p) || strings.HasPrefix(strings.ToLower(name), p) {
			out = append(out, User{ID: id, DisplayName: name})
		}
	}
	slices.SortFunc(out, func(a, b User) int { return strings.Compare(a.ID, b.ID) })
	return out[:min(limit, len(out))], nil
}

func (h *testHost) setNotifyErr(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.notifyErr = err
}

// kept is what a host that keeps one notification per id holds for user:
// the notifications by id, and how many deliveries repeated an id.
func (h *testHost) kept(user string) (map[string]Notification, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make(map[string]Notification)
	repeats := 0
	for _, n := range h.notified {
		if n.UserID != user {
			continue
		}
		if _, ok := out[n.ID]; ok {
			repeats++
		}
		out[n.ID] = n
	}
	return out, repeats
}

func (h *testHost) tries() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.notifyTries
}

// wantOnePerMessage checks that user holds exactly one notification for
// each of seqs 1..n of room, and nothing else.
func wantOnePerMessage(t *testing.T, h *testHost, user, roomID string, n int) {
	t.Helper()
	kept, repeats := h.kept(user)
	var urls []string
	for _, k := range kept {
		urls = append(urls, k.URL)
	}
	slices.Sort(urls)
	var want []string
	for seq := 1; seq <= n; seq++ {
		want = append(want, fmt.Sprintf("/chat/rooms/%s#m-%d", roomID, seq))
	}
	slices.Sort(want)
	if !slices.Equal(urls, want) {
		t.Errorf("%s holds notifications for %q, want exactly %q", user, urls, want)
	}
	t.Logf("%d notifications kept, %d deliveries repeated an id", len(kept), repeats)
}

// killAndRestart SIGKILLs the running plugin process, as a crash would, and
// waits for the Client to have started a new one.
func killAndRestart(t *testing.T, c *Client) {
	t.Helper()
	pid := pluginPID(t, c)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() bool {
		in, err := c.live(testCtx(t))
		if err != nil {
			return false
		}
		rc := in.pc.ReattachConfig()
		return rc != nil && rc.Pid != 0 && rc.Pid != pid
	}, "a new plugin process")
}

// A plugin killed right after messages commit (before the notifier judged
// them), and again after it judged them but while the host refused the
// alerts, delivers exactly one notification per mention in the end.
func TestNotificationsExactlyOnceAcrossSIGKILL(t *testing.T) {
	t.Parallel()
	host := newTestHost()
	c := loadPlugin(t, host, t.TempDir())
	ctx := testCtx(t)
	room := openRoom(t, c, "Crash")
	send := func(i int) {
		for {
			_, err := c.Send(ctx, "alice", room.ID, fmt.Sprint("c", i), fmt.Sprintf("@bob message %d", i))
			if err == nil {
				return
			}
			if !errors.Is(err, ErrPluginUnavailable) || ctx.Err() != nil {
				t.Fatalf("Send %d: %v", i, err)
			}
		}
	}

	// Killed between commit and notify: the notifier judges at most
	// every 250 ms, and the kill comes as soon as the last send returns.
	for i := 1; i <= 20; i++ {
		send(i)
	}
	killAndRestart(t, c)
	testutil.Eventually(t, waitTimeout, func() bool { k, _ := host.kept("bob"); return len(k) >= 20 }, "20 mentions delivered after the restart")

	// Killed with alerts decided but not delivered: the host refuses
	// them until after the kill.
	host.setNotifyErr(errors.New("notification store down"))
	before := host.tries()
	for i := 21; i <= 30; i++ {
		send(i)
	}
	testutil.Eventually(t, waitTimeout, func() bool { return host.tries() >= before+10 }, "the 10 new alerts tried once")
	killAndRestart(t, c)
	host.setNotifyErr(nil)
	testutil.Eventually(t, waitTimeout, func() bool { k, _ := host.kept("bob"); return len(k) >= 30 }, "30 mentions delivered")

	// Nothing more comes: settle, then check exactly one per message.
	if _, err := c.Send(ctx, "alice", room.ID, "last", "@bob last"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, waitTimeout, func() bool { k, _ := host.kept("bob"); return len(k) >= 31 }, "the last mention")
	wantOnePerMessage(t, host, "bob", room.ID, 31)
}

// The browser API's notification endpoints against the real plugin.
func TestBrowserAPIReadStateAndWatch(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	api := ws.api(ws.room.ID)
	getRoom := func(user string) roomJSON {
		t.Helper()
		resp, body := ws.do(t, http.MethodGet, api, basicUser(user), nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET room: %d %s", resp.StatusCode, body)
		}
		var r roomJSON
		if err := json.Unmarshal(body, &r); err != nil {
			t.Fatal(err)
		}
		var raw map[string]any
		_ = json.Unmarshal(body, &raw)
		for _, k := range []string{"unread", "mentions", "watching"} {
			if _, ok := raw[k]; !ok {
				t.Errorf("room JSON lacks %q: %s", k, body)
			}
		}
		return r
	}
	m := ws.send(t, "alice", "c1", "hello @bob")
	if !slices.Equal(m.Mentions, []string{"bob"}) {
		t.Errorf("mentions = %q", m.Mentions)
	}
	ws.send(t, "alice", "c2", "more")
	if r := getRoom("bob"); r.Unread != 2 || r.Mentions != 1 || r.Watching {
		t.Errorf("bob: unread %d, mentions %d, watching %v; want 2, 1, false", r.Unread, r.Mentions, r.Watching)
	}

	// History carries the mentions in JSON.
	resp, body := ws.do(t, http.MethodGet, api+"/messages", basicUser("bob"), nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"mentions":["bob"]`) {
		t.Errorf("history: %d %s", resp.StatusCode, body)
	}

	post := func(user, body string) (*http.Response, []byte) {
		return ws.do(t, http.MethodPost, api+"/read", basicUser(user), strings.NewReader(body), map[string]string{"Content-Type": "application/json"})
	}
	resp, body = post("bob", `{"seq": 1}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"last_read":1`) || !strings.Contains(string(body), `"unread":1`) {
		t.Errorf("POST read: %d %s", resp.StatusCode, body)
	}
	post("bob", `{"seq": 0}`) // never backwards
	if r := getRoom("bob"); r.LastRead != 1 || r.Mentions != 0 {
		t.Errorf("after reading 1: %+v", r)
	}
	resp, body = post("bob", `{"sequence": 1}`)
	wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	resp, body = post("bob", `{}`)
	wantError(t, resp, body, http.StatusBadRequest, "bad_request")
	ws.host.deny("mallory", ws.room.PageID, PermissionView)
	resp, body = post("mallory", `{"seq": 1}`)
	wantError(t, resp, body, http.StatusForbidden, "forbidden")

	resp, body = ws.do(t, http.MethodPut, api+"/watch", basicUser("bob"), nil, nil)
	if resp.StatusCode != http.StatusOK || string(body) != "{\"watching\":true}\n" {
		t.Errorf("PUT watch: %d %s", resp.StatusCode, body)
	}
	if !getRoom("bob").Watching {
		t.Error("bob not watching after PUT")
	}
	resp, body = ws.do(t, http.MethodDelete, api+"/watch", basicUser("bob"), nil, nil)
	if resp.StatusCode != http.StatusOK || string(body) != "{\"watching\":false}\n" {
		t.Errorf("DELETE watch: %d %s", resp.StatusCode, body)
	}
	// A cookie session from another site is refused.
	resp, body = ws.do(t, http.MethodPut, api+"/watch", cookieUser("bob"), nil, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	wantError(t, resp, body, http.StatusForbidden, "cross_origin")

	// Completion: participants and users who may view the page; never
	// someone who may not.
	resp, body = ws.do(t, http.MethodGet, api+"/mentionable?q=b", basicUser("alice"), nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"user_id":"bob"`) || strings.Contains(string(body), "alice") {
		t.Errorf("mentionable?q=b: %d %s", resp.StatusCode, body)
	}
	resp, body = ws.do(t, http.MethodGet, api+"/mentionable?q=", basicUser("alice"), nil, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(body), "mallory") {
		t.Errorf("mentionable lists a user who may not view the page: %s", body)
	}
	resp, body = ws.do(t, http.MethodGet, api+"/mentionable?q=", basicUser("mallory"), nil, nil)
	wantError(t, resp, body, http.StatusForbidden, "forbidden")
}
