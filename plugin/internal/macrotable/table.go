// Package macrotable renders what a chat macro becomes on a page: the
// room's table (name, last activity, participants, files, transcripts and
// the Join chat link), or an inline box when the macro is broken or the
// viewer may not see the room.
//
// Only the plugin renders these, so hosts never depend on the markup; they
// parse macros with package macro and pass on the plugin's HTML. Rendering
// is a pure function of its input, with every value escaped by
// html/template.
package macrotable

import (
	"bytes"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pagechat/pagechat/internal/humansize"
	"github.com/pagechat/pagechat/internal/joinlink"
)

// DefaultVisibleTranscripts is how many transcript days the table lists
// before folding the rest away: a week of links keeps the table short on a
// page whose room has been busy for years.
const DefaultVisibleTranscripts = 7

// The table lists at most these many participants, files and transcripts;
// the rest are counted ("and 1,950 more"). A room used for years has
// thousands of each, and every view of its page renders the table: its
// cost, and its length on the page, must not grow with the room's age.
// The room's files stay in the chat, and every transcript is a child page
// of the page, found by the wiki's own lists and search.
const (
	MaxParticipants = 30
	MaxFiles        = 10
	MaxTranscripts  = 30
	// MaxUnread is where the unread and mention counts stop counting:
	// from it on they read "99+".
	MaxUnread = 100
)

// Table is what the macro table shows for one room and one viewer.
type Table struct {
	RoomID   string
	RoomName string
	Topic    string // set by a moderator; empty hides the row
	JoinURL  string // the chat popup
	// Links are further ways to open the room (the host's XMPP bridge,
	// say), shown beside Join Chat. Their URLs must have been checked
	// against a scheme allow-list: they are inserted as they are.
	Links        []Link
	LastActivity time.Time
	// Now is the render time, for "5 minutes ago"; passed in so rendering
	// stays a pure function.
	Now          time.Time
	Location     *time.Location // for absolute times; nil means UTC
	Participants []Participant
	Files        []File
	Transcripts  []Transcript // newest first
	// VisibleTranscripts is how many transcripts show before the rest fold
	// away; 0 means DefaultVisibleTranscripts.
	VisibleTranscripts int
	// MoreParticipants, MoreFiles and MoreTranscripts count the entries
	// of each list that are not in it.
	MoreParticipants, MoreFiles, MoreTranscripts int
	// Unread and Mentions are the viewer's unread messages and the unread
	// ones that mention them ("3 new", "1 mention" next to Join Chat).
	Unread, Mentions int
}

// Participant is one participant in the table.
type Participant struct {
	Name   string
	Online bool
}

// Link is an extra link to the room.
type Link struct {
	Label string
	URL   template.URL
}

// File is one uploaded file in the table.
type File struct {
	Name string
	URL  string
	Size int64
}

// Transcript is one day's transcript link.
type Transcript struct {
	Date string // YYYY-MM-DD
	URL  string
}

var tableTemplate = template.Must(template.New("table").Funcs(template.FuncMap{
	"size":  humansize.Format,
	"count": thousands,
}).Parse(`<table class="pagechat-room" data-room="{{.RoomID}}">
<caption>Chat room: <span class="pagechat-name">{{.RoomName}}</span></caption>
<tbody>
{{- if .Topic}}
<tr><th scope="row">Topic</th><td class="pagechat-topic">{{.Topic}}</td></tr>
{{- end}}
<tr><th scope="row">Last activity</th><td class="pagechat-last">{{if .LastActivity.IsZero}}No messages yet{{else}}{{.Relative}} (<time datetime="{{.LastActivityISO}}">{{.LastActivityText}}</time>){{end}}</td></tr>
<tr><th scope="row">Participants</th><td class="pagechat-participants">{{range $i, $p := .Participants}}{{if $i}}, {{end}}<span class="pagechat-participant{{if $p.Online}} online{{end}}">{{$p.Name}}{{if $p.Online}} (online){{end}}</span>{{else}}Nobody yet{{end}}{{if .MoreParticipants}} <span class="pagechat-more">and {{count .MoreParticipants}} more</span>{{end}}</td></tr>
<tr><th scope="row">Files</th><td class="pagechat-files">{{if .Files}}{{if .MoreFiles}}<p class="pagechat-more">{{count .MoreFiles}} earlier {{if eq .MoreFiles 1}}file{{else}}files{{end}} in the chat; the newest:</p>{{end}}<ul>{{range .Files}}<li><a href="{{.URL}}">{{.Name}}</a> ({{size .Size}})</li>{{end}}</ul>{{else}}None{{end}}</td></tr>
<tr><th scope="row">Transcripts</th><td class="pagechat-transcripts">{{if .Shown}}<ul>{{range .Shown}}<li><a href="{{.URL}}">{{.Date}}</a></li>{{end}}</ul>{{if .Folded}}<details><summary>{{count .OlderCount}} older</summary><ul>{{range .Folded}}<li><a href="{{.URL}}">{{.Date}}</a></li>{{end}}</ul>{{if .MoreTranscripts}}<p class="pagechat-more">and {{count .MoreTranscripts}} earlier days, among this page's child pages</p>{{end}}</details>{{end}}{{else}}None yet{{end}}</td></tr>
</tbody>
</table>
<p class="pagechat-join"><a class="pagechat-join-link" href="{{.JoinURL}}" target="pagechat-{{.RoomID}}" onclick="{{.OnClick}}">Join chat</a>{{if .Unread}} <span class="pagechat-unread">{{.UnreadText}}</span>{{end}}{{if .Mentions}} <span class="pagechat-mentions">{{.MentionsText}}</span>{{end}}{{range .Links}} <a class="pagechat-room-link" href="{{.URL}}">{{.Label}}</a>{{end}}</p>
`))

