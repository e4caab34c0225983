package hostsdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests drive moderation through the browser API against the real
// plugin binary: alice moderates p1, bob only views and posts.

func newModeratedWebServer(t *testing.T) *webServer {
	t.Helper()
	ws := newWebServer(t, nil)
	ws.host.deny("bob", "p1", PermissionModerate)
	return ws
}

// nextEvent skips heartbeats and presence and returns the next event,
// checking that an event with an id carries it as its seq.
func (c *sseConn) nextEvent(t *testing.T) (string, messageJSON) {
	t.Helper()
	for {
		ev, err := c.next()
		if err != nil {
			t.Fatalf("event stream: %v", err)
		}
		if ev.Event == "presence" || ev.Event == "" {
			continue
		}
		if ev.Event == "error" {
			t.Fatalf("stream ended: %s", ev.Data)
		}
		var m messageJSON
		if err := json.Unmarshal([]byte(ev.Data), &m); err != nil {
			t.Fatalf("%s data %q: %v", ev.Event, ev.Data, err)
		}
		if ev.ID != strconv.FormatUint(m.Seq, 10) {
			t.Fatalf("%s event id %q, seq %d", ev.Event, ev.ID, m.Seq)
		}
		return ev.Event, m
	}
}

func (ws *webServer) jsonDo(t *testing.T, method, path string, as who, body string) (*http.Response, []byte) {
	t.Helper()
	var r *strings.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	if r == nil {
		return ws.do(t, method, path, as, nil, nil)
	}
	return ws.do(t, method, path, as, r, map[string]string{"Content-Type": "application/json"})
}

