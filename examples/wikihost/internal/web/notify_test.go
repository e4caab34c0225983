package web

import (
	"context"
	"net/http"
	"strings"
	"testing"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

type notificationsJSON struct {
	Unread int                `json:"unread"`
	Items  []notificationJSON `json:"items"`
}

func TestNotificationsAPIAndBell(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	page := ts.createPage("alice", "Team", "{chat:Room}", "")
	secret := ts.createPage("alice", "Secret", "{chat:Room}", "")
	ts.do("PUT", "/api/pages/"+secret+"/permissions", "alice", map[string][]string{"view": {"alice"}, "edit": {"alice"}})
	host := ts.wiki.Host()
	ctx := context.Background()
	notify := func(id, room, user string) {
		t.Helper()
		err := host.Notify(ctx, hostsdk.Notification{ID: id, UserID: user, RoomID: room, Kind: "mention",
			Subject: "Alice mentioned you in Room", Body: "hi @bob", URL: "/chat/rooms/" + room + "#m-" + id})
		if err != nil {
			t.Fatalf("Notify: %v", err)
		}
	}
	notify("1", page+".room", "bob")
	notify("1", page+".room", "bob") // the plugin repeating after a crash
	notify("2", page+".room", "bob")
	notify("3", secret+".room", "bob") // bob may not view it: dropped
	if err := host.Notify(ctx, hostsdk.Notification{ID: "x", UserID: "bob", URL: "https://evil.example/"}); err != nil {
		t.Fatal(err)
	}

	got := decode[notificationsJSON](t, ts.do("GET", "/api/notifications", "bob", nil), http.StatusOK)
	if got.Unread != 3 || len(got.Items) != 3 {
		t.Fatalf("notifications = %+v, want 3 unread", got)
	}
	if it := got.Items[1]; it.URL != "/chat/rooms/"+page+".room#m-2" || it.Subject != "Alice mentioned you in Room" || it.Read || it.ID == "" || it.Created.IsZero() {
		t.Errorf("second newest = %+v", it)
	}
	if got.Items[0].URL != "" {
		t.Errorf("an off-site URL was kept: %q", got.Items[0].URL)
	}
	if empty := decode[notificationsJSON](t, ts.do("GET", "/api/notifications", "carol", nil), http.StatusOK); empty.Unread != 0 || empty.Items == nil || len(empty.Items) != 0 {
		t.Errorf("carol's = %+v, want an empty list", empty)
	}

	// The bell in the header counts them.
	rec := ts.do("GET", "/pages/"+page, "bob", nil)
	if !strings.Contains(rec.Body.String(), `<span class="bell-count">3</span>`) {
		t.Errorf("page header has no bell with 3: %s", rec.Body)
	}
	rec = ts.do("GET", "/notifications", "bob", nil)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `href="/chat/rooms/`+page+`.room#m-2"`) {
		t.Errorf("notifications page: %d %s", rec.Code, rec.Body)
	}

	read := decode[map[string]int](t, ts.do("POST", "/api/notifications/read", "bob", map[string]any{"ids": []string{got.Items[1].ID, "nonsense"}}), http.StatusOK)
	if read["unread"] != 2 {
		t.Errorf("after reading one: %v", read)
	}
	decode[apiErr](t, ts.do("POST", "/api/notifications/read", "bob", map[string]any{}), http.StatusBadRequest)
	decode[apiErr](t, ts.do("POST", "/api/notifications/read", "", map[string]any{"all": true}), http.StatusUnauthorized)
	// Another user's ids mark nothing of bob's.
	decode[map[string]int](t, ts.do("POST", "/api/notifications/read", "carol", map[string]any{"all": true}), http.StatusOK)
	read = decode[map[string]int](t, ts.do("POST", "/api/notifications/read", "bob", map[string]any{"all": true}), http.StatusOK)
	if read["unread"] != 0 {
		t.Errorf("after reading all: %v", read)
	}
	rec = ts.do("GET", "/pages/"+page, "bob", nil)
	if !strings.Contains(rec.Body.String(), `<span class="bell-count"></span>`) {
		t.Errorf("bell still counts after reading all")
	}
}

func TestSearchUsersOnlyViewers(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	secret := ts.createPage("alice", "Secret", "", "")
	ts.do("PUT", "/api/pages/"+secret+"/permissions", "alice", map[string][]string{"view": {"alice", "bob"}, "edit": {"alice"}})
	users, err := ts.wiki.Host().SearchUsers(context.Background(), secret, "", 10)
	if err != nil || len(users) != 2 || users[0].ID != "alice" || users[1].ID != "bob" {
		t.Errorf("SearchUsers = %+v, %v; want alice and bob", users, err)
	}
	users, _ = ts.wiki.Host().SearchUsers(context.Background(), secret, "B", 10)
	if len(users) != 1 || users[0].ID != "bob" {
		t.Errorf("SearchUsers(B) = %+v", users)
	}
	p, err := ts.wiki.Host().GetPage(context.Background(), secret)
	if err != nil || p.AuthorID != "alice" {
		t.Errorf("GetPage author = %q, %v", p.AuthorID, err)
	}
}
