package macro

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"html/template"
	"time"

	"github.com/pagechat/pagechat/internal/humansize"
)

// DefaultVisibleTranscripts is how many transcript days the table lists
// before folding the rest away: a week of links keeps the table short on a
// page whose room has been busy for years.
const DefaultVisibleTranscripts = 7

// Table is what the macro table shows for one room and one viewer.
type Table struct {
	RoomID       string
	RoomName     string
	JoinURL      string // the chat popup
	LastActivity time.Time
	// Now is the render time, for "5 minutes ago"; passed in so rendering
	// stays a pure function.
	Now          time.Time
	Location     *time.Location // for absolute times; nil means UTC
	Participants []TableParticipant
	Files        []TableFile
	Transcripts  []TableTranscript // newest first
	// VisibleTranscripts is how many transcripts show before the rest fold
	// away; 0 means DefaultVisibleTranscripts.
	VisibleTranscripts int
}

// TableParticipant is one participant in the table.
type TableParticipant struct {
	Name   string
	Online bool
}

// TableFile is one uploaded file in the table.
type TableFile struct {
	Name string
	URL  string
	Size int64
}

// TableTranscript is one day's transcript link.
type TableTranscript struct {
	Date string // YYYY-MM-DD
	URL  string
}

// The popup opens without browser chrome where the browser allows it; the
// handler is a fixed string, and without script the link still opens the
// room in a new tab.
const popupOnClick = `window.open(this.href,this.target,'popup,width=960,height=720');return false;`

// JoinLinkScriptSource is the Content-Security-Policy source that allows
// the Join Chat link's handler and no other script. A host whose pages
// carry a CSP adds it to script-src together with 'unsafe-hashes'; without
// it the link still works, but opens a normal tab instead of a popup.
var JoinLinkScriptSource = func() string {
	sum := sha256.Sum256([]byte(popupOnClick))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

var tableTemplate = template.Must(template.New("table").Funcs(template.FuncMap{
	"size": humansize.Format,
}).Parse(`<table class="pagechat-room" data-room="{{.RoomID}}">
<caption>Chat room: {{.RoomName}}</caption>
<tbody>
<tr><th scope="row">Room</th><td class="pagechat-name">{{.RoomName}}</td></tr>
<tr><th scope="row">Last activity</th><td class="pagechat-last">{{if .LastActivity.IsZero}}No messages yet{{else}}{{.Relative}} (<time datetime="{{.LastActivityISO}}">{{.LastActivityText}}</time>){{end}}</td></tr>
<tr><th scope="row">Participants</th><td class="pagechat-participants">{{range $i, $p := .Participants}}{{if $i}}, {{end}}<span class="pagechat-participant{{if $p.Online}} online{{end}}">{{$p.Name}}{{if $p.Online}} (online){{end}}</span>{{else}}Nobody yet{{end}}</td></tr>
<tr><th scope="row">Files</th><td class="pagechat-files">{{if .Files}}<ul>{{range .Files}}<li><a href="{{.URL}}">{{.Name}}</a> ({{size .Size}})</li>{{end}}</ul>{{else}}None{{end}}</td></tr>
<tr><th scope="row">Transcripts</th><td class="pagechat-transcripts">{{if .Shown}}<ul>{{range .Shown}}<li><a href="{{.URL}}">{{.Date}}</a></li>{{end}}</ul>{{if .Folded}}<details><summary>{{len .Folded}} older</summary><ul>{{range .Folded}}<li><a href="{{.URL}}">{{.Date}}</a></li>{{end}}</ul></details>{{end}}{{else}}None yet{{end}}</td></tr>
</tbody>
</table>
<p class="pagechat-join"><a class="pagechat-join-link" href="{{.JoinURL}}" target="pagechat-{{.RoomID}}" onclick="{{.OnClick}}">Join Chat</a></p>
`))

var errorTemplate = template.Must(template.New("error").Parse(
	`<div class="pagechat-error" role="alert">Chat macro error: {{.}}</div>`))

// deniedHTML shows no room data at all: not its name, not whether it has
// messages.
const deniedHTML = `<div class="pagechat-denied">This chat room is visible only to users who may view this page.</div>`

// RenderTable renders the macro table. Every value is escaped by
// html/template, and URLs with unsafe schemes are neutralised by it.
func RenderTable(t Table) string {
	loc := t.Location
	if loc == nil {
		loc = time.UTC
	}
	visible := t.VisibleTranscripts
	if visible <= 0 {
		visible = DefaultVisibleTranscripts
	}
	shown, folded := t.Transcripts, []TableTranscript(nil)
	if len(shown) > visible {
		shown, folded = shown[:visible], shown[visible:]
	}
	data := struct {
		Table
		Relative, LastActivityISO, LastActivityText string
		Shown, Folded                               []TableTranscript
		OnClick                                     template.JS
	}{
		Table:            t,
		Relative:         Relative(t.Now, t.LastActivity),
		LastActivityISO:  t.LastActivity.UTC().Format(time.RFC3339),
		LastActivityText: t.LastActivity.In(loc).Format("2006-01-02 15:04 MST"),
		Shown:            shown,
		Folded:           folded,
		OnClick:          popupOnClick,
	}
	var b bytes.Buffer
	if err := tableTemplate.Execute(&b, data); err != nil {
		return RenderError("the room table could not be rendered")
	}
	return b.String()
}

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
