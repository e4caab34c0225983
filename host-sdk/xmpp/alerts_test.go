package xmpp_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/host-sdk/xmpp"
	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

var (
	_ xmpp.AlertPrefs      = (*testHost)(nil)
	_ hostsdk.Notifier     = (*testHost)(nil)
	_ hostsdk.UserSearcher = (*testHost)(nil)
)

// AlertJID and SetAlerts implement xmpp.AlertPrefs: alerts go to the JID
// linked to the user unless they muted them, or where alertTo says.
func (h *testHost) AlertJID(_ context.Context, userID string) (string, bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.muted[userID] {
		return "", false, nil
	}
	if j, ok := h.alertTo[userID]; ok {
		return j, true, nil
	}
	for j, u := range h.links {
		if u == userID {
			return j, true, nil
		}
	}
	return "", false, nil
}

func (h *testHost) SetAlerts(_ context.Context, userID string, on bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.muted == nil {
		h.muted = make(map[string]bool)
	}
	h.muted[userID] = !on
	return nil
}

// Notify implements hostsdk.Notifier: the plugin's notifications go to
// h.notify, if set.
func (h *testHost) Notify(_ context.Context, n hostsdk.Notification) error {
	h.mu.Lock()
	f := h.notify
	h.mu.Unlock()
	if f != nil {
		f(n)
	}
	return nil
}

// SearchUsers implements hostsdk.UserSearcher, so @name finds users who
// never joined the room.
func (h *testHost) SearchUsers(_ context.Context, pageID, prefix string, limit int) ([]hostsdk.User, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []hostsdk.User
	for id, name := range h.users {
		if len(out) < limit && strings.HasPrefix(strings.ToLower(id), strings.ToLower(prefix)) &&
			!h.denied[fmt.Sprintf("%s|%s|%v", id, pageID, hostsdk.PermissionView)] {
			out = append(out, hostsdk.User{ID: id, DisplayName: name})
		}
	}
	return out, nil
}

