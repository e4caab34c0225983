package macrotable

import (
	"strings"
	"testing"
)

func TestRenderRoomLinks(t *testing.T) {
	t.Parallel()
	html := Render(Table{
		RoomID:   "1.team-room",
		RoomName: "Team Room",
		JoinURL:  "/chat/rooms/1.team-room",
		Links:    []Link{{Label: `XMPP <b>"`, URL: "xmpp:1.team-room@chat.example.org?join"}},
	})
	if !strings.Contains(html, `<a class="pagechat-room-link" href="xmpp:1.team-room@chat.example.org?join">XMPP &lt;b&gt;&#34;</a>`) {
		t.Errorf("room link missing or not escaped:\n%s", html)
	}
	if html := Render(Table{RoomID: "r", RoomName: "R", JoinURL: "/x"}); strings.Contains(html, "pagechat-room-link") {
		t.Errorf("a link without links configured:\n%s", html)
	}
}