func TestEditAndDeleteThroughTheBrowserAPI(t *testing.T) {
	t.Parallel()
	ws := newModeratedWebServer(t)
	api := ws.api(ws.room.ID)
	typo := ws.send(t, "bob", "b1", "teh typo")
	secret := ws.send(t, "bob", "b2", "my password is hunter2")
	mine := ws.send(t, "alice", "a1", "alice speaking")
	watch := ws.openEvents(t, basicUser("alice"), "after="+strconv.FormatUint(mine.Seq, 10), nil)

	resp, body := ws.jsonDo(t, http.MethodPatch, api+"/messages/"+strconv.FormatUint(typo.Seq, 10), basicUser("bob"), `{"text":"the typo"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("edit: %d %s", resp.StatusCode, body)
	}
	var edit changeJSON
	if err := json.Unmarshal(body, &edit); err != nil || edit.Target != typo.Seq || edit.Seq != mine.Seq+1 || edit.Event.Kind != "edit" {
		t.Fatalf("edit answer %s (%v)", body, err)
	}
	name, ev := watch.nextEvent(t)
	if name != "edit" || ev.Seq != edit.Seq || ev.Target != typo.Seq || ev.Text != "the typo" || !strings.Contains(ev.HTML, "the typo") {
		t.Errorf("stream got %s %+v, want the edit", name, ev)
	}

	// bob deletes his own; alice, a moderator, would be allowed too.
	resp, body = ws.jsonDo(t, http.MethodDelete, api+"/messages/"+strconv.FormatUint(secret.Seq, 10), basicUser("bob"), "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("delete: %d %s", resp.StatusCode, body)
	}
	name, ev = watch.nextEvent(t)
	if name != "delete" || ev.Target != secret.Seq || ev.UserID != "bob" || ev.Text != "" {
		t.Errorf("stream got %s %+v, want the delete", name, ev)
	}
	// Deleting again as bob is the same delete.
	resp, body = ws.jsonDo(t, http.MethodDelete, api+"/messages/"+strconv.FormatUint(secret.Seq, 10), basicUser("bob"), "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"duplicate":true`) {
		t.Errorf("second delete: %d %s", resp.StatusCode, body)
	}

	for _, tc := range []struct {
		name, method, path, as, body string
		status                       int
		code                         string
	}{
		{"edit of another's message", http.MethodPatch, "/messages/" + strconv.FormatUint(mine.Seq, 10), "bob", `{"text":"x"}`, 403, "not_author"},
		{"moderator editing another's message", http.MethodPatch, "/messages/" + strconv.FormatUint(typo.Seq, 10), "alice", `{"text":"x"}`, 403, "not_author"},
		{"delete of another's message", http.MethodDelete, "/messages/" + strconv.FormatUint(mine.Seq, 10), "bob", "", 403, "not_author"},
		{"edit of an unknown seq", http.MethodPatch, "/messages/999", "bob", `{"text":"x"}`, 404, "message_not_found"},
		{"delete of an unknown seq", http.MethodDelete, "/messages/999", "alice", "", 404, "message_not_found"},
		{"edit of a deleted message", http.MethodPatch, "/messages/" + strconv.FormatUint(secret.Seq, 10), "bob", `{"text":"x"}`, 409, "message_deleted"},
		{"blank edit", http.MethodPatch, "/messages/" + strconv.FormatUint(typo.Seq, 10), "bob", `{"text":"  "}`, 400, "bad_request"},
		{"bad seq", http.MethodPatch, "/messages/-1", "bob", `{"text":"x"}`, 400, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := ws.jsonDo(t, tc.method, api+tc.path, basicUser(tc.as), tc.body)
			wantError(t, resp, body, tc.status, tc.code)
		})
	}
	// A browser session's edit from another site is refused.
	resp, body = ws.do(t, http.MethodPatch, api+"/messages/"+strconv.FormatUint(typo.Seq, 10), cookieUser("bob"),
		strings.NewReader(`{"text":"x"}`), map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	wantError(t, resp, body, http.StatusForbidden, "cross_origin")

	// History shows messages as they are now, at their own sequences,
	// without the events.
	resp, body = ws.do(t, http.MethodGet, api+"/messages", basicUser("alice"), nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("history: %d %s", resp.StatusCode, body)
	}
	var hist historyJSON
	if err := json.Unmarshal(body, &hist); err != nil {
		t.Fatal(err)
	}
	if len(hist.Messages) != 3 {
		t.Fatalf("history has %d entries, want the 3 messages: %s", len(hist.Messages), body)
	}
	if m := hist.Messages[0]; m.Seq != typo.Seq || m.Text != "the typo" || m.EditedAt.IsZero() {
		t.Errorf("edited message in history = %+v", m)
	}
	if m := hist.Messages[1]; m.Seq != secret.Seq || !m.Deleted || m.DeletedBy != "bob" || m.Text != "" || m.HTML != "" {
		t.Errorf("deleted message in history = %+v", m)
	}
	if strings.Contains(string(body), "hunter2") {
		t.Error("history still carries the deleted text")
	}
	// Erased from the plugin's database file itself, not only hidden;
	// the text that replaced the typo is there, as the probe's control.
	db, err := os.ReadFile(filepath.Join(ws.dataDir, "pagechat.db"))
	if err != nil {
		t.Fatal(err)
	}
	for needle, want := range map[string]bool{"hunter2": false, "teh typo": false, "the typo": true} {
		if got := bytes.Contains(db, []byte(needle)); got != want {
			t.Errorf("the plugin's database file holds %q: %v, want %v", needle, got, want)
		}
	}

	// A stream resumed from before the changes replays them in order,
	// with no gap, and no erased text.
	again := ws.openEvents(t, basicUser("alice"), "", map[string]string{"Last-Event-ID": strconv.FormatUint(typo.Seq-1, 10)})
	var kinds []string
	for seq := typo.Seq; seq <= edit.Seq+1; seq++ {
		name, ev := again.nextEvent(t)
		if ev.Seq != seq {
			t.Fatalf("replay gave %d, want %d", ev.Seq, seq)
		}
		if strings.Contains(ev.Text+ev.HTML, "hunter2") || strings.Contains(ev.Text, "teh") {
			t.Errorf("replay of %d carries erased text: %+v", seq, ev)
		}
		kinds = append(kinds, name)
	}
	if got := strings.Join(kinds, " "); got != "message message message edit delete" {
		t.Errorf("replay = %s", got)
	}
}

