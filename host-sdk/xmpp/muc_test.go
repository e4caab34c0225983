package xmpp_test

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

func isError(cond string) func(*xmpptest.Stanza) bool {
	return func(s *xmpptest.Stanza) bool {
		e := s.Child("", "error")
		return s.Attr("type") == "error" && e != nil && e.Child("urn:ietf:params:xml:ns:xmpp-stanzas", cond) != nil
	}
}

func errorText(s *xmpptest.Stanza) string {
	return s.Find("error/text").Text
}

func TestPermissionsAndIdentity(t *testing.T) {
	t.Parallel()
	b := startBridge(t)
	ctx := context.Background()

	// An unlinked JID is refused with a sentence saying how to link.
	eve := b.client("eve", "r")
	eve.Send(`<presence to='%s/Eve'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, b.room)
	refused := eve.Expect(wait, "forbidden join", isError("forbidden"))
	if !strings.Contains(errorText(refused), "Link your XMPP address") {
		t.Errorf("unlinked JID's error text: %s", refused.Raw)
	}
	// Nor does it get the room's history through MAM.
	eve.Send(`<iq type='set' id='q1' to='%s'><query xmlns='urn:xmpp:mam:2' queryid='x'/></iq>`, b.room)
	eve.Expect(wait, "forbidden MAM", isError("forbidden"))

	// Without view permission on the page: refused, and no history.
	if _, err := b.chat.Send(ctx, "alice", b.roomID, "a1", "secret plans"); err != nil {
		t.Fatal(err)
	}
	b.host.deny("carol", "1", hostsdk.PermissionView, true)
	carol := b.client("carol", "r")
	carol.Send(`<presence to='%s/Carol'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, b.room)
	carol.Expect(wait, "forbidden join without view", isError("forbidden"))
	carol.Send(`<iq type='get' id='d1' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, b.room)
	carol.Expect(wait, "forbidden disco without view", isError("forbidden"))
	if got := carol.All(func(s *xmpptest.Stanza) bool {
		return strings.Contains(s.Raw, "secret plans") || strings.Contains(s.Raw, "Team Room")
	}); len(got) > 0 {
		t.Fatalf("a user without view received room text: %s", got[0].Raw)
	}

	// View without post: joins, reads, and a message gets an error stanza.
	b.host.deny("bob", "1", hostsdk.PermissionPost, true)
	bob := b.client("bob", "r")
	if self := b.join(bob, "Bob", ""); self.Attr("type") == "error" {
		t.Fatalf("bob could not join: %s", self.Raw)
	}
	if len(bob.All(groupchatWithBody("secret plans"))) != 1 {
		t.Errorf("bob's history lacks the earlier message:\n%s", bob.Dump())
	}
	bob.Send(`<message to='%s' type='groupchat' id='b1'><body>may I?</body></message>`, b.room)
	denied := bob.Expect(wait, "forbidden post", isError("forbidden"))
	if denied.Attr("id") != "b1" {
		t.Errorf("error does not answer the message: %s", denied.Raw)
	}

	// Revocation removes the occupant within the permission window.
	alice := b.client("alice", "r")
	b.join(alice, "Alice", "maxstanzas='0'")
	b.host.deny("bob", "1", hostsdk.PermissionView, true)
	start := time.Now()
	kicked := bob.Expect(wait, "removal", func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("type") == "unavailable" && s.HasCode("110")
	})
	if !kicked.HasCode("307") || !kicked.HasCode("321") {
		t.Errorf("removal lacks 307/321: %s", kicked.Raw)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("removal took %v, more than the permission window", d)
	}
	alice.Expect(wait, "others see the removal", func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("from") == b.room+"/Bob" && s.Attr("type") == "unavailable"
	})
	if _, err := b.chat.Send(ctx, "alice", b.roomID, "a2", "after bob left"); err != nil {
		t.Fatal(err)
	}
	alice.Expect(wait, "alice still gets messages", groupchatWithBody("after bob left"))
	// Nothing of the room reaches bob after the removal.
	time.Sleep(300 * time.Millisecond)
	if got := bob.All(groupchatWithBody("after bob left")); len(got) > 0 {
		t.Fatalf("removed occupant received a message: %s", got[0].Raw)
	}
	// Self-ping tells bob he is out.
	bob.Send(`<iq type='get' id='sp' to='%s/Bob'><ping xmlns='urn:xmpp:ping'/></iq>`, b.room)
	bob.Expect(wait, "self-ping not-acceptable", isError("not-acceptable"))
}

func TestOccupantsNicksResourcesAndLeave(t *testing.T) {
	bothModes(t, testOccupantsNicksResourcesAndLeave)
}

func testOccupantsNicksResourcesAndLeave(t *testing.T, b *bridge) {
	alice1 := b.client("alice", "one")
	b.join(alice1, "Alice", "")
	// Another user may not take the nick.
	bob := b.client("bob", "r")
	bob.Send(`<presence to='%s/Alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, b.room)
	conflict := bob.Expect(wait, "nick conflict", isError("conflict"))
	if conflict.Find("error").Attr("code") != "" && conflict.Find("error").Attr("code") != "409" {
		t.Errorf("conflict: %s", conflict.Raw)
	}
	b.join(bob, "Bob", "")
	// Bob saw Alice's presence before his own; Alice sees Bob arrive.
	if len(bob.All(func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("from") == b.room+"/Alice" && s.Attr("type") == ""
	})) != 1 {
		t.Errorf("bob did not get alice's presence:\n%s", bob.Dump())
	}
	p := alice1.Expect(wait, "bob's arrival", func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("from") == b.room+"/Bob"
	})
	if item := p.Find("x/item"); item == nil || !strings.HasPrefix(item.Attr("jid"), b.srv.JID("bob")) {
		t.Errorf("non-anonymous room should show the real JID: %s", p.Raw)
	}
	// Alice's second resource joins with the same nick: both get messages.
	alice2 := b.client("alice", "two")
	b.join(alice2, "Alice", "")
	bob.Send(`<message to='%s' type='groupchat' id='x'><body>to both</body></message>`, b.room)
	for _, c := range []*xmpptest.Client{alice1, alice2, bob} {
		c.Expect(wait, "message to every resource", groupchatWithBody("to both"))
	}
	// Self-ping answers while joined.
	alice2.Send(`<iq type='get' id='sp' to='%s/Alice'><ping xmlns='urn:xmpp:ping'/></iq>`, b.room)
	alice2.Expect(wait, "self-ping result", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "sp" && s.Attr("type") == "result" })
	// Browser presence: the plugin counts alice once, online.
	ctx := context.Background()
	online := func(user string) bool {
		ps, err := b.chat.Presence(ctx, "bob", b.roomID)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.UserID == user {
				return p.Online
			}
		}
		return false
	}
	testutil.Eventually(t, wait, func() bool { return online("alice") && online("bob") }, "XMPP occupants shown online to the browser")
	// One resource leaves: alice stays, nobody sees her leave.
	alice1.Send(`<presence to='%s/Alice' type='unavailable'/>`, b.room)
	alice1.Expect(wait, "own leave", func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("type") == "unavailable" && s.HasCode("110")
	})
	time.Sleep(200 * time.Millisecond)
	if got := bob.All(func(s *xmpptest.Stanza) bool {
		return s.Attr("from") == b.room+"/Alice" && s.Attr("type") == "unavailable"
	}); len(got) > 0 {
		t.Errorf("bob saw alice leave while a resource of hers remains")
	}
	if !online("alice") {
		t.Errorf("alice went offline with one resource left")
	}
	alice2.Send(`<presence to='%s/Alice' type='unavailable'/>`, b.room)
	bob.Expect(wait, "alice's last resource leaves", func(s *xmpptest.Stanza) bool {
		return s.Attr("from") == b.room+"/Alice" && s.Attr("type") == "unavailable"
	})
	testutil.Eventually(t, wait, func() bool { return !online("alice") }, "alice offline after her last resource left")

	// A browser user appears as an occupant for XMPP users.
	if _, err := b.chat.Join(ctx, "carol", b.roomID); err != nil {
		t.Fatal(err)
	}
	bob.Expect(wait, "browser user's presence", func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("from") == b.room+"/Carol" && s.Attr("type") == ""
	})
	if err := b.chat.Leave(ctx, "carol", b.roomID); err != nil {
		t.Fatal(err)
	}
	bob.Expect(wait, "browser user's leave", func(s *xmpptest.Stanza) bool {
		return s.Attr("from") == b.room+"/Carol" && s.Attr("type") == "unavailable"
	})
}