// TestAlerts follows a mention from the plugin's Notify through
// Component.Alert to the user's XMPP client, and checks who gets nothing:
// a user who muted alerts, and a JID that is not the user's verified one.
func TestAlerts(t *testing.T) {
	t.Parallel()
	b := startBridge(t)
	ctx := context.Background()
	notified := make(chan hostsdk.Notification, 16)
	b.host.mu.Lock()
	b.host.notify = func(n hostsdk.Notification) {
		b.comp.Alert(n)
		notified <- n
	}
	b.host.alertTo = map[string]string{"carol": b.srv.JID("eve")} // a host that points carol's alerts at an unverified JID
	b.host.mu.Unlock()
	bot := b.comp.BotJID()
	fromBot := func(substr string) func(*xmpptest.Stanza) bool {
		return func(s *xmpptest.Stanza) bool {
			return s.XMLName.Local == "message" && strings.HasPrefix(s.Attr("from"), bot) && s.Attr("type") == "chat" &&
				s.Child("", "body") != nil && strings.Contains(s.Child("", "body").Text, substr)
		}
	}
	awaitNotify := func(user string, seq string) {
		t.Helper()
		for {
			select {
			case n := <-notified:
				if n.UserID == user && strings.HasSuffix(n.URL, "#m-"+seq) {
					return
				}
			case <-t.Context().Done():
				t.Fatalf("no notification for %s of message %s", user, seq)
			}
		}
	}
	alice := b.client("alice", "phone")
	bob := b.client("bob", "r")
	eve := b.client("eve", "r")
	carol := b.client("carol", "r")
	// flush sends bob an alert and waits for it: alerts go out in order,
	// so every alert queued before it has been sent or dropped by then.
	flushes := 0
	flush := func() {
		t.Helper()
		flushes++
		id := "flush-" + string(rune('a'+flushes))
		if !b.comp.Alert(hostsdk.Notification{ID: id, UserID: "bob", Subject: id}) {
			t.Fatalf("flush alert %s not queued", id)
		}
		bob.Expect(wait, "flush alert", fromBot(id))
	}

	// A mention reaches alice's client from the bot, with the absolute
	// link to the exact message.
	if _, err := b.chat.Send(ctx, "bob", b.roomID, "m1", "hello @alice, have a look"); err != nil {
		t.Fatal(err)
	}
	got := alice.Expect(wait, "alert for the mention", fromBot("mentioned you"))
	body := got.Child("", "body").Text
	if want := "http://wiki.test/chat/rooms/" + b.roomID + "#m-1"; !strings.Contains(body, want) || !strings.Contains(body, "have a look") {
		t.Errorf("alert body %q lacks the message or the link %s", body, want)
	}
	if !strings.HasPrefix(got.Attr("to"), b.srv.JID("alice")) {
		t.Errorf("alert sent to %q", got.Attr("to"))
	}

	// The same notification handed over again is sent once.
	awaitNotify("alice", "1")
	dup := hostsdk.Notification{ID: "dup-1", UserID: "alice", Subject: "dup alert"}
	if !b.comp.Alert(dup) || b.comp.Alert(dup) {
		t.Error("a repeated notification id was queued again")
	}
	// Before muting: an alert still queued when the mute lands is muted
	// too, rightly.
	alice.Expect(wait, "the repeated notification", fromBot("dup alert"))

	// Muted: the notification is made, nothing reaches the client.
	alice.Send(`<message to='%s' type='chat' id='mu'><body>mute</body></message>`, bot)
	alice.Expect(wait, "mute answer", fromBot("Alerts are off"))
	if _, err := b.chat.Send(ctx, "bob", b.roomID, "m2", "@alice second"); err != nil {
		t.Fatal(err)
	}
	awaitNotify("alice", "2")
	flush()
	alice.Send(`<message to='%s' type='chat' id='un'><body>unmute</body></message>`, bot)
	alice.Expect(wait, "unmute answer", fromBot("Alerts are on"))
	if _, err := b.chat.Send(ctx, "bob", b.roomID, "m3", "@alice third"); err != nil {
		t.Fatal(err)
	}
	alice.Expect(wait, "alert after unmuting", fromBot("#m-3"))
	if n := len(alice.All(fromBot("#m-2"))); n != 0 {
		t.Errorf("a muted user got %d alerts:\n%s", n, alice.Dump())
	}
	if n := len(alice.All(fromBot("dup alert"))); n != 1 {
		t.Errorf("the repeated notification arrived %d times", n)
	}

	// A host that names a JID not verified as the user's: nothing is sent.
	if _, err := b.chat.Send(ctx, "bob", b.roomID, "m4", "@carol look"); err != nil {
		t.Fatal(err)
	}
	awaitNotify("carol", "4")
	flush()
	// Stanzas to one client arrive in order: once these arrive, an alert
	// sent before them would have too.
	for _, c := range []struct {
		client *xmpptest.Client
		user   string
	}{{eve, "eve"}, {carol, "carol"}} {
		if err := b.comp.SendChat(ctx, b.srv.JID(c.user), "sync "+c.user); err != nil {
			t.Fatal(err)
		}
		c.client.Expect(wait, "sync", fromBot("sync "+c.user))
	}
	if n := len(eve.All(fromBot("look"))); n != 0 {
		t.Errorf("an unverified JID got %d alerts:\n%s", n, eve.Dump())
	}
	if n := len(carol.All(fromBot("look"))); n != 0 {
		t.Errorf("carol got %d alerts though the host named another JID", n)
	}

	// The bot's help lists the commands.
	alice.Send(`<message to='%s' type='chat' id='h'><body>help</body></message>`, bot)
	alice.Expect(wait, "help", fromBot("unmute"))
}

