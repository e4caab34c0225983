package server

import (
	"slices"
	"strings"
	"testing"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// Where moderation meets notifications: an edit's text brings its own
// mentions (marked in its HTML, counted as unread mentions) without
// alerting anyone, and a banned user is alerted of nothing in the room.
func TestEditMentionsAndBansSilenceAlerts(t *testing.T) {
	t.Parallel()
	h, _, room := newModerated(t, nil)
	ctx := testCtx(t)

	m := h.send("alice", room, "c1", "hello").GetMessage()
	resp, err := h.c.EditMessage(ctx, &chatv1.EditMessageRequest{UserId: "alice", RoomId: room, Seq: m.GetSeq(), Text: "hello @bob"})
	if err != nil {
		t.Fatal(err)
	}
	ev := resp.GetEdit()
	if !slices.Equal(ev.GetMentions(), []string{"bob"}) || !strings.Contains(ev.GetHtml(), `<span class="mention" data-user-id="bob">@bob</span>`) {
		t.Errorf("edit event mentions %q, html %q; want bob marked", ev.GetMentions(), ev.GetHtml())
	}
	if got := h.history("bob", room, 0, 10).GetMessages()[0]; !slices.Equal(got.GetMentions(), []string{"bob"}) {
		t.Errorf("edited message in history mentions %q, want [bob]", got.GetMentions())
	}
	info, err := h.c.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: "bob", RoomId: room})
	if err != nil {
		t.Fatal(err)
	}
	if rs := info.GetReadState(); rs.GetUnread() != 1 || rs.GetMentions() != 1 {
		t.Errorf("bob's read state %v, want 1 unread with 1 mention", rs)
	}
	h.judged(room, ev.GetSeq())
	if got := h.host.notificationsFor("bob"); len(got) != 0 {
		t.Errorf("an edit alerted bob: %+v", got)
	}

	if _, err := h.c.Ban(ctx, &chatv1.BanRequest{UserId: "mod", RoomId: room, TargetUserId: "bob", Reason: "spam"}); err != nil {
		t.Fatal(err)
	}
	last := h.send("alice", room, "c2", "@bob are you there?").GetMessage()
	h.judged(room, last.GetSeq())
	if got := h.host.notificationsFor("bob"); len(got) != 0 {
		t.Errorf("banned bob was alerted: %+v", got)
	}
	// Control: the same mention reaches him once the ban is lifted.
	if _, err := h.c.Unban(ctx, &chatv1.UnbanRequest{UserId: "mod", RoomId: room, TargetUserId: "bob"}); err != nil {
		t.Fatal(err)
	}
	last = h.send("alice", room, "c3", "@bob welcome back").GetMessage()
	h.judged(room, last.GetSeq())
	if got := h.host.notificationsFor("bob"); len(got) != 1 || !strings.Contains(got[0].GetBody(), "welcome back") {
		t.Errorf("bob's notifications after the unban = %+v, want the welcome", got)
	}
}
