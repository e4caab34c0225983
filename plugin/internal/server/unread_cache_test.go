package server

import (
	"strings"
	"testing"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// The macro table keeps recent unread counts between renders; every
// change that moves a count must show at the next render all the same:
// a new message, a mention, reading, and a delete erasing an unread
// message.
func TestMacroUnreadFollowsChanges(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.host.addUser("alice", "Alice Liddell")
	h.host.addUser("bob", "Bob Builder")
	h.host.allow("alice", "p1", view, post)
	h.host.allow("bob", "p1", view, post)
	ctx := testCtx(t)
	if _, err := h.c.Configure(ctx, h.configReq()); err != nil {
		t.Fatal(err)
	}
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	render := func() string {
		t.Helper()
		resp, err := h.c.RenderMacro(ctx, &chatv1.RenderMacroRequest{UserId: "bob", PageId: "p1", Name: "Lobby"})
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetHtml()
	}
	var first uint64
	steps := []struct {
		what             string
		change           func()
		unread, mentions string // the badges' text, "" for none
	}{
		{"nothing said", func() {}, "", ""},
		{"a message", func() { first = h.send("alice", room, "1", "hello").GetMessage().GetSeq() }, "1 new", ""},
		{"the same page again", func() {}, "1 new", ""},
		{"a mention", func() { h.send("alice", room, "2", "over to you @bob") }, "2 new", "1 mention"},
		{"bob's own message", func() { h.send("bob", room, "3", "on it") }, "2 new", "1 mention"},
		{"a delete of the first", func() {
			if _, err := h.c.DeleteMessage(ctx, &chatv1.DeleteMessageRequest{UserId: "alice", RoomId: room, Seq: first}); err != nil {
				t.Fatal(err)
			}
		}, "1 new", "1 mention"},
		{"reading it all", func() {
			if _, err := h.c.MarkRead(ctx, &chatv1.MarkReadRequest{UserId: "bob", RoomId: room, Seq: h.lastSeq(room)}); err != nil {
				t.Fatal(err)
			}
		}, "", ""},
	}
	for _, s := range steps {
		s.change()
		for range 2 { // the second render may come from what the first kept
			html := render()
			for _, badge := range []struct{ class, want string }{{"pagechat-unread", s.unread}, {"pagechat-mentions", s.mentions}} {
				got := badgeText(html, badge.class)
				if got != badge.want {
					t.Errorf("after %s: %s badge %q, want %q", s.what, badge.class, got, badge.want)
				}
			}
		}
	}
}

// badgeText is the text of the span of class in html, or "".
func badgeText(html, class string) string {
	_, rest, ok := strings.Cut(html, `<span class="`+class+`">`)
	if !ok {
		return ""
	}
	text, _, _ := strings.Cut(rest, "</span>")
	return text
}
