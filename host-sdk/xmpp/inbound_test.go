package xmpp_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

const (
	nsCorrect   = "urn:xmpp:message-correct:0"
	nsRetract   = "urn:xmpp:message-retract:1"
	nsModerate  = "urn:xmpp:message-moderate:1"
	nsStanzaIDs = "urn:xmpp:sid:0"
)

// feedWatch reads a browser user's subscription in the background, so a
// test can wait for an event or the stream's end with a timeout.
type feedWatch struct {
	events chan hostsdk.Event
	end    chan error
}

func watchFeed(t *testing.T, c *hostsdk.Client, userID, roomID string) *feedWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := c.Subscribe(ctx, userID, roomID, 0, "")
	if err != nil {
		cancel()
		t.Fatalf("Subscribe %s: %v", userID, err)
	}
	w := &feedWatch{events: make(chan hostsdk.Event, 4096), end: make(chan error, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ev, err := sub.Next()
			if err != nil {
				w.end <- err
				return
			}
			select {
			case w.events <- ev:
			default: // a test reading nothing more does not block the reader
			}
		}
	}()
	// A Subscription is one goroutine's: the context ends Next, and
	// Close comes after the reader has returned.
	t.Cleanup(func() {
		cancel()
		<-done
		sub.Close()
	})
	return w
}

// message waits for a log entry that match accepts.
func (w *feedWatch) message(t *testing.T, what string, match func(hostsdk.Message) bool) hostsdk.Message {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev := <-w.events:
			if ev.Message != nil && match(*ev.Message) {
				return *ev.Message
			}
		case err := <-w.end:
			t.Fatalf("browser stream ended before %s: %v", what, err)
		case <-timeout:
			t.Fatalf("browser stream: no %s within %v", what, wait)
		}
	}
}

// ended waits for the stream's end and returns its error.
func (w *feedWatch) ended(t *testing.T, what string) error {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case <-w.events:
		case err := <-w.end:
			return err
		case <-timeout:
			t.Fatalf("browser stream did not end (%s) within %v", what, wait)
		}
	}
}

func errorWithText(cond, text string) func(*xmpptest.Stanza) bool {
	return func(s *xmpptest.Stanza) bool {
		return isError(cond)(s) && strings.Contains(errorText(s), text)
	}
}

func stanzaIDOf(s *xmpptest.Stanza) string {
	return s.Child(nsStanzaIDs, "stanza-id").Attr("id")
}

func correctionOf(replaced, body string) func(*xmpptest.Stanza) bool {
	return func(s *xmpptest.Stanza) bool {
		r := s.Child(nsCorrect, "replace")
		b := s.Child("", "body")
		return s.Attr("type") == "groupchat" && r != nil && r.Attr("id") == replaced && b != nil && b.Text == body
	}
}

func retractionOf(id string) func(*xmpptest.Stanza) bool {
	return func(s *xmpptest.Stanza) bool {
		r := s.Child(nsRetract, "retract")
		return s.Attr("type") == "groupchat" && r != nil && r.Attr("id") == id
	}
}

func iqAnswer(id string) func(*xmpptest.Stanza) bool {
	return func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "iq" && s.Attr("id") == id && (s.Attr("type") == "result" || s.Attr("type") == "error")
	}
}

// TestCorrectionsRetractionsAndSubjectFromXMPP checks that XMPP clients
// edit and delete through the plugin: a correction (XEP-0308) of one's own
// message is an edit, a retraction (XEP-0424, current and older form) of
// one's own a delete, a moderation request (XEP-0425, current and older
// form) a moderator's delete, a subject change a topic; the browser side
// and the other occupants see each; and every refusal is an error stanza
// with a sentence.
func TestCorrectionsRetractionsAndSubjectFromXMPP(t *testing.T) {
	bothModes(t, testCorrectionsRetractionsAndSubjectFromXMPP)
}

