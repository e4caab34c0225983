package macrotable

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestRenderCountsWhatTheListsLeaveOut(t *testing.T) {
	t.Parallel()
	tb := Table{RoomID: "1.r", RoomName: "R", JoinURL: "/chat/rooms/1.r", Now: time.Now(),
		Participants: []Participant{{Name: "Ann", Online: true}}, MoreParticipants: 1950,
		Files: []File{{Name: "a.pdf", URL: "/f/a", Size: 10}}, MoreFiles: 1,
		MoreTranscripts: 300,
	}
	for i := range 10 {
		tb.Transcripts = append(tb.Transcripts, Transcript{Date: fmt.Sprintf("2026-01-%02d", 20-i), URL: "/p"})
	}
	out := Render(tb)
	checkMarkup(t, out)
	for _, want := range []string{
		`and 1,950 more`,
		`1 earlier file in the chat`,
		`<summary>303 older</summary>`,
		`and 300 earlier days`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("%q missing in %s", want, out)
		}
	}
	tb.MoreParticipants, tb.MoreFiles, tb.MoreTranscripts = 0, 0, 0
	if out := Render(tb); strings.Contains(out, "pagechat-more") {
		t.Errorf("a table with nothing left out says so: %s", out)
	}
}

func TestThousands(t *testing.T) {
	t.Parallel()
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -5: "-5"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
