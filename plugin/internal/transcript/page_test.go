package transcript

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

func TestRenderPageShowsAnOrderedLinkableLog(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 9, 5, 7, 0, time.UTC) // 10:05:07 in Berlin
	d := pageData{
		RoomID:    "p1.team",
		RoomName:  "Team",
		RoomURL:   roomURL("/chat/", "p1.team"),
		PageTitle: "Team page",
		PageURL:   "/pages/p1",
		Date:      "2026-03-01",
		Zone:      berlin.String(),
		Prev:      &dayLink{Date: "2026-02-27", URL: "/pages/t-27"},
		Next:      &dayLink{Date: "2026-03-02", URL: "/pages/t-02"},
		Final:     true,
		Lines: []line{
			newLine(store.Message{Seq: 7, UserName: "Alice", Text: "see [Home]", HTML: `see <a href="/pages/home">Home</a>`, SentAt: at}, berlin),
			newLine(store.Message{Seq: 8, UserID: "bob", Text: "a < b & c", SentAt: at.Add(time.Second),
				File: &store.File{Name: "plan.pdf", URL: "/files/plan.pdf", ContentType: "application/pdf", Size: 2048}}, berlin),
		},
	}
	body, err := renderPage(d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<ol class="pagechat-transcript">`,
		`<li id="m-7"><a class="time" href="#m-7"><time datetime="2026-03-01T10:05:07&#43;01:00">10:05:07</time></a> <span class="sender">Alice</span>`,
		`<div class="message">see <a href="/pages/home">Home</a></div>`,
		`<li id="m-8">`,
		`<span class="sender">bob</span>`, // no display name: the user id
		// Stored without HTML: the text, then the file.
		`<div class="message">a &lt; b &amp; c <a class="file" href="/files/plan.pdf">plan.pdf</a> <span class="file-info">(application/pdf, 2.0 KiB)</span></div>`,
		`<a rel="prev" href="/pages/t-27">&larr; 2026-02-27</a>`,
		`<a rel="next" href="/pages/t-02">2026-03-02 &rarr;</a>`,
		`<a href="/chat/rooms/p1.team">Open the chat room</a>`,
		`<a href="/pages/p1">Back to Team page</a>`,
		`Times are Europe/Berlin.`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s\n%s", want, body)
		}
	}
	if strings.Index(body, `id="m-7"`) > strings.Index(body, `id="m-8"`) {
		t.Error("messages out of order")
	}
	if strings.Contains(body, "not over yet") {
		t.Error("a final page says the day is not over")
	}

	d.Final, d.Prev, d.Next = false, nil, nil
	body, err = renderPage(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, "not over yet") || strings.Contains(body, `rel="prev"`) || strings.Contains(body, `rel="next"`) {
		t.Errorf("page of a running day without neighbours:\n%s", body)
	}
}

// The wiki shows a transcript's title above its body, so the body must not
// repeat it; an upload's message already links its file, so the file must
// not be listed a second time.
func TestRenderPageSaysThingsOnce(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 1, 9, 5, 7, 0, time.UTC)
	file := &store.File{Name: "plan.pdf", URL: "/files/plan.pdf", ContentType: "application/pdf", Size: 2048}
	upload := `<span class="file-upload">uploaded <a class="file" href="/files/plan.pdf" download>plan.pdf</a> <span class="file-size">(2.0 KiB)</span></span>`
	for _, part := range []int{1, 2} {
		d := pageData{
			RoomID: "p1.team", RoomName: "Team", RoomURL: roomURL("/chat/", "p1.team"),
			Date: "2026-03-01", Zone: "UTC", Final: true, Part: part,
			Lines: []line{newLine(store.Message{Seq: 1, UserName: "Alice", Text: "uploaded plan.pdf", HTML: upload, File: file, SentAt: at}, time.UTC)},
		}
		body, err := renderPage(d)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(body, `href="/files/plan.pdf"`); n != 1 {
			t.Errorf("part %d: the file is linked %d times, want once:\n%s", part, n, body)
		}
		if strings.Contains(body, "<h1") || strings.Contains(body, "<h2") || strings.Contains(body, "Team 2026-03-01") {
			t.Errorf("part %d: the body repeats the page title:\n%s", part, body)
		}
		if strings.Count(body, "2026-03-01</time>") != 1 {
			t.Errorf("part %d: the body does not name the day once:\n%s", part, body)
		}
		if got := strings.Contains(body, ", part 2."); got != (part == 2) {
			t.Errorf("part %d: names the part: %v\n%s", part, got, body)
		}
	}
}

func TestRenderPageEscapesEverythingButMessageHTML(t *testing.T) {
	t.Parallel()
	evil := `<script>alert(1)</script>`
	d := pageData{
		RoomID:    "p." + evil,
		RoomName:  evil,
		RoomURL:   roomURL("/chat/", "p."+evil),
		PageTitle: evil,
		PageURL:   "javascript:alert(1)",
		Date:      "2026-03-01",
		Zone:      "UTC",
		Prev:      &dayLink{Date: "2026-02-28", URL: "javascript:alert(2)"},
		Final:     true,
		Lines: []line{newLine(store.Message{Seq: 1, UserName: evil, Text: evil, SentAt: time.Unix(0, 0),
			File: &store.File{Name: evil, URL: "javascript:alert(3)"}}, time.UTC)},
	}
	body, err := renderPage(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "javascript:") {
		t.Fatalf("unescaped input in page:\n%s", body)
	}
	if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("escaped name missing:\n%s", body)
	}
}

func TestRenderPageStaysUnderTheBodyLimit(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 16<<10)
	d := pageData{RoomID: "p.r", RoomName: "R", RoomURL: "/chat/rooms/p.r", Date: "2026-03-01", Zone: "UTC", Final: true}
	n := MaxBodyBytes/len(big) + 10
	for i := range n {
		d.Lines = append(d.Lines, newLine(store.Message{Seq: uint64(i + 1), UserName: "u", Text: big, SentAt: time.Unix(0, 0)}, time.UTC))
	}
	body, err := renderPage(d)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) > MaxBodyBytes {
		t.Fatalf("body is %d bytes, limit %d", len(body), MaxBodyBytes)
	}
	if !strings.Contains(body, `id="m-1"`) || strings.Contains(body, `id="m-`+strconv.Itoa(n)+`"`) {
		t.Error("truncation should keep the earliest messages and drop the latest")
	}
	if !strings.Contains(body, "later messages of this day do not fit") {
		t.Error("truncated page does not say so")
	}
}

func TestKeyTitleAndDays(t *testing.T) {
	t.Parallel()
	if got := Key("p1.team", "2026-03-01"); got != "pagechat-transcript/p1.team/2026-03-01" {
		t.Errorf("Key = %q", got)
	}
	long := Key(strings.Repeat("p", 300)+".team", "2026-03-01")
	if len(long) > MaxKeyBytes || !strings.HasSuffix(long, "/2026-03-01") || long != Key(strings.Repeat("p", 300)+".team", "2026-03-01") {
		t.Errorf("Key of a long room id = %q (%d bytes): want stable and at most %d bytes", long, len(long), MaxKeyBytes)
	}
	if got := Title("Team", "2026-03-01"); got != "Team chat transcript 2026-03-01" {
		t.Errorf("Title = %q", got)
	}
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	late := time.Date(2026, 3, 1, 23, 30, 0, 0, time.UTC)
	if got := DayFunc(berlin)(late); got != "2026-03-02" {
		t.Errorf("23:30 UTC in Berlin is on %s, want 2026-03-02", got)
	}
	if got := DayFunc(nil)(late); got != "2026-03-01" {
		t.Errorf("default zone: %s, want UTC's 2026-03-01", got)
	}
	// The day of the spring DST change in Berlin is 23 hours long.
	end, ok := dayEnd("2026-03-29", berlin)
	start, _ := time.ParseInLocation(time.DateOnly, "2026-03-29", berlin)
	if !ok || end.Sub(start) != 23*time.Hour {
		t.Errorf("dayEnd over DST = %v (%v after start)", end, end.Sub(start))
	}
	if _, ok := dayEnd("not a date", time.UTC); ok {
		t.Error("dayEnd accepted a bad date")
	}
}
