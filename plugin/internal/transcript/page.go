package transcript

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/url"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

const (
	// MaxKeyBytes is the longest page key HostAPI.UpsertChildPage accepts
	// (host.proto).
	MaxKeyBytes = 200
	// MaxBodyBytes bounds a page body. The page travels in one gRPC
	// message to the host, whose broker server refuses messages above
	// gRPC's default 4 MiB; 3 MiB leaves room for the rest of the request.
	// A day too long for it keeps its earliest messages and says how many
	// were left out, rather than failing forever.
	MaxBodyBytes = 3 << 20
	// keyPrefix starts every transcript page key, so a host can tell the
	// plugin's pages from its own.
	keyPrefix = "pagechat-transcript/"
	// dateLayout is the format of transcript days.
	dateLayout = time.DateOnly
)

// Key returns the stable key of roomID's transcript page for date:
// "pagechat-transcript/<roomID>/<date>". The same key always names the same
// page, so a retried or repeated write updates it instead of adding one. A
// room id too long for MaxKeyBytes is replaced by its SHA-256, which is as
// stable.
func Key(roomID, date string) string {
	k := keyPrefix + roomID + "/" + date
	if len(k) <= MaxKeyBytes {
		return k
	}
	sum := sha256.Sum256([]byte(roomID))
	return keyPrefix + "sha256-" + hex.EncodeToString(sum[:]) + "/" + date
}

// Title returns the page title of a room's transcript for date.
func Title(roomName, date string) string {
	return roomName + " chat transcript " + date
}

// DayFunc returns the function that names the transcript day of an
// instant in loc (nil means UTC): "YYYY-MM-DD". The store uses it to file
// messages under days, and the writer to pick a day's messages.
func DayFunc(loc *time.Location) func(time.Time) string {
	if loc == nil {
		loc = time.UTC
	}
	return func(t time.Time) string { return t.In(loc).Format(dateLayout) }
}

// dayEnd returns the first instant after date in loc. time.Date normalises
// day+1 across month ends and DST changes.
func dayEnd(date string, loc *time.Location) (time.Time, bool) {
	d, err := time.ParseInLocation(dateLayout, date, loc)
	if err != nil {
		return time.Time{}, false
	}
	return time.Date(d.Year(), d.Month(), d.Day()+1, 0, 0, 0, 0, loc), true
}

// roomURL is where the host serves the room's chat popup: the popup page of
// host-sdk's browser API under the host's chat prefix.
func roomURL(prefix, roomID string) string {
	return prefix + "rooms/" + url.PathEscape(roomID)
}

// pageData is what the page template shows.
type pageData struct {
	RoomID    string
	RoomName  string
	RoomURL   string
	PageTitle string // the room's page; empty if unknown
	PageURL   string
	Date      string
	Zone      string
	Prev      *dayLink // nil if there is no earlier transcript (yet)
	Next      *dayLink
	Final     bool // the day is over
	Lines     []line
	Omitted   int // messages left out to respect MaxBodyBytes
}

type dayLink struct {
	Date string
	URL  string
}

type line struct {
	Seq      uint64
	DateTime string // RFC 3339 in the zone
	Clock    string // HH:MM:SS in the zone
	Sender   string
	// HTML is the message as rendered at send time by package render,
	// whose output is escaped text plus its own allow-listed markup; it is
	// the one value shown unescaped. Text is the fallback for messages
	// stored without HTML.
	HTML template.HTML
	Text string
	File *store.File
}

func newLine(m store.Message, loc *time.Location) line {
	at := m.SentAt.In(loc)
	sender := m.UserName
	if sender == "" {
		sender = m.UserID
	}
	return line{
		Seq:      m.Seq,
		DateTime: at.Format(time.RFC3339),
		Clock:    at.Format(time.TimeOnly),
		Sender:   sender,
		HTML:     template.HTML(m.HTML), // trusted: see line.HTML
		Text:     m.Text,
		File:     m.File,
	}
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{"size": humanSize}).Parse(
	`<div class="pagechat-transcript-page" data-room="{{.RoomID}}" data-date="{{.Date}}">
{{template "nav" .}}
<h2>{{.RoomName}} <time datetime="{{.Date}}">{{.Date}}</time></h2>
<p class="pagechat-transcript-about">Chat transcript of the room <a href="{{.RoomURL}}">{{.RoomName}}</a>{{if .PageTitle}} on {{if .PageURL}}<a href="{{.PageURL}}">{{.PageTitle}}</a>{{else}}{{.PageTitle}}{{end}}{{end}}. Times are {{.Zone}}.</p>
{{- if not .Final}}
<p class="pagechat-transcript-live">This day is not over yet; this page is updated as the chat goes on.</p>
{{- end}}
<ol class="pagechat-transcript">
{{range .Lines}}<li id="m-{{.Seq}}"><a class="time" href="#m-{{.Seq}}"><time datetime="{{.DateTime}}">{{.Clock}}</time></a> <span class="sender">{{.Sender}}</span> <div class="message">{{if .HTML}}{{.HTML}}{{else}}{{.Text}}{{end}}</div>
{{- with .File}} <a class="file" href="{{.URL}}">{{.Name}}</a> <span class="file-info">({{.ContentType}}, {{size .Size}})</span>{{end}}</li>
{{end}}</ol>
{{- if .Omitted}}
<p class="pagechat-transcript-omitted">{{.Omitted}} later messages of this day do not fit on one page; read them in <a href="{{.RoomURL}}">the chat room</a>.</p>
{{- end}}
{{template "nav" .}}
</div>
{{define "nav"}}<nav class="pagechat-transcript-nav">
{{- if .Prev}}<a rel="prev" href="{{.Prev.URL}}">&larr; {{.Prev.Date}}</a> | {{end -}}
<a href="{{.RoomURL}}">Open the chat room</a>
{{- if and .PageTitle .PageURL}} | <a href="{{.PageURL}}">Back to {{.PageTitle}}</a>{{end}}
{{- if .Next}} | <a rel="next" href="{{.Next.URL}}">{{.Next.Date}} &rarr;</a>{{end -}}
</nav>{{end}}`))

// renderPage renders d, leaving out the latest messages if the page would
// exceed MaxBodyBytes.
func renderPage(d pageData) (string, error) {
	body, err := execPage(d)
	if err != nil || len(body) <= MaxBodyBytes {
		return body, err
	}
	// Binary search for the most messages that fit: rare (a day with
	// megabytes of chat), and a handful of renders then is cheap.
	all := d.Lines
	lo, hi := 0, len(all) // lo fits (an empty list always does), hi does not
	best := ""
	for lo < hi {
		mid := (lo + hi + 1) / 2
		d.Lines, d.Omitted = all[:mid], len(all)-mid
		b, err := execPage(d)
		if err != nil {
			return "", err
		}
		if len(b) <= MaxBodyBytes {
			lo, best = mid, b
		} else {
			hi = mid - 1
		}
	}
	if best == "" {
		d.Lines, d.Omitted = nil, len(all)
		return execPage(d)
	}
	return best, nil
}

func execPage(d pageData) (string, error) {
	var b bytes.Buffer
	if err := pageTemplate.Execute(&b, d); err != nil {
		return "", fmt.Errorf("render transcript page: %w", err)
	}
	return b.String(), nil
}

// humanSize formats a file size for the page, e.g. "12 KiB".
func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
