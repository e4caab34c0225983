package macrotable

import (
	"strings"
	"testing"
	"time"
)

func TestRenderUnreadCounts(t *testing.T) {
	t.Parallel()
	base := Table{RoomID: "1.r", RoomName: "R", JoinURL: "/chat/rooms/1.r", Now: time.Now()}
	tests := []struct {
		unread, mentions int
		want             []string
		absent           []string
	}{
		{0, 0, nil, []string{"pagechat-unread", "pagechat-mentions"}},
		{3, 0, []string{`<span class="pagechat-unread">3 new</span>`}, []string{"pagechat-mentions"}},
		{1, 1, []string{`<span class="pagechat-unread">1 new</span>`, `<span class="pagechat-mentions">1 mention</span>`}, nil},
		{99, 0, []string{`>99 new<`}, nil},
		{100, 2, []string{`>99&#43; new<`, `>2 mentions<`}, nil},
		{1000, 100, []string{`>99&#43; new<`, `>99&#43; mentions<`}, nil},
	}
	for _, tc := range tests {
		tb := base
		tb.Unread, tb.Mentions = tc.unread, tc.mentions
		out := Render(tb)
		checkMarkup(t, out)
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("unread %d, mentions %d: %q missing in %s", tc.unread, tc.mentions, w, out)
			}
		}
		for _, a := range tc.absent {
			if strings.Contains(out, a) {
				t.Errorf("unread %d, mentions %d: %q present", tc.unread, tc.mentions, a)
			}
		}
	}
}
