package macrotable

import (
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/joinlink"
	"github.com/pagechat/pagechat/macro"
)

var (
	tagPattern  = regexp.MustCompile(`<(/?)([a-zA-Z0-9]+)([^>]*)>`)
	attrPattern = regexp.MustCompile(`\s([a-zA-Z-]+)="([^"]*)"`)
	allowedTags = map[string]bool{"table": true, "caption": true, "tbody": true, "tr": true, "th": true, "td": true,
		"span": true, "ul": true, "li": true, "a": true, "details": true, "summary": true, "time": true, "p": true, "div": true}
	allowedAttrs = map[string]bool{"class": true, "data-room": true, "scope": true, "href": true, "datetime": true,
		"target": true, "onclick": true, "role": true}
)

// checkMarkup fails if html has an element, attribute or URL the table
// templates never emit, i.e. if some value escaped into markup.
func checkMarkup(t *testing.T, html string) {
	t.Helper()
	rest := tagPattern.ReplaceAllStringFunc(html, func(tag string) string {
		m := tagPattern.FindStringSubmatch(tag)
		if !allowedTags[strings.ToLower(m[2])] {
			t.Fatalf("unexpected element %q in %s", tag, html)
		}
		attrs := attrPattern.ReplaceAllStringFunc(m[3], func(a string) string {
			am := attrPattern.FindStringSubmatch(a)
			name, val := strings.ToLower(am[1]), am[2]
			if !allowedAttrs[name] {
				t.Fatalf("unexpected attribute %q in %s", a, tag)
			}
			if name == "onclick" && val != strings.ReplaceAll(joinlink.OnClick, "'", "&#39;") {
				t.Fatalf("onclick carries data: %q", val)
			}
			if name == "href" && strings.HasPrefix(strings.ToLower(strings.TrimSpace(val)), "javascript:") {
				t.Fatalf("javascript: URL in %s", tag)
			}
			return ""
		})
		if strings.TrimSpace(attrs) != "" {
			t.Fatalf("unparsed attribute text %q in %s", attrs, tag)
		}
		return ""
	})
	if strings.ContainsAny(rest, "<>") {
		t.Fatalf("stray markup characters in text: %q", rest)
	}
}

func TestRenderTable(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 15, 0, 0, 0, time.UTC)
	var transcripts []Transcript
	for d := 10; d >= 1; d-- {
		transcripts = append(transcripts, Transcript{Date: fmt.Sprintf("2026-11-%02d", d), URL: fmt.Sprintf("/pages/t%02d", d)})
	}
	html := Render(Table{
		RoomID:       "p1.team",
		RoomName:     `Team <script>alert(1)</script>`,
		JoinURL:      "/chat/rooms/p1.team",
		LastActivity: now.Add(-5 * time.Minute),
		Now:          now,
		Participants: []Participant{{Name: "Alice", Online: true}, {Name: `Bob "<b>"`}},
		Files:        []File{{Name: "plan.pdf", URL: "/files/1", Size: 2048}, {Name: "evil", URL: "javascript:alert(1)", Size: 1}},
		Transcripts:  transcripts,
	})
	checkMarkup(t, html)
	for _, want := range []string{
		"Team &lt;script&gt;alert(1)&lt;/script&gt;",
		"5 minutes ago",
		`<time datetime="2026-11-23T14:55:00Z">2026-11-23 14:55 UTC</time>`,
		"Alice (online)",
		`<a href="/files/1">plan.pdf</a> (2.0 KiB)`,
		`<a href="/pages/t10">2026-11-10</a>`,
		"<summary>3 older</summary>",
		`href="/chat/rooms/p1.team"`,
		"Join chat",
	} {
		if !strings.Contains(html, want) {
			t.Errorf("table lacks %q:\n%s", want, html)
		}
	}
	// The caption names the room; a "Room" row saying it again is noise.
	if n := strings.Count(html, "Team &lt;script&gt;"); n != 1 || strings.Contains(html, ">Room</th>") {
		t.Errorf("the room name is shown %d times (want once, in the caption):\n%s", n, html)
	}
	for _, th := range regexp.MustCompile(`<th scope="row">([^<]*)</th>`).FindAllStringSubmatch(html, -1) {
		if rest := th[1][1:]; th[1][:1] != strings.ToUpper(th[1][:1]) || rest != strings.ToLower(rest) {
			t.Errorf("row heading %q is not in sentence case", th[1])
		}
	}
	if strings.Index(html, "2026-11-10") > strings.Index(html, "2026-11-09") {
		t.Error("transcripts are not newest first")
	}
	if strings.Contains(html, "javascript:alert") {
		t.Error("a javascript: file URL survived")
	}
}