func TestDeletingAnUploadRemovesTheFile(t *testing.T) {
	t.Parallel()
	ws := newModeratedWebServer(t)
	body, ct := multipartBody(t, map[string]string{"client_id": "u1"}, "plan.txt", []byte("the plan"))
	resp, b := ws.do(t, http.MethodPost, ws.api(ws.room.ID)+"/files", basicUser("bob"), body, map[string]string{"Content-Type": ct})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("upload: %d %s", resp.StatusCode, b)
	}
	var up uploadResponseJSON
	if err := json.Unmarshal(b, &up); err != nil {
		t.Fatal(err)
	}
	if !ws.host.hasFile("plan.txt") {
		t.Fatal("the host did not store the upload")
	}
	resp, b = ws.jsonDo(t, http.MethodDelete, ws.api(ws.room.ID)+"/messages/"+strconv.FormatUint(up.Seq, 10), basicUser("alice"), `{"reason":"wrong room"}`)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"reason":"wrong room"`) {
		t.Fatalf("moderator's delete: %d %s", resp.StatusCode, b)
	}
	if ws.host.hasFile("plan.txt") {
		t.Error("the deleted upload's file is still on the page")
	}
	resp, b = ws.do(t, http.MethodGet, ws.api(ws.room.ID), basicUser("bob"), nil, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), "plan.txt") {
		t.Errorf("room info after the delete: %d %s", resp.StatusCode, b)
	}
}

func TestKickBanAndTopicThroughTheBrowserAPI(t *testing.T) {
	t.Parallel()
	ws := newModeratedWebServer(t)
	api := ws.api(ws.room.ID)
	ws.send(t, "bob", "b1", "hello")

	var info roomJSON
	resp, body := ws.do(t, http.MethodGet, api, basicUser("bob"), nil, nil)
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != 200 || info.CanModerate || !info.CanPost || info.EditWindowSeconds != 900 {
		t.Errorf("bob's room info: %d %s", resp.StatusCode, body)
	}
	resp, body = ws.do(t, http.MethodGet, api, basicUser("alice"), nil, nil)
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != 200 || !info.CanModerate {
		t.Errorf("alice's room info: %d %s", resp.StatusCode, body)
	}

	// Moderators only.
	for _, tc := range []struct{ method, path, body string }{
		{http.MethodPut, "/topic", `{"topic":"x"}`},
		{http.MethodPost, "/kick", `{"user_id":"alice"}`},
		{http.MethodPost, "/bans", `{"user_id":"alice"}`},
		{http.MethodGet, "/bans", ""},
		{http.MethodDelete, "/bans/alice", ""},
	} {
		resp, body := ws.jsonDo(t, tc.method, api+tc.path, basicUser("bob"), tc.body)
		wantError(t, resp, body, http.StatusForbidden, "not_moderator")
	}

	bobStream := ws.openEvents(t, basicUser("bob"), "after=1", nil)
	resp, body = ws.jsonDo(t, http.MethodPut, api+"/topic", basicUser("alice"), `{"topic":"Release Friday"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("topic: %d %s", resp.StatusCode, body)
	}
	if name, ev := bobStream.nextEvent(t); name != "topic" || ev.Text != "Release Friday" || ev.UserID != "alice" {
		t.Errorf("bob's stream got %s %+v, want the topic", name, ev)
	}
	resp, body = ws.do(t, http.MethodGet, api, basicUser("bob"), nil, nil)
	if err := json.Unmarshal(body, &info); err != nil || resp.StatusCode != 200 || info.Topic != "Release Friday" || info.TopicBy != "alice" {
		t.Errorf("room info topic: %d %s", resp.StatusCode, body)
	}

	// A kick ends bob's stream now; he may come back.
	resp, body = ws.jsonDo(t, http.MethodPost, api+"/kick", basicUser("alice"), `{"user_id":"bob","reason":"cool off"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("kick: %d %s", resp.StatusCode, body)
	}
	if ev := lastError(t, bobStream); ev.Code != "kicked" || !strings.Contains(ev.Error, "cool off") {
		t.Errorf("kicked stream ended with %+v", ev)
	}
	bobStream = ws.openEvents(t, basicUser("bob"), "", nil)

	// A ban ends it too and keeps bob out, with a sentence that says why
	// and until when.
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	resp, body = ws.jsonDo(t, http.MethodPost, api+"/bans", basicUser("alice"),
		`{"user_id":"bob","reason":"spam","expires":"`+until.Format(time.RFC3339)+`"}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("ban: %d %s", resp.StatusCode, body)
	}
	if ev := lastError(t, bobStream); ev.Code != "banned" || !strings.Contains(ev.Error, "spam") {
		t.Errorf("banned stream ended with %+v", ev)
	}
	resp, body = ws.do(t, http.MethodGet, api, basicUser("bob"), nil, nil)
	wantError(t, resp, body, http.StatusForbidden, "banned")
	if !strings.Contains(string(body), "spam") || !strings.Contains(string(body), until.Format("2006-01-02")) {
		t.Errorf("ban answer does not say why and until when: %s", body)
	}
	resp, body = ws.jsonDo(t, http.MethodPost, api+"/messages", basicUser("bob"), `{"text":"let me in","client_id":"b9"}`)
	wantError(t, resp, body, http.StatusForbidden, "banned")
	resp, _ = ws.do(t, http.MethodGet, api+"/events", basicUser("bob"), nil, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("banned user's event stream: %d, want 403", resp.StatusCode)
	}

	resp, body = ws.do(t, http.MethodGet, api+"/bans", basicUser("alice"), nil, nil)
	var bans bansJSON
	if err := json.Unmarshal(body, &bans); err != nil || len(bans.Bans) != 1 || bans.Bans[0].UserID != "bob" ||
		bans.Bans[0].Reason != "spam" || bans.Bans[0].BannedBy != "alice" || !bans.Bans[0].ExpiresAt.Equal(until) {
		t.Errorf("bans: %d %s", resp.StatusCode, body)
	}
	resp, body = ws.jsonDo(t, http.MethodPost, api+"/bans", basicUser("alice"), `{"user_id":"bob","expires":"tomorrow"}`)
	wantError(t, resp, body, http.StatusBadRequest, "bad_request")

	resp, body = ws.do(t, http.MethodDelete, api+"/bans/bob", basicUser("alice"), nil, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"lifted":true`) {
		t.Fatalf("unban: %d %s", resp.StatusCode, body)
	}
	resp, body = ws.do(t, http.MethodGet, api, basicUser("bob"), nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("after the unban: %d %s", resp.StatusCode, body)
	}
}

// lastError reads a stream to its end and returns its final error event.
func lastError(t *testing.T, c *sseConn) errorJSON {
	t.Helper()
	evs := c.waitEnd(t)
	for i := len(evs) - 1; i >= 0; i-- {
		if evs[i].Event == "error" {
			var e errorJSON
			if err := json.Unmarshal([]byte(evs[i].Data), &e); err != nil {
				t.Fatal(err)
			}
			return e
		}
	}
	t.Fatalf("stream ended without an error event: %+v", evs)
	return errorJSON{}
}

// TestBannedUserRefusedEverywhere checks every read, stream, post and
// change endpoint of the browser API, the popup page, OpenRoom and the
// macro table against a banned user: 403 with code "banned" and the
// plugin's sentence (reason and end), the popup page saying so rather
// than "no access", the macro the sentence instead of a table.
func TestBannedUserRefusedEverywhere(t *testing.T) {
	t.Parallel()
	ws := newModeratedWebServer(t)
	ctx := testCtx(t)
	api := ws.api(ws.room.ID)
	first := ws.send(t, "bob", "b1", "hello")
	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	if _, err := ws.client.Ban(ctx, "alice", ws.room.ID, "bob", "spam", until); err != nil {
		t.Fatal(err)
	}
	seq := strconv.FormatUint(first.Seq, 10)
	upload, uploadType := multipartBody(t, map[string]string{"client_id": "u1"}, "notes.txt", []byte("notes"))
	for _, tc := range []struct {
		method, path, body string
		hdr                map[string]string
		raw                io.Reader
	}{
		{method: http.MethodGet, path: ""},
		{method: http.MethodGet, path: "/messages"},
		{method: http.MethodGet, path: "/events"},
		{method: http.MethodGet, path: "/mentionable?q=a"},
		{method: http.MethodPost, path: "/messages", body: `{"text":"let me in","client_id":"b2"}`},
		{method: http.MethodPost, path: "/files", raw: upload, hdr: map[string]string{"Content-Type": uploadType}},
		{method: http.MethodPost, path: "/typing", body: `{}`},
		{method: http.MethodPost, path: "/read", body: `{"seq":` + seq + `}`},
		{method: http.MethodPut, path: "/watch"},
		{method: http.MethodPatch, path: "/messages/" + seq, body: `{"text":"edited"}`},
		{method: http.MethodDelete, path: "/messages/" + seq},
	} {
		var resp *http.Response
		var body []byte
		if tc.raw != nil {
			resp, body = ws.do(t, tc.method, api+tc.path, basicUser("bob"), tc.raw, tc.hdr)
		} else {
			resp, body = ws.jsonDo(t, tc.method, api+tc.path, basicUser("bob"), tc.body)
		}
		wantError(t, resp, body, http.StatusForbidden, "banned")
		if !strings.Contains(string(body), "spam") || !strings.Contains(string(body), until.Format("2006-01-02")) {
			t.Errorf("%s %s: the answer does not say why and until when: %s", tc.method, tc.path, body)
		}
	}

	// The popup page says bob is banned, why and until when.
	resp, body := ws.do(t, http.MethodGet, "/chat/rooms/"+ws.room.ID, cookieUser("bob"), nil, nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "Banned from this room") ||
		!strings.Contains(string(body), "You are banned from this room") || !strings.Contains(string(body), "spam") {
		t.Errorf("banned user's popup: %d\n%s", resp.StatusCode, body)
	}
	if _, err := ws.client.OpenRoom(ctx, "bob", "p1", ws.room.Name); !errors.Is(err, ErrBanned) {
		t.Errorf("OpenRoom for a banned user: %v, want ErrBanned", err)
	}
	m, err := ws.client.RenderMacro(ctx, MacroRequest{UserID: "bob", PageID: "p1", Name: ws.room.Name})
	if err != nil || !strings.Contains(m.HTML, "You are banned from this room") || !strings.Contains(m.HTML, "spam") || strings.Contains(m.HTML, "/chat/rooms/") {
		t.Errorf("banned user's macro: %v %s", err, m.HTML)
	}
}