// TestDisplayedMarkers checks that XEP-0333 displayed markers sent to the
// room move the sender's read marker, by stanza-id and by origin-id.
func TestDisplayedMarkers(t *testing.T) {
	t.Parallel()
	b := startBridge(t)
	ctx := context.Background()
	alice := b.client("alice", "r")
	b.join(alice, "Alice", "maxstanzas='0'")
	carol := b.client("carol", "r")
	b.join(carol, "Carol", "maxstanzas='0'")

	// The room says it takes markers, and messages are markable.
	alice.Send(`<iq type='get' id='d1' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, b.room)
	info := alice.Expect(wait, "disco#info", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "d1" })
	if !strings.Contains(info.Raw, "urn:xmpp:chat-markers:0") {
		t.Errorf("disco#info does not advertise chat markers: %s", info.Raw)
	}
	for i, text := range []string{"one", "two", "three"} {
		if _, err := b.chat.Send(ctx, "bob", b.roomID, "w"+text, text); err != nil {
			t.Fatal(err)
		}
		m := alice.Expect(wait, "message "+text, groupchatWithBody(text))
		if m.Child("urn:xmpp:chat-markers:0", "markable") == nil {
			t.Errorf("message %d is not markable: %s", i+1, m.Raw)
		}
	}
	readState := func() hostsdk.ReadState {
		t.Helper()
		info, err := b.chat.RoomInfo(ctx, "alice", b.roomID)
		if err != nil {
			t.Fatal(err)
		}
		return info.Read
	}
	if st := readState(); st.Unread != 3 {
		t.Fatalf("before any marker: %+v, want 3 unread", st)
	}
	waitRead := func(what string, last uint64, unread int) {
		t.Helper()
		var st hostsdk.ReadState
		testutil.Eventually(t, wait, func() bool {
			st = readState()
			return st.LastRead == last && st.Unread == unread
		}, "%s (read state now %+v)", what, &st)
	}

	// By stanza-id (the sequence), as groupchat markers name messages.
	alice.Send(`<message to='%s' type='groupchat' id='k1'><displayed xmlns='urn:xmpp:chat-markers:0' id='2'/></message>`, b.room)
	waitRead("marker at 2", 2, 1)

	// By origin-id, for a message carol sent over XMPP.
	carol.Send(`<message to='%s' type='groupchat' id='c1'><body>from carol</body><origin-id xmlns='urn:xmpp:sid:0' id='carol-o1'/></message>`, b.room)
	alice.Expect(wait, "carol's message", groupchatWithBody("from carol"))
	waitRead("carol's message unread", 2, 2)
	alice.Send(`<message to='%s' type='groupchat' id='k2'><displayed xmlns='urn:xmpp:chat-markers:0' id='carol-o1'/></message>`, b.room)
	waitRead("marker at carol's message", 4, 0)

	// Markers never move back, and ones naming no delivered message are
	// ignored; neither is stored as a message.
	alice.Send(`<message to='%s' type='groupchat' id='k3'><displayed xmlns='urn:xmpp:chat-markers:0' id='1'/></message>`, b.room)
	alice.Send(`<message to='%s' type='groupchat' id='k4'><displayed xmlns='urn:xmpp:chat-markers:0' id='99'/></message>`, b.room)
	if _, err := b.chat.Send(ctx, "bob", b.roomID, "w5", "five"); err != nil {
		t.Fatal(err)
	}
	alice.Expect(wait, "five", groupchatWithBody("five"))
	alice.Send(`<message to='%s' type='groupchat' id='k5'><displayed xmlns='urn:xmpp:chat-markers:0' id='pagechat-5'/></message>`, b.room)
	waitRead("marker at 5 by the bridge's id", 5, 0)
	page, err := b.chat.History(ctx, "alice", b.roomID, 0, 10)
	if err != nil || len(page.Messages) != 5 {
		t.Errorf("markers stored messages: %d, %v", len(page.Messages), err)
	}
}