func TestDiscoAndMAM(t *testing.T) {
	t.Parallel()
	b := startBridge(t)
	ctx := context.Background()
	for i := 1; i <= 12; i++ {
		if _, err := b.chat.Send(ctx, "bob", b.roomID, fmt.Sprint("c", i), fmt.Sprint("message ", i)); err != nil {
			t.Fatal(err)
		}
	}
	alice := b.client("alice", "r")
	alice.Send(`<iq type='get' id='d1' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, b.room)
	info := alice.Expect(wait, "disco#info", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "d1" })
	q := info.Child("http://jabber.org/protocol/disco#info", "query")
	if q == nil || q.Child("", "identity").Attr("category") != "conference" || q.Child("", "identity").Attr("name") != "Team Room" {
		t.Fatalf("disco#info: %s", info.Raw)
	}
	feats := map[string]bool{}
	for _, c := range q.Children {
		if c.XMLName.Local == "feature" {
			feats[c.Attr("var")] = true
		}
	}
	for _, f := range []string{"http://jabber.org/protocol/muc", "muc_persistent", "muc_nonanonymous", "urn:xmpp:mam:2", "urn:xmpp:sid:0"} {
		if !feats[f] {
			t.Errorf("disco#info lacks %s", f)
		}
	}
	alice.Send(`<iq type='get' id='d2' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, b.srv.ComponentDomain)
	dom := alice.Expect(wait, "domain disco", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "d2" })
	if !strings.Contains(dom.Raw, "conference") {
		t.Errorf("domain disco#info: %s", dom.Raw)
	}
	// An unknown room.
	alice.Send(`<iq type='get' id='d3' to='9.nope@%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, b.srv.ComponentDomain)
	alice.Expect(wait, "unknown room", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "d3" && s.Attr("type") == "error" })

	// MAM: the newest 5, then page back and forward by sequence.
	mam := func(id, set string) ([]string, *xmpptest.Stanza) {
		alice.Send(`<iq type='set' id='%s' to='%s'><query xmlns='urn:xmpp:mam:2' queryid='%s'><set xmlns='http://jabber.org/protocol/rsm'>%s</set></query></iq>`, id, b.room, id, set)
		fin := alice.Expect(wait, "MAM fin "+id, func(s *xmpptest.Stanza) bool { return s.Attr("id") == id && s.XMLName.Local == "iq" })
		var bodies []string
		for _, s := range alice.All(func(s *xmpptest.Stanza) bool {
			r := s.Child("urn:xmpp:mam:2", "result")
			return r != nil && r.Attr("queryid") == id
		}) {
			r := s.Child("urn:xmpp:mam:2", "result")
			m := r.Find("forwarded/message")
			if m == nil || r.Find("forwarded/delay") == nil {
				t.Fatalf("MAM result shape: %s", s.Raw)
			}
			if m.Child("urn:xmpp:sid:0", "stanza-id").Attr("id") != r.Attr("id") {
				t.Errorf("MAM id and stanza-id differ: %s", s.Raw)
			}
			bodies = append(bodies, r.Attr("id")+":"+m.Child("", "body").Text)
		}
		return bodies, fin
	}
	got, fin := mam("q1", "<max>5</max><before/>")
	if strings.Join(got, ",") != "8:message 8,9:message 9,10:message 10,11:message 11,12:message 12" {
		t.Errorf("newest page: %v", got)
	}
	if f := fin.Child("urn:xmpp:mam:2", "fin"); f == nil || f.Attr("complete") == "true" || f.Find("set/first").Text != "8" {
		t.Errorf("fin of the newest page: %s", fin.Raw)
	}
	got, _ = mam("q2", "<max>5</max><before>8</before>")
	if strings.Join(got, ",") != "3:message 3,4:message 4,5:message 5,6:message 6,7:message 7" {
		t.Errorf("page before 8: %v", got)
	}
	got, fin = mam("q3", "<max>5</max><after>9</after>")
	if strings.Join(got, ",") != "10:message 10,11:message 11,12:message 12" {
		t.Errorf("page after 9: %v", got)
	}
	if fin.Child("urn:xmpp:mam:2", "fin").Attr("complete") != "true" {
		t.Errorf("catching up to the end should be complete: %s", fin.Raw)
	}
}

func TestBot(t *testing.T) {
	t.Parallel()
	b := startBridge(t)
	bot := b.comp.BotJID()
	chatFromBot := func(substr string) func(*xmpptest.Stanza) bool {
		return func(s *xmpptest.Stanza) bool {
			return s.XMLName.Local == "message" && strings.HasPrefix(s.Attr("from"), bot) && strings.Contains(s.Child("", "body").Text, substr)
		}
	}
	// Linking: the host asks the bot to send a code; answering it verifies.
	eve := b.client("eve", "r")
	b.host.mu.Lock()
	b.host.codes[b.srv.JID("eve")] = "739164"
	b.host.mu.Unlock()
	if err := b.comp.SendChat(context.Background(), b.srv.JID("eve"), "Your code is 739164"); err != nil {
		t.Fatal(err)
	}
	eve.Expect(wait, "code from the bot", chatFromBot("739164"))
	eve.Send(`<message to='%s' type='chat' id='c1'><body>000000</body></message>`, bot)
	eve.Expect(wait, "wrong code", chatFromBot("did not understand"))
	eve.Send(`<message to='%s' type='chat' id='c2'><body>739164</body></message>`, bot)
	eve.Expect(wait, "linked", chatFromBot("now linked"))

	alice := b.client("alice", "r")
	alice.Send(`<message to='%s' type='chat' id='h'><body>help</body></message>`, bot)
	alice.Expect(wait, "help", chatFromBot("post <room> <text>"))
	alice.Send(`<message to='%s' type='chat' id='p'><body>post %s hello via the bot</body></message>`, bot, b.room)
	alice.Expect(wait, "posted", chatFromBot("Posted to Team Room"))
	page, err := b.chat.History(context.Background(), "alice", b.roomID, 0, 5)
	if err != nil || len(page.Messages) != 1 || page.Messages[0].Text != "hello via the bot" || page.Messages[0].UserID != "alice" {
		t.Fatalf("bot post stored: %+v %v", page.Messages, err)
	}
	alice.Send(`<message to='%s' type='chat' id='r'><body>rooms</body></message>`, bot)
	alice.Expect(wait, "rooms", chatFromBot("xmpp:"+b.room+"?join"))
	// No post permission: the bot says so and stores nothing.
	b.host.deny("bob", "1", hostsdk.PermissionPost, true)
	bob := b.client("bob", "r")
	bob.Send(`<message to='%s' type='chat' id='p'><body>post %s sneaky</body></message>`, bot, b.roomID)
	bob.Expect(wait, "refused", chatFromBot("may not post"))
}

func TestReconnectLosesAndDuplicatesNothing(t *testing.T) {
	t.Parallel()
	b := startBridge(t)
	ctx := context.Background()
	alice := b.client("alice", "r")
	b.join(alice, "Alice", "maxstanzas='0'")
	send := func(i int) {
		if _, err := b.chat.Send(ctx, "bob", b.roomID, fmt.Sprint("r", i), fmt.Sprint("n", i)); err != nil {
			t.Fatal(err)
		}
	}
	send(1)
	alice.Expect(wait, "n1", groupchatWithBody("n1"))
	// The component's connection drops; messages sent meanwhile arrive
	// once it is back, once each.
	connects := b.comp.Connects()
	b.comp.DropConnection()
	send(2)
	send(3)
	testutil.Eventually(t, wait, func() bool { return b.comp.Connects() > connects && b.comp.Connected() }, "component reconnected")
	alice.Expect(wait, "n2 after reconnect", groupchatWithBody("n2"))
	alice.Expect(wait, "n3 after reconnect", groupchatWithBody("n3"))
	// Still joined: a message from alice goes through.
	alice.Send(`<message to='%s' type='groupchat' id='after'><body>still here</body></message>`, b.room)
	alice.Expect(wait, "reflection after reconnect", groupchatWithBody("still here"))

	// SIGKILL the plugin: the room's feed resumes from its position.
	pid := pluginPID(t, b)
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, wait, func() bool {
		_, err := b.chat.Send(ctx, "bob", b.roomID, "r4", "n4")
		return err == nil
	}, "plugin back")
	send(5)
	alice.Expect(wait, "n4 after plugin restart", groupchatWithBody("n4"))
	alice.Expect(wait, "n5 after plugin restart", groupchatWithBody("n5"))
	for i := 1; i <= 5; i++ {
		if n := len(alice.All(groupchatWithBody(fmt.Sprint("n", i)))); n != 1 {
			t.Errorf("n%d delivered %d times", i, n)
		}
	}
	// The XMPP user is shown online again after the restart.
	testutil.Eventually(t, wait, func() bool {
		ps, err := b.chat.Presence(ctx, "bob", b.roomID)
		if err != nil {
			return false
		}
		for _, p := range ps {
			if p.UserID == "alice" && p.Online {
				return true
			}
		}
		return false
	}, "alice online again after the plugin restart")
}
