package server

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

func TestRoomLinksInMacroTable(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, func(r *chatv1.ConfigureRequest) {
		r.RoomLinks = []*chatv1.RoomLink{{Label: "Join with XMPP", Url: "xmpp:{room}@chat.example.org?join"}}
	})
	resp, err := h.c.RenderMacro(testCtx(t), &chatv1.RenderMacroRequest{UserId: "alice", PageId: "p1", Name: "Ω Room"})
	if err != nil {
		t.Fatal(err)
	}
	want := `<a class="pagechat-room-link" href="xmpp:p1.%CF%89-room@chat.example.org?join">Join with XMPP</a>`
	if !strings.Contains(resp.GetHtml(), want) {
		t.Errorf("macro table lacks %s:\n%s", want, resp.GetHtml())
	}
}

func TestConfigureRefusesBadRoomLinks(t *testing.T) {
	t.Parallel()
	for _, links := range [][]*chatv1.RoomLink{
		{{Label: "x", Url: "javascript:alert('{room}')"}},
		{{Label: "", Url: "xmpp:{room}@x?join"}},
		{{Label: "x", Url: "xmpp:fixed@x?join"}},
		{{Label: "a", Url: "https://a/{room}"}, {Label: "b", Url: "https://b/{room}"}, {Label: "c", Url: "https://c/{room}"}, {Label: "d", Url: "https://d/{room}"}, {Label: "e", Url: "https://e/{room}"}},
	} {
		h := newHarness(t)
		req := h.configReq()
		req.RoomLinks = links
		_, err := h.c.Configure(testCtx(t), req)
		wantCode(t, err, codes.InvalidArgument)
	}
}