var errorTemplate = template.Must(template.New("error").Parse(
	`<div class="pagechat-error" role="alert">Chat macro error: {{.}}</div>`))

// deniedHTML shows no room data at all: not its name, not whether it has
// messages.
const deniedHTML = `<div class="pagechat-denied">This chat room is visible only to users who may view this page.</div>`

// Render renders the macro table. Every value is escaped by
// html/template, and URLs with unsafe schemes are neutralised by it.
func Render(t Table) string {
	loc := t.Location
	if loc == nil {
		loc = time.UTC
	}
	visible := t.VisibleTranscripts
	if visible <= 0 {
		visible = DefaultVisibleTranscripts
	}
	shown, folded := t.Transcripts, []Transcript(nil)
	if len(shown) > visible {
		shown, folded = shown[:visible], shown[visible:]
	}
	data := struct {
		Table
		Relative, LastActivityISO, LastActivityText string
		Shown, Folded                               []Transcript
		OlderCount                                  int
		OnClick                                     template.JS
		UnreadText, MentionsText                    string
	}{
		UnreadText:       countText(t.Unread, "new", "new"),
		MentionsText:     countText(t.Mentions, "mention", "mentions"),
		Table:            t,
		Relative:         Relative(t.Now, t.LastActivity),
		LastActivityISO:  t.LastActivity.UTC().Format(time.RFC3339),
		LastActivityText: t.LastActivity.In(loc).Format("2006-01-02 15:04 MST"),
		Shown:            shown,
		Folded:           folded,
		OlderCount:       len(folded) + t.MoreTranscripts,
		OnClick:          joinlink.OnClick,
	}
	b := tableBuffers.Get().(*bytes.Buffer)
	defer func() {
		if b.Cap() <= maxPooledTable {
			b.Reset()
			tableBuffers.Put(b)
		}
	}()
	if err := tableTemplate.Execute(b, data); err != nil {
		return RenderError("the room table could not be rendered")
	}
	return b.String()
}

// tableBuffers keeps Render's output buffers: a full table is 10 to 20
// KiB, and growing a fresh buffer to that size by doubling was a fifth of
// what a render allocated.
var tableBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledTable is the largest buffer kept for the next render.
const maxPooledTable = 64 << 10

// RenderError renders an inline error box in place of a broken macro, so
// the page still renders and its author sees what to fix.
func RenderError(msg string) string {
	var b bytes.Buffer
	if err := errorTemplate.Execute(&b, msg); err != nil {
		return `<div class="pagechat-error" role="alert">Chat macro error.</div>`
	}
	return b.String()
}

// RenderDenied renders what a viewer without view permission sees.
func RenderDenied() string { return deniedHTML }

var bannedTemplate = template.Must(template.New("banned").Parse(
	`<div class="pagechat-denied pagechat-banned" role="status">{{.}}</div>`))

// RenderBanned renders what a viewer banned from the room sees instead of
// the table: the plugin's sentence saying so, with the reason and end
// (no other room data).
func RenderBanned(sentence string) string {
	sentence = strings.TrimSpace(sentence)
	if sentence != "" {
		r, size := utf8.DecodeRuneInString(sentence)
		sentence = string(unicode.ToUpper(r)) + sentence[size:]
		if !strings.HasSuffix(sentence, ".") {
			sentence += "."
		}
	}
	var b bytes.Buffer
	if err := bannedTemplate.Execute(&b, sentence); err != nil {
		return `<div class="pagechat-denied pagechat-banned" role="status">You are banned from this chat room.</div>`
	}
	return b.String()
}

// Relative describes how long before now t was, the way chat tools do.
func Relative(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return plural(int(d/time.Minute), "minute") + " ago"
	case d < 24*time.Hour:
		return plural(int(d/time.Hour), "hour") + " ago"
	case d < 48*time.Hour:
		return "yesterday"
	}
	return plural(int(d/(24*time.Hour)), "day") + " ago"
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// countText says "3 new" or "1 mention"; counts at MaxUnread or above
// read as "99+".
func countText(n int, one, many string) string {
	num := fmt.Sprint(n)
	if n >= MaxUnread {
		num = fmt.Sprint(MaxUnread-1, "+")
	}
	if n == 1 {
		return num + " " + one
	}
	return num + " " + many
}

// thousands writes n with thousands separators, as the table's other
// counts are read: "1,950".
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return s
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