func TestRenderTableEmptyRoom(t *testing.T) {
	t.Parallel()
	html := Render(Table{RoomID: "p.r", RoomName: "R", JoinURL: "/chat/rooms/p.r", Now: time.Now()})
	checkMarkup(t, html)
	for _, want := range []string{"No messages yet", "Nobody yet", "None yet"} {
		if !strings.Contains(html, want) {
			t.Errorf("empty table lacks %q", want)
		}
	}
}

func TestRenderErrorAndDenied(t *testing.T) {
	t.Parallel()
	html := RenderError(`bad name "<img src=x onerror=alert(1)>"`)
	checkMarkup(t, html)
	if !strings.Contains(html, "pagechat-error") {
		t.Errorf("error box lacks its class: %s", html)
	}
	checkMarkup(t, RenderDenied())
}

func TestRelative(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{10 * time.Second, "just now"},
		{time.Minute, "1 minute ago"},
		{59 * time.Minute, "59 minutes ago"},
		{2 * time.Hour, "2 hours ago"},
		{30 * time.Hour, "yesterday"},
		{72 * time.Hour, "3 days ago"},
	}
	for _, tt := range tests {
		if got := Relative(now, now.Add(-tt.ago)); got != tt.want {
			t.Errorf("Relative(-%v) = %q, want %q", tt.ago, got, tt.want)
		}
	}
}

func FuzzRenderTable(f *testing.F) {
	f.Add("Team", "Alice", "plan.pdf", "/files/1", "2026-01-01")
	f.Add(`"><script>alert(1)</script>`, `<img onerror=x>`, `a" onclick="x`, "javascript:alert(1)", `</details><svg onload=x>`)
	f.Fuzz(func(t *testing.T, room, person, file, url, date string) {
		html := Render(Table{
			RoomID:       room,
			RoomName:     room,
			JoinURL:      url,
			Now:          time.Unix(1e9, 0),
			LastActivity: time.Unix(1e9-3600, 0),
			Participants: []Participant{{Name: person}},
			Files:        []File{{Name: file, URL: url, Size: 10}},
			Transcripts:  []Transcript{{Date: date, URL: url}},
		})
		checkMarkup(t, html)
		checkMarkup(t, RenderError(room))
	})
}

// TestJoinLinkAllowedByCSP checks that a host which puts
// macro.JoinLinkScriptSource in its script-src lets the Join Chat link's
// handler run, i.e. that the hash is of exactly what the table emits.
func TestJoinLinkAllowedByCSP(t *testing.T) {
	t.Parallel()
	out := Render(Table{RoomID: "p.r", RoomName: "R", JoinURL: "/chat/rooms/p.r", Now: time.Now()})
	m := regexp.MustCompile(` onclick="([^"]*)"`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("the Join Chat link has no onclick:\n%s", out)
	}
	sum := sha256.Sum256([]byte(html.UnescapeString(m[1])))
	if got := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; got != macro.JoinLinkScriptSource {
		t.Errorf("the table's handler hashes to %s, but hosts allow %s", got, macro.JoinLinkScriptSource)
	}
}

// A topic set by a moderator shows as its own row, escaped; a room without
// one has no topic row.
func TestRenderTableTopic(t *testing.T) {
	t.Parallel()
	got := Render(Table{RoomID: "1.team", RoomName: "Team", Topic: `Release <b>"Friday"</b>`, JoinURL: "/chat/rooms/1.team", Now: time.Now()})
	checkMarkup(t, got)
	if !strings.Contains(got, `<td class="pagechat-topic">Release &lt;b&gt;&#34;Friday&#34;&lt;/b&gt;</td>`) {
		t.Errorf("table lacks the escaped topic:\n%s", got)
	}
	if none := Render(Table{RoomID: "1.team", RoomName: "Team", JoinURL: "/chat/rooms/1.team", Now: time.Now()}); strings.Contains(none, "Topic") {
		t.Errorf("a room without a topic shows a topic row:\n%s", none)
	}
}

func TestRenderBanned(t *testing.T) {
	t.Parallel()
	tests := []struct{ sentence, want string }{
		{"you are banned from this room with no end date", ">You are banned from this room with no end date.</div>"},
		{"you are banned from this room (reason: <b>spam</b>).", ">You are banned from this room (reason: &lt;b&gt;spam&lt;/b&gt;).</div>"},
		{"", "></div>"},
	}
	for _, tc := range tests {
		got := RenderBanned(tc.sentence)
		if !strings.HasPrefix(got, `<div class="pagechat-denied pagechat-banned" role="status">`) || !strings.HasSuffix(got, tc.want) {
			t.Errorf("RenderBanned(%q) = %s, want it to end %s", tc.sentence, got, tc.want)
		}
	}
}
