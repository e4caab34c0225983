package wiki

import (
	"context"
	"sync"
	"testing"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

// alertBox records what Notify hands the Alerter.
type alertBox struct {
	mu  sync.Mutex
	got []hostsdk.Notification
}

func (a *alertBox) Alert(n hostsdk.Notification) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.got = append(a.got, n)
	return true
}

func (a *alertBox) ids() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for _, n := range a.got {
		out = append(out, n.ID)
	}
	return out
}

// TestNotifyHandsStoredNotificationsToTheAlerter checks that the bridge
// gets a notification exactly when the wiki's list does: once per id,
// never for a page the user may not view, with the URL the list keeps.
func TestNotifyHandsStoredNotificationsToTheAlerter(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	h := w.Host()
	ctx := context.Background()
	open := mustCreate(t, w, "alice", PageInput{Title: "Team", Body: "{chat:Room}"})
	secret := mustCreate(t, w, "alice", PageInput{Title: "Secret", Body: "{chat:Room}"})
	if _, err := w.SetPermissions("alice", secret, []string{"alice"}, []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	notify := func(n hostsdk.Notification) {
		t.Helper()
		if err := h.Notify(ctx, n); err != nil {
			t.Fatalf("Notify(%s): %v", n.ID, err)
		}
	}
	// Before an Alerter is set, notifications are only listed.
	notify(hostsdk.Notification{ID: "n0", UserID: "bob", RoomID: open + ".room", Subject: "early"})
	box := &alertBox{}
	w.SetAlerter(box)
	notify(hostsdk.Notification{ID: "n1", UserID: "bob", RoomID: open + ".room", Subject: "s", URL: "/chat/rooms/" + open + ".room#m-1"})
	notify(hostsdk.Notification{ID: "n1", UserID: "bob", RoomID: open + ".room", Subject: "s", URL: "/chat/rooms/" + open + ".room#m-1"}) // repeated after a plugin crash
	notify(hostsdk.Notification{ID: "n2", UserID: "bob", RoomID: secret + ".room", Subject: "secret"})                                    // bob may not view it
	notify(hostsdk.Notification{ID: "n3", UserID: "bob", RoomID: open + ".room", Subject: "x", URL: "https://evil.example/"})
	w.SetAlerter(nil)
	notify(hostsdk.Notification{ID: "n4", UserID: "bob", RoomID: open + ".room", Subject: "late"})

	if got := box.ids(); len(got) != 2 || got[0] != "n1" || got[1] != "n3" {
		t.Fatalf("alerted %v, want [n1 n3]", got)
	}
	if u := box.got[0].URL; u != "/chat/rooms/"+open+".room#m-1" || box.got[0].UserID != "bob" {
		t.Errorf("alert = %+v", box.got[0])
	}
	if u := box.got[1].URL; u != "" {
		t.Errorf("an off-site URL reached the alert: %q", u)
	}
	if _, n, err := w.Notifications("bob", 10); err != nil || n != 4 {
		t.Errorf("bob's list has %d unread, %v; want 4", n, err)
	}
}
