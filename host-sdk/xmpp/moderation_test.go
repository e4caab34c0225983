package xmpp_test

import (
	"context"
	"slices"
	"testing"

	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

// TestModerationEventsRelayed checks that edits, deletes and topic changes
// made in the browser reach an XMPP occupant as corrections, retractions
// and subject changes, never as extra plain messages, and that kicks are
// not shown at all.
func TestModerationEventsRelayed(t *testing.T) { bothModes(t, testModerationEventsRelayed) }

func testModerationEventsRelayed(t *testing.T, b *bridge) {
	ctx := context.Background()
	alice := b.client("alice", "laptop")
	if self := b.join(alice, "Alice", "maxstanzas='0'"); self.Attr("type") == "error" {
		t.Fatalf("join refused: %s", self.Raw)
	}
	if _, err := b.chat.Send(ctx, "bob", b.roomID, "web-1", "first"); err != nil {
		t.Fatal(err)
	}
	first := alice.Expect(wait, "bob's message", groupchatWithBody("first"))
	if first.Attr("id") != "pagechat-1" {
		t.Fatalf("browser message id %q", first.Attr("id"))
	}
	alice.Send(`<message to='%s' type='groupchat' id='m2'><body>mine</body><origin-id xmlns='urn:xmpp:sid:0' id='orig-a'/></message>`, b.room)
	alice.Expect(wait, "reflection", groupchatWithBody("mine"))

	const (
		nsCorrect = "urn:xmpp:message-correct:0"
		nsRetract = "urn:xmpp:message-retract:1"
	)
	correction := func(replaced, body string) func(*xmpptest.Stanza) bool {
		return func(s *xmpptest.Stanza) bool {
			r := s.Child(nsCorrect, "replace")
			return s.Attr("type") == "groupchat" && r != nil && r.Attr("id") == replaced && s.Child("", "body") != nil && s.Child("", "body").Text == body
		}
	}
	// An edit of a browser message names the id the bridge gave it.
	if _, err := b.chat.EditMessage(ctx, "bob", b.roomID, 1, "first, fixed", "edit-1"); err != nil {
		t.Fatal(err)
	}
	c := alice.Expect(wait, "correction of bob's message", correction("pagechat-1", "first, fixed"))
	if c.Attr("from") != b.room+"/Bob" {
		t.Errorf("correction from %q, want the author's nick", c.Attr("from"))
	}
	if sid := c.Child("urn:xmpp:sid:0", "stanza-id"); sid == nil || sid.Attr("id") != "3" {
		t.Errorf("correction stanza-id: %s", c.Raw)
	}
	// An edit of an XMPP message names the client's own id.
	if _, err := b.chat.EditMessage(ctx, "alice", b.roomID, 2, "mine, fixed", "edit-2"); err != nil {
		t.Fatal(err)
	}
	c = alice.Expect(wait, "correction of alice's message", correction("orig-a", "mine, fixed"))
	if c.Attr("from") != b.room+"/Alice" {
		t.Errorf("correction from %q, want the author's nick", c.Attr("from"))
	}

	retraction := func(id string) func(*xmpptest.Stanza) bool {
		return func(s *xmpptest.Stanza) bool {
			r := s.Child(nsRetract, "retract")
			return s.Attr("type") == "groupchat" && r != nil && r.Attr("id") == id
		}
	}
	// The author deletes their own message: a retraction from their nick.
	if _, err := b.chat.DeleteMessage(ctx, "bob", b.roomID, 1, ""); err != nil {
		t.Fatal(err)
	}
	r := alice.Expect(wait, "retraction of bob's message", retraction("1"))
	if r.Attr("from") != b.room+"/Bob" {
		t.Errorf("retraction from %q, want the author's nick", r.Attr("from"))
	}
	if f := r.Child("urn:xmpp:fallback:0", "fallback"); f == nil || f.Attr("for") != nsRetract {
		t.Errorf("retraction without fallback marker: %s", r.Raw)
	}
	if body := r.Child("", "body"); body == nil || body.Text != "This message was deleted." {
		t.Errorf("retraction fallback body: %s", r.Raw)
	}
	// A moderator deletes someone else's: from the room, marked moderated.
	if _, err := b.chat.DeleteMessage(ctx, "bob", b.roomID, 2, "off topic"); err != nil {
		t.Fatal(err)
	}
	r = alice.Expect(wait, "moderated retraction", retraction("2"))
	if r.Attr("from") != b.room {
		t.Errorf("moderated retraction from %q, want the room", r.Attr("from"))
	}
	mod := r.Child(nsRetract, "retract").Child("urn:xmpp:message-moderate:1", "moderated")
	if mod == nil || mod.Attr("by") != b.room+"/Bob" {
		t.Errorf("moderated retraction does not name the moderator: %s", r.Raw)
	}
	if reason := r.Child(nsRetract, "retract").Child("", "reason"); reason == nil || reason.Text != "off topic" {
		t.Errorf("moderated retraction reason: %s", r.Raw)
	}

	// A topic change is a subject change from the moderator's nick.
	if _, err := b.chat.SetTopic(ctx, "bob", b.roomID, "Release planning"); err != nil {
		t.Fatal(err)
	}
	s := alice.Expect(wait, "subject change", func(s *xmpptest.Stanza) bool {
		return isSubject(s) && s.Child("", "subject").Text == "Release planning"
	})
	if s.Attr("from") != b.room+"/Bob" {
		t.Errorf("subject change from %q", s.Attr("from"))
	}
	// A kick is not shown as a message.
	if _, err := b.chat.Kick(ctx, "bob", b.roomID, "carol", "testing"); err != nil {
		t.Fatal(err)
	}

	// Everything before this marker has been relayed when it arrives.
	if _, err := b.chat.Send(ctx, "bob", b.roomID, "web-2", "marker"); err != nil {
		t.Fatal(err)
	}
	alice.Expect(wait, "marker", groupchatWithBody("marker"))
	plain := map[string]bool{"first": true, "mine": true, "marker": true}
	for _, m := range alice.All(func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "message" && s.Attr("type") == "groupchat"
	}) {
		switch {
		case m.Child(nsCorrect, "replace") != nil, m.Child(nsRetract, "retract") != nil, isSubject(m):
		case m.Child("", "body") == nil || !plain[m.Child("", "body").Text]:
			t.Errorf("an event reached the occupant as a plain message: %s", m.Raw)
		}
	}

	// The archive, paged either way, lists the plain messages only.
	mam := func(id, set string) []string {
		alice.Send(`<iq type='set' id='%s' to='%s'><query xmlns='urn:xmpp:mam:2' queryid='%s'><set xmlns='http://jabber.org/protocol/rsm'>%s</set></query></iq>`, id, b.room, id, set)
		alice.Expect(wait, "MAM fin "+id, func(s *xmpptest.Stanza) bool { return s.Attr("id") == id && s.XMLName.Local == "iq" })
		var got []string
		for _, s := range alice.All(func(s *xmpptest.Stanza) bool {
			r := s.Child("urn:xmpp:mam:2", "result")
			return r != nil && r.Attr("queryid") == id
		}) {
			r := s.Child("urn:xmpp:mam:2", "result")
			got = append(got, r.Attr("id")+":"+r.Find("forwarded/message").Child("", "body").Text)
		}
		return got
	}
	want := []string{"1:This message was deleted.", "2:This message was deleted.", "9:marker"}
	if got := mam("q1", "<max>20</max><before/>"); !slices.Equal(got, want) {
		t.Errorf("archive, newest first page: %q, want %q", got, want)
	}
	if got := mam("q2", "<max>20</max><after>0</after>"); !slices.Equal(got, want) {
		t.Errorf("archive, forward from the start: %q, want %q", got, want)
	}

	// A later join gets the topic as the subject.
	carol := b.client("carol", "phone")
	if self := b.join(carol, "Carol", "maxstanzas='20'"); self.Attr("type") == "error" {
		t.Fatalf("carol's join refused: %s", self.Raw)
	}
	// History lists the plain messages only, the deleted ones as such.
	var hist []string
	for _, m := range carol.All(func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "message" && s.Child("urn:xmpp:delay", "delay") != nil
	}) {
		hist = append(hist, m.Child("", "body").Text)
	}
	if want := []string{"This message was deleted.", "This message was deleted.", "marker"}; !slices.Equal(hist, want) {
		t.Errorf("join history %q, want %q:\n%s", hist, want, carol.Dump())
	}
	if subj := carol.All(isSubject); len(subj) != 1 || subj[0].Child("", "subject").Text != "Release planning" {
		t.Errorf("join subject, want the topic:\n%s", carol.Dump())
	}
}
