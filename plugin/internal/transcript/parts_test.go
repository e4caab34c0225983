package transcript

import (
	"context"
	"fmt"
	"html/template"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/limits"
	"github.com/pagechat/pagechat/plugin/internal/render"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// partOf maps every message id on the parts of date to the part it is on,
// failing the test if a message appears twice.
func partOf(t *testing.T, e *env, date string, parts int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	idRE := regexp.MustCompile(`<li id="(m-[0-9]+)">`)
	for n := 1; n <= parts; n++ {
		p, ok := e.pages.get(PartKey(roomID, date, n))
		if !ok {
			t.Fatalf("no part %d", n)
		}
		for _, m := range idRE.FindAllStringSubmatch(p.body, -1) {
			if prev, dup := seen[m[1]]; dup {
				t.Errorf("message %s on part %d and part %d", m[1], prev, n)
			}
			seen[m[1]] = n
		}
	}
	return seen
}

func TestLongDayContinuesOnFurtherParts(t *testing.T) {
	t.Parallel()
	const date = "2026-03-01"
	e := newEnv(t, time.Minute, at(1, 10, 0))
	big := strings.Repeat("x", 64<<10)
	// A row is the message's HTML and about 200 bytes of markup.
	perPart := (MaxBodyBytes - chromeReserve) / (len(big) + 300)
	sent := 2*perPart + perPart/2 // two full parts and half a third
	for i := range sent {
		e.send(fmt.Sprintf("%d %s", i, big))
	}
	e.clock.Advance(time.Minute)
	e.flush()

	const parts = 3
	if _, ok := e.pages.get(PartKey(roomID, date, parts+1)); ok {
		t.Fatalf("more than %d parts", parts)
	}
	for n := 1; n <= parts; n++ {
		p, ok := e.pages.get(PartKey(roomID, date, n))
		if !ok {
			t.Fatalf("no part %d", n)
		}
		if len(p.body) > MaxBodyBytes {
			t.Errorf("part %d is %d bytes, limit %d", n, len(p.body), MaxBodyBytes)
		}
		if want := PartTitle("Team", date, n); p.title != want || p.parent != "p1" {
			t.Errorf("part %d: title %q parent %q, want %q under p1", n, p.title, p.parent, want)
		}
		if strings.Contains(p.body, "do not fit") {
			t.Errorf("part %d leaves messages out", n)
		}
		back := `<a class="pagechat-transcript-part" href="/pages/` + PartKey(roomID, date, n-1) + `">&larr; part ` + fmt.Sprint(n-1) + `</a>`
		if hasBack := strings.Contains(p.body, back); hasBack != (n > 1) {
			t.Errorf("part %d: link back to part %d present = %v", n, n-1, hasBack)
		}
		next := `<a class="pagechat-transcript-part" href="/pages/` + PartKey(roomID, date, n+1) + `">continued in part ` + fmt.Sprint(n+1)
		if hasNext := strings.Contains(p.body, next); hasNext != (n < parts) {
			t.Errorf("part %d: link on to part %d present = %v", n, n+1, hasNext)
		}
	}
	before := partOf(t, e, date, parts)
	if len(before) != sent {
		t.Fatalf("%d of %d messages on the parts", len(before), sent)
	}

	// More messages: earlier ones stay where they were, and only the parts
	// that changed are written again.
	_, writes := e.pages.count()
	for i := range perPart / 4 {
		e.send(fmt.Sprintf("later %d %s", i, big))
	}
	e.clock.Advance(time.Minute)
	e.flush()
	after := partOf(t, e, date, parts)
	if len(after) != sent+perPart/4 {
		t.Errorf("%d of %d messages on the parts after more were sent", len(after), sent+perPart/4)
	}
	for id, n := range before {
		if after[id] != n {
			t.Errorf("message %s moved from part %d to part %d", id, n, after[id])
		}
	}
	if _, now := e.pages.count(); now-writes != 2 {
		t.Errorf("%d page writes for an update of the last part, want 2 (the day's page and the last part)", now-writes)
	}
	room, err := e.store.Room(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	if len(room.Transcripts) != 1 || room.Transcripts[0].URL != "/pages/"+Key(roomID, date) {
		t.Errorf("room transcripts = %+v, want the day's first page", room.Transcripts)
	}
}

func TestSplitPartsKeepsEarlierRowsInPlace(t *testing.T) {
	t.Parallel()
	rows := func(sizes ...int) (out []template.HTML) {
		for _, n := range sizes {
			out = append(out, template.HTML(strings.Repeat("x", n)))
		}
		return out
	}
	tests := []struct {
		name string
		rows []template.HTML
		want []int // rows per part
	}{
		{"empty", nil, []int{0}},
		{"fits", rows(3, 3, 4), []int{3}},
		{"two parts", rows(4, 4, 4), []int{2, 1}},
		{"oversized row alone", rows(2, 20, 2), []int{1, 1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got []int
			for _, p := range splitParts(tt.rows, 10) {
				got = append(got, len(p))
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("parts %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPartKeyAndTitle(t *testing.T) {
	t.Parallel()
	if got := PartKey(roomID, "2026-03-01", 1); got != Key(roomID, "2026-03-01") {
		t.Errorf("part 1 key %q, want the day's key", got)
	}
	if got := PartKey(roomID, "2026-03-01", 2); got != "pagechat-transcript/p1.team/2026-03-01/part-2" {
		t.Errorf("part 2 key %q", got)
	}
	long := strings.Repeat("p", 190) + ".team"
	if k := PartKey(long, "2026-03-01", 12); len(k) > MaxKeyBytes || k != PartKey(long, "2026-03-01", 12) || k == PartKey(long, "2026-03-01", 13) {
		t.Errorf("part key of a long room id %q: want stable, distinct and at most %d bytes", k, MaxKeyBytes)
	}
	if got := PartTitle("Team", "2026-03-01", 2); got != "Team chat transcript 2026-03-01 (part 2)" {
		t.Errorf("part 2 title %q", got)
	}
}

// The largest message an admin may allow, at its largest rendering (a
// text of double quotes, each escaped to five bytes), still fits in one
// transcript part: no setting can make a message too big for the
// transcript, and so for search.
func TestLargestMessageFitsAPart(t *testing.T) {
	t.Parallel()
	const date = "2026-03-01"
	e := newEnv(t, time.Minute, at(1, 10, 0))
	text := strings.Repeat(`"`, limits.MaxMessageBytes)
	html, err := (&render.Renderer{}).Render(context.Background(), "p1", text)
	if err != nil {
		t.Fatal(err)
	}
	if len(html) < 4*len(text) {
		t.Fatalf("the worst case renders to %d bytes, not near the bound %d", len(html), render.MaxHTMLBytes(len(text)))
	}
	e.change(store.NewMessage{UserID: "alice", UserName: strings.Repeat("A", 256), Text: text, HTML: string(html)})
	e.send("after it")
	e.clock.Advance(time.Minute)
	e.flush()
	for n := 1; ; n++ {
		p, ok := e.pages.get(PartKey(roomID, date, n))
		if !ok {
			if n == 1 {
				t.Fatal("no transcript")
			}
			break
		}
		if strings.Contains(p.body, "do not fit") {
			t.Errorf("part %d leaves a message out (%d bytes)", n, len(p.body))
		}
	}
}