func testCorrectionsRetractionsAndSubjectFromXMPP(t *testing.T, b *bridge) {
	ctx := context.Background()
	b.host.deny("bob", "1", hostsdk.PermissionModerate, true)
	b.host.deny("carol", "1", hostsdk.PermissionModerate, true)
	alice := b.client("alice", "r")
	bob := b.client("bob", "r")
	if self := b.join(alice, "Alice", "maxstanzas='0'"); self.Find("x/item").Attr("role") != "moderator" || self.Find("x/item").Attr("affiliation") != "admin" {
		t.Errorf("a moderator's self-presence: %s", self.Raw)
	}
	if self := b.join(bob, "Bob", "maxstanzas='0'"); self.Find("x/item").Attr("role") != "participant" {
		t.Errorf("a participant's self-presence: %s", self.Raw)
	}
	carol := watchFeed(t, b.chat, "carol", b.roomID)

	// Bob's message, corrected twice: the second names the correction,
	// as some clients do; both reach the others as corrections of the
	// original and the browser as edits.
	bob.Send(`<message to='%s' type='groupchat' id='b1'><body>helo</body><origin-id xmlns='urn:xmpp:sid:0' id='ob1'/></message>`, b.room)
	orig := alice.Expect(wait, "bob's message", groupchatWithBody("helo"))
	bob.Expect(wait, "bob's reflection", groupchatWithBody("helo"))
	seq1 := stanzaIDOf(orig)
	bob.Send(`<message to='%s' type='groupchat' id='b1c'><body>hello</body><replace xmlns='urn:xmpp:message-correct:0' id='ob1'/><origin-id xmlns='urn:xmpp:sid:0' id='ob1c'/></message>`, b.room)
	c := alice.Expect(wait, "the correction", correctionOf("ob1", "hello"))
	if c.Attr("from") != b.room+"/Bob" {
		t.Errorf("correction from %q", c.Attr("from"))
	}
	if r := bob.Expect(wait, "the correction's reflection", correctionOf("ob1", "hello")); r.Attr("id") != "ob1c" {
		t.Errorf("the sender's reflection of its correction has id %q, want its own", r.Attr("id"))
	}
	edit := carol.message(t, "the edit", func(m hostsdk.Message) bool { return m.Kind == hostsdk.KindEdit && m.Text == "hello" })
	if edit.UserID != "bob" || edit.Target == 0 || uintString(edit.Target) != seq1 {
		t.Errorf("edit event %+v, want bob's of message %s", edit, seq1)
	}
	bob.Send(`<message to='%s' type='groupchat' id='b1d'><body>hello!</body><replace xmlns='urn:xmpp:message-correct:0' id='ob1c'/></message>`, b.room)
	alice.Expect(wait, "the second correction", correctionOf("ob1", "hello!"))
	// A correction sent right behind its message, before any reflection.
	bob.Send(`<message to='%s' type='groupchat' id='b5'><body>fsat</body><origin-id xmlns='urn:xmpp:sid:0' id='ob5'/></message>`, b.room)
	bob.Send(`<message to='%s' type='groupchat' id='b5c'><body>fast</body><replace xmlns='urn:xmpp:message-correct:0' id='ob5'/></message>`, b.room)
	alice.Expect(wait, "the immediate correction", correctionOf("ob5", "fast"))

	// Refusals: someone else's message, an unknown id, the subject.
	alice.Send(`<message to='%s' type='groupchat' id='a1'><body>alice here</body><origin-id xmlns='urn:xmpp:sid:0' id='oa1'/></message>`, b.room)
	aliceMsg := bob.Expect(wait, "alice's message", groupchatWithBody("alice here"))
	bob.Send(`<message to='%s' type='groupchat' id='bx1'><body>alice was wrong</body><replace xmlns='urn:xmpp:message-correct:0' id='oa1'/></message>`, b.room)
	if e := bob.Expect(wait, "refused correction", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "bx1" }); !isError("forbidden")(e) || !strings.Contains(errorText(e), "your own") {
		t.Errorf("correcting another's message: %s", e.Raw)
	}
	bob.Send(`<message to='%s' type='groupchat' id='bx2'><body>?</body><replace xmlns='urn:xmpp:message-correct:0' id='no-such-id'/></message>`, b.room)
	if e := bob.Expect(wait, "refused correction", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "bx2" }); !isError("item-not-found")(e) || errorText(e) == "" {
		t.Errorf("correcting an unknown message: %s", e.Raw)
	}
	bob.Send(`<message to='%s' type='groupchat' id='bx3'><subject>Bob's room</subject></message>`, b.room)
	if e := bob.Expect(wait, "refused subject", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "bx3" }); !isError("forbidden")(e) || !strings.Contains(errorText(e), "moderators") {
		t.Errorf("a participant's subject change: %s", e.Raw)
	}
	// Bob retracting alice's message, and moderating one, is refused.
	bob.Send(`<message to='%s' type='groupchat' id='bx4'><retract xmlns='urn:xmpp:message-retract:1' id='%s'/><body>retracted</body></message>`, b.room, stanzaIDOf(aliceMsg))
	if e := bob.Expect(wait, "refused retraction", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "bx4" }); !isError("forbidden")(e) || !strings.Contains(errorText(e), "your own") {
		t.Errorf("retracting another's message: %s", e.Raw)
	}
	bob.Send(`<iq type='set' to='%s' id='bx5'><moderate xmlns='urn:xmpp:message-moderate:1' id='%s'><retract xmlns='urn:xmpp:message-retract:1'/></moderate></iq>`, b.room, stanzaIDOf(aliceMsg))
	if e := bob.Expect(wait, "refused moderation", iqAnswer("bx5")); !isError("forbidden")(e) || errorText(e) == "" {
		t.Errorf("a participant's moderation: %s", e.Raw)
	}

	// A moderator's subject change is the topic.
	alice.Send(`<message to='%s' type='groupchat' id='s1'><subject>Sprint 7</subject></message>`, b.room)
	bob.Expect(wait, "the new subject", func(s *xmpptest.Stanza) bool {
		return isSubject(s) && s.Child("", "subject").Text == "Sprint 7" && s.Attr("from") == b.room+"/Alice"
	})
	if info, err := b.chat.RoomInfo(ctx, "carol", b.roomID); err != nil || info.Topic != "Sprint 7" {
		t.Errorf("topic after the subject change: %q, %v", info.Topic, err)
	}

	// Bob retracts his own message, naming its stanza-id; the fallback
	// body stores nothing.
	bob.Send(`<message to='%s' type='groupchat' id='br1'><retract xmlns='urn:xmpp:message-retract:1' id='%s'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/><body>/me retracted a message</body></message>`, b.room, seq1)
	r := alice.Expect(wait, "bob's retraction", retractionOf(seq1))
	if r.Attr("from") != b.room+"/Bob" {
		t.Errorf("own retraction from %q", r.Attr("from"))
	}
	carol.message(t, "the delete", func(m hostsdk.Message) bool {
		return m.Kind == hostsdk.KindDelete && uintString(m.Target) == seq1 && m.UserID == "bob"
	})
	// The older form names the origin-id inside <apply-to/>.
	bob.Send(`<message to='%s' type='groupchat' id='b4'><body>oops</body><origin-id xmlns='urn:xmpp:sid:0' id='ob4'/></message>`, b.room)
	oops := alice.Expect(wait, "bob's second message", groupchatWithBody("oops"))
	bob.Send(`<message to='%s' type='groupchat' id='br4'><apply-to xmlns='urn:xmpp:fasten:0' id='ob4'><retract xmlns='urn:xmpp:message-retract:0'/></apply-to><body>retracted</body></message>`, b.room)
	alice.Expect(wait, "retraction, older form", retractionOf(stanzaIDOf(oops)))

	// Alice moderates bob's spam: the current form, then the older one.
	bob.Send(`<message to='%s' type='groupchat' id='b2'><body>buy now</body></message>`, b.room)
	spam := alice.Expect(wait, "spam", groupchatWithBody("buy now"))
	alice.Send(`<iq type='set' to='%s' id='m1'><moderate xmlns='urn:xmpp:message-moderate:1' id='%s'><retract xmlns='urn:xmpp:message-retract:1'/><reason>spam</reason></moderate></iq>`, b.room, stanzaIDOf(spam))
	if res := alice.Expect(wait, "moderation result", iqAnswer("m1")); res.Attr("type") != "result" {
		t.Fatalf("moderation: %s", res.Raw)
	}
	mr := bob.Expect(wait, "moderated retraction", retractionOf(stanzaIDOf(spam)))
	if mod := mr.Child(nsRetract, "retract").Child(nsModerate, "moderated"); mod == nil || mod.Attr("by") != b.room+"/Alice" {
		t.Errorf("moderated retraction does not name alice: %s", mr.Raw)
	}
	if reason := mr.Child(nsRetract, "retract").Child("", "reason"); reason == nil || reason.Text != "spam" {
		t.Errorf("moderated retraction reason: %s", mr.Raw)
	}
	carol.message(t, "the moderator's delete", func(m hostsdk.Message) bool {
		return m.Kind == hostsdk.KindDelete && uintString(m.Target) == stanzaIDOf(spam) && m.UserID == "alice" && m.Reason == "spam"
	})
	bob.Send(`<message to='%s' type='groupchat' id='b3'><body>more spam</body></message>`, b.room)
	spam2 := alice.Expect(wait, "more spam", groupchatWithBody("more spam"))
	alice.Send(`<iq type='set' to='%s' id='m2'><apply-to xmlns='urn:xmpp:fasten:0' id='%s'><moderate xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/><reason>again</reason></moderate></apply-to></iq>`, b.room, stanzaIDOf(spam2))
	if res := alice.Expect(wait, "moderation result, older form", iqAnswer("m2")); res.Attr("type") != "result" {
		t.Fatalf("moderation, older form: %s", res.Raw)
	}
	bob.Expect(wait, "moderated retraction, older request", retractionOf(stanzaIDOf(spam2)))

	// Nothing above reached anyone as a plain message.
	bob.Send(`<message to='%s' type='groupchat' id='b9'><body>marker</body></message>`, b.room)
	alice.Expect(wait, "marker", groupchatWithBody("marker"))
	plain := map[string]bool{"helo": true, "fsat": true, "alice here": true, "oops": true, "buy now": true, "more spam": true, "marker": true}
	for _, m := range alice.All(func(s *xmpptest.Stanza) bool { return s.XMLName.Local == "message" && s.Attr("type") == "groupchat" }) {
		if m.Child(nsCorrect, "replace") != nil || m.Child(nsRetract, "retract") != nil || isSubject(m) {
			continue
		}
		if body := m.Child("", "body"); body == nil || !plain[body.Text] {
			t.Errorf("a moderation stanza was stored as a message: %s", m.Raw)
		}
	}
	// The room advertises retraction and moderation.
	alice.Send(`<iq type='get' id='d1' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, b.room)
	info := alice.Expect(wait, "disco#info", iqAnswer("d1"))
	for _, f := range []string{nsRetract, nsModerate} {
		if !strings.Contains(info.Raw, f) {
			t.Errorf("disco#info lacks %s: %s", f, info.Raw)
		}
	}
}

// TestAuthorChangesRefusedAfterTheWindow checks the plugin's edit window
// holds over XMPP (here 0: authors may never change their messages) with
// the plugin's sentence, while a moderator still retracts.
func TestAuthorChangesRefusedAfterTheWindow(t *testing.T) {
	t.Parallel()
	b := startBridge(t, hostsdk.WithEditWindow(0))
	b.host.deny("bob", "1", hostsdk.PermissionModerate, true)
	alice := b.client("alice", "r")
	bob := b.client("bob", "r")
	b.join(alice, "Alice", "maxstanzas='0'")
	b.join(bob, "Bob", "maxstanzas='0'")
	bob.Send(`<message to='%s' type='groupchat' id='b1'><body>helo</body><origin-id xmlns='urn:xmpp:sid:0' id='ob1'/></message>`, b.room)
	m := bob.Expect(wait, "reflection", groupchatWithBody("helo"))
	bob.Send(`<message to='%s' type='groupchat' id='c1'><body>hello</body><replace xmlns='urn:xmpp:message-correct:0' id='ob1'/></message>`, b.room)
	bob.Expect(wait, "refused correction", func(s *xmpptest.Stanza) bool {
		return s.Attr("id") == "c1" && errorWithText("forbidden", "does not let authors edit")(s)
	})
	bob.Send(`<message to='%s' type='groupchat' id='r1'><retract xmlns='urn:xmpp:message-retract:1' id='%s'/><body>retracted</body></message>`, b.room, stanzaIDOf(m))
	bob.Expect(wait, "refused retraction", func(s *xmpptest.Stanza) bool {
		return s.Attr("id") == "r1" && errorWithText("forbidden", "does not let authors delete")(s)
	})
	alice.Send(`<iq type='set' to='%s' id='m1'><moderate xmlns='urn:xmpp:message-moderate:1' id='%s'><retract xmlns='urn:xmpp:message-retract:1'/></moderate></iq>`, b.room, stanzaIDOf(m))
	if res := alice.Expect(wait, "moderation result", iqAnswer("m1")); res.Attr("type") != "result" {
		t.Fatalf("moderation: %s", res.Raw)
	}
	bob.Expect(wait, "moderated retraction", retractionOf(stanzaIDOf(m)))
}

// removedPresence matches the unavailable presence of nick with a status
// code, as the removed resource (self) or another occupant sees it.
func removedPresence(room, nick, code string, self bool) func(*xmpptest.Stanza) bool {
	return func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("type") == "unavailable" && s.Attr("from") == room+"/"+nick &&
			s.HasCode(code) && s.HasCode("110") == self
	}
}

// TestKickAndBanBothWays checks kicks and bans from the browser side
// reaching XMPP occupants as 307 and 301 presences with actor and reason,
// kicks, bans, the ban list and unbans from an XMPP moderator reaching the
// plugin and the browser side, a banned user's join refused with the
// ban's sentence, and a participant refused.
func TestKickAndBanBothWays(t *testing.T) { bothModes(t, testKickAndBanBothWays) }

func testKickAndBanBothWays(t *testing.T, b *bridge) {
	ctx := context.Background()
	b.host.deny("bob", "1", hostsdk.PermissionModerate, true)
	b.host.deny("carol", "1", hostsdk.PermissionModerate, true)
	alice := b.client("alice", "r")
	bob := b.client("bob", "r")
	b.join(alice, "Alice", "maxstanzas='0'")
	b.join(bob, "Bob", "maxstanzas='0'")
	carol := watchFeed(t, b.chat, "carol", b.roomID)
	alice.Expect(wait, "carol online in the browser", func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("from") == b.room+"/Carol" && s.Attr("type") == ""
	})
	rejoin := func() {
		t.Helper()
		if self := b.join(bob, "Bob", "maxstanzas='0'"); self.Attr("type") == "error" {
			t.Fatalf("bob could not rejoin: %s", self.Raw)
		}
	}

	// A participant may not kick.
	bob.Send(`<iq type='set' to='%s' id='k0'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Alice' role='none'/></query></iq>`, b.room)
	if e := bob.Expect(wait, "refused kick", iqAnswer("k0")); !isError("forbidden")(e) || errorText(e) == "" {
		t.Errorf("a participant's kick: %s", e.Raw)
	}

	// A kick from the browser side: 307, with actor and reason.
	if _, err := b.chat.Kick(ctx, "alice", b.roomID, "bob", "cool off"); err != nil {
		t.Fatal(err)
	}
	self := bob.Expect(wait, "kicked self-presence", removedPresence(b.room, "Bob", "307", true))
	if item := self.Find("x/item"); item.Attr("role") != "none" || item.Child("", "actor").Attr("nick") != "Alice" || item.Child("", "reason").Text != "cool off" {
		t.Errorf("kicked self-presence: %s", self.Raw)
	}
	alice.Expect(wait, "others see the kick", removedPresence(b.room, "Bob", "307", false))
	rejoin()

	// A kick from XMPP: the plugin logs it and bob is out with 307.
	alice.Send(`<iq type='set' to='%s' id='k1'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Bob' role='none'><reason>calm down</reason></item></query></iq>`, b.room)
	if res := alice.Expect(wait, "kick result", iqAnswer("k1")); res.Attr("type") != "result" {
		t.Fatalf("kick: %s", res.Raw)
	}
	self = bob.Expect(wait, "kicked from XMPP", removedPresence(b.room, "Bob", "307", true))
	if self.Find("x/item/reason").Text != "calm down" {
		t.Errorf("kick reason: %s", self.Raw)
	}
	carol.message(t, "the kick event", func(m hostsdk.Message) bool {
		return m.Kind == hostsdk.KindKick && m.Subject == "bob" && m.UserID == "alice" && m.Reason == "calm down"
	})
	rejoin()

	// A ban from XMPP by address: 301, and bob's join is refused.
	alice.Send(`<iq type='set' to='%s' id='b1'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast' jid='%s'><reason>spam</reason></item></query></iq>`, b.room, b.srv.JID("bob"))
	if res := alice.Expect(wait, "ban result", iqAnswer("b1")); res.Attr("type") != "result" {
		t.Fatalf("ban: %s", res.Raw)
	}
	self = bob.Expect(wait, "banned self-presence", removedPresence(b.room, "Bob", "301", true))
	if item := self.Find("x/item"); item.Attr("affiliation") != "outcast" || !strings.Contains(item.Child("", "reason").Text, "spam") {
		t.Errorf("banned self-presence: %s", self.Raw)
	}
	alice.Expect(wait, "others see the ban", removedPresence(b.room, "Bob", "301", false))
	if _, err := b.chat.RoomInfo(ctx, "bob", b.roomID); !errors.Is(err, hostsdk.ErrBanned) {
		t.Errorf("bob's RoomInfo after the XMPP ban: %v", err)
	}
	bob.Send(`<presence to='%s/Bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, b.room)
	refused := bob.Expect(wait, "banned join", func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("type") == "error"
	})
	if e := refused.Child("", "error"); e.Attr("type") != "auth" || !isError("forbidden")(refused) ||
		!strings.Contains(errorText(refused), "banned") || !strings.Contains(errorText(refused), "spam") {
		t.Errorf("banned join: %s", refused.Raw)
	}
	// Nor can he post through the bot; it tells him why.
	bob.Send(`<message to='%s' type='chat' id='p1'><body>post %s let me in</body></message>`, b.comp.BotJID(), b.room)
	bob.Expect(wait, "the bot's refusal", func(s *xmpptest.Stanza) bool {
		body := s.Child("", "body")
		return s.XMLName.Local == "message" && strings.HasPrefix(s.Attr("from"), b.comp.BotJID()) && body != nil &&
			strings.Contains(body.Text, "banned") && strings.Contains(body.Text, "spam")
	})

	// The ban list names bob by address, with the reason.
	alice.Send(`<iq type='get' to='%s' id='l1'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='outcast'/></query></iq>`, b.room)
	list := alice.Expect(wait, "ban list", iqAnswer("l1"))
	item := list.Find("query/item")
	if list.Attr("type") != "result" || item.Attr("affiliation") != "outcast" || item.Attr("jid") != b.srv.JID("bob") || item.Child("", "reason").Text != "spam" {
		t.Errorf("ban list: %s", list.Raw)
	}
	// Unban from XMPP: bob may join again.
	alice.Send(`<iq type='set' to='%s' id='u1'><query xmlns='http://jabber.org/protocol/muc#admin'><item affiliation='none' jid='%s'/></query></iq>`, b.room, b.srv.JID("bob"))
	if res := alice.Expect(wait, "unban result", iqAnswer("u1")); res.Attr("type") != "result" {
		t.Fatalf("unban: %s", res.Raw)
	}
	rejoin()

	// A ban from the browser side reaches bob as 301.
	if _, err := b.chat.Ban(ctx, "alice", b.roomID, "bob", "flooding", time.Time{}); err != nil {
		t.Fatal(err)
	}
	self = bob.Expect(wait, "banned from the browser", removedPresence(b.room, "Bob", "301", true))
	if !strings.Contains(self.Find("x/item/reason").Text, "flooding") {
		t.Errorf("browser ban's presence: %s", self.Raw)
	}
	alice.Expect(wait, "others see the browser ban", removedPresence(b.room, "Bob", "301", false))

	// Kicking a browser user from XMPP ends their stream; the occupants
	// see them leave with 307.
	alice.Send(`<iq type='set' to='%s' id='k2'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Carol' role='none'/></query></iq>`, b.room)
	if res := alice.Expect(wait, "kick result", iqAnswer("k2")); res.Attr("type") != "result" {
		t.Fatalf("kick of a browser user: %s", res.Raw)
	}
	if err := carol.ended(t, "kicked"); !errors.Is(err, hostsdk.ErrKicked) {
		t.Errorf("carol's stream ended with %v, want kicked", err)
	}
	alice.Expect(wait, "carol leaves with 307", removedPresence(b.room, "Carol", "307", false))
	// Back in the browser, banned from XMPP by nick: her stream ends
	// with the ban, and she leaves the occupants' list with 301.
	carol = watchFeed(t, b.chat, "carol", b.roomID)
	alice.Expect(wait, "carol back online", func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("from") == b.room+"/Carol" && s.Attr("type") == ""
	})
	alice.Send(`<iq type='set' to='%s' id='b2'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Carol' affiliation='outcast'><reason>trolling</reason></item></query></iq>`, b.room)
	if res := alice.Expect(wait, "ban result", iqAnswer("b2")); res.Attr("type") != "result" {
		t.Fatalf("ban of a browser user: %s", res.Raw)
	}
	if err := carol.ended(t, "banned"); !errors.Is(err, hostsdk.ErrBanned) || !strings.Contains(err.Error(), "trolling") {
		t.Errorf("carol's stream ended with %v, want banned with the reason", err)
	}
	alice.Expect(wait, "carol leaves with 301", removedPresence(b.room, "Carol", "301", false))

	// Roles and other affiliations are the wiki's.
	alice.Send(`<iq type='set' to='%s' id='v1'><query xmlns='http://jabber.org/protocol/muc#admin'><item nick='Alice' role='visitor'/></query></iq>`, b.room)
	if e := alice.Expect(wait, "refused role change", iqAnswer("v1")); !isError("not-allowed")(e) || errorText(e) == "" {
		t.Errorf("role change: %s", e.Raw)
	}
}

func uintString(n uint64) string { return strconv.FormatUint(n, 10) }
