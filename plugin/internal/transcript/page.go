package transcript

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/url"
	"strconv"
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
	// A day too long for it continues on further pages ("part 2", ...).
	MaxBodyBytes = 3 << 20
	// chromeReserve is the part of MaxBodyBytes kept for everything on a
	// page but its messages (heading, links, notes). Parts are filled up
	// to MaxBodyBytes-chromeReserve of messages whatever the links and
	// notes of the moment, so a message stays on the part it was first
	// written to when the day ends or a neighbour's link appears. 64 KiB
	// is many times the chrome of any real room and page name.
	chromeReserve = 64 << 10
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

// PartKey returns the stable key of part n (from 1) of roomID's
// transcript for date. Part 1 is the day's page, Key(roomID, date); a day
// too long for one page continues under "<Key>/part-<n>", shortened like
// Key when the room id is long.
func PartKey(roomID, date string, n int) string {
	if n <= 1 {
		return Key(roomID, date)
	}
	return Key(roomID, date+"/part-"+strconv.Itoa(n))
}

// PartTitle returns the page title of part n (from 1) of a room's
// transcript for date: Title for part 1, "<Title> (part n)" after it.
func PartTitle(roomName, date string, n int) string {
	if n <= 1 {
		return Title(roomName, date)
	}
	return Title(roomName, date) + " (part " + strconv.Itoa(n) + ")"
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
	// Rows are Lines rendered (renderRows); renderPage fills them in
	// when they are nil.
	Rows     []template.HTML
	Part     int       // which part of the day this page is, from 1
	PrevPart *partLink // nil on part 1
	NextPart *partLink // nil on the last part
	Omitted  int       // messages left out to respect MaxBodyBytes
}

type dayLink struct {
	Date string
	URL  string
}

// partLink links to another part of the same day.
type partLink struct {
	Part int
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
	// Deleted shows "message deleted" in place of the message, keeping its
	// anchor so links to it still land; Edited is the time of its last
	// edit, whose text HTML is. Topic marks a topic change (Text).
	Deleted bool
	Edited  string
	Topic   bool
}

// shown keeps the log entries a transcript shows: messages, in their
// current state (edited text, or a deleted marker), and topic changes.
// Edits and deletes have already changed their targets, and kicks and bans
// are for the room's moderators, not its record.
func shown(msgs []store.Message) []store.Message {
	out := msgs[:0:0]
	for _, m := range msgs {
		if m.Kind == store.KindMessage || m.Kind == store.KindTopic {
			out = append(out, m)
		}
	}
	return out
}

func newLine(m store.Message, loc *time.Location) line {
	at := m.SentAt.In(loc)
	sender := m.UserName
	if sender == "" {
		sender = m.UserID
	}
	l := line{
		Seq:      m.Seq,
		DateTime: at.Format(time.RFC3339),
		Clock:    at.Format(time.TimeOnly),
		Sender:   sender,
		HTML:     template.HTML(m.HTML), // trusted: see line.HTML
		Text:     m.Text,
		File:     m.File,
		Deleted:  m.Kind == store.KindMessage && m.Erased,
		Topic:    m.Kind == store.KindTopic,
	}
	if !m.EditedAt.IsZero() && !l.Deleted {
		l.Edited = m.EditedAt.In(loc).Format(time.TimeOnly)
	}
	return l
}

var pageTemplate = template.Must(template.New("page").Funcs(template.FuncMap{"size": humanSize}).Parse(
	`<div class="pagechat-transcript-page" data-room="{{.RoomID}}" data-date="{{.Date}}">
{{template "nav" .}}
<p class="pagechat-transcript-about">Chat transcript of the room <a href="{{.RoomURL}}">{{.RoomName}}</a>{{if .PageTitle}} on {{if .PageURL}}<a href="{{.PageURL}}">{{.PageTitle}}</a>{{else}}{{.PageTitle}}{{end}}{{end}} for <time datetime="{{.Date}}">{{.Date}}</time>{{if gt .Part 1}}, part {{.Part}}{{end}}. Times are {{.Zone}}.</p>
{{- if not .Final}}
<p class="pagechat-transcript-live">This day is not over yet; this page is updated as the chat goes on.</p>
{{- end}}
<ol class="pagechat-transcript">
{{range .Rows}}{{.}}{{end}}</ol>
{{- if .Omitted}}
<p class="pagechat-transcript-omitted">{{.Omitted}} later messages of this day do not fit on one page; read them in <a href="{{.RoomURL}}">the chat room</a>.</p>
{{- end}}
{{template "nav" .}}
</div>
{{define "line"}}<li id="m-{{.Seq}}"><a class="time" href="#m-{{.Seq}}"><time datetime="{{.DateTime}}">{{.Clock}}</time></a> <span class="sender">{{.Sender}}</span> {{if .Deleted}}<div class="message deleted"><em>message deleted</em></div>
{{- else if .Topic}}<div class="message topic">{{if .Text}}set the topic: {{.Text}}{{else}}cleared the topic{{end}}</div>
{{- else}}<div class="message">{{if .HTML}}{{.HTML}}{{else}}{{.Text}}
{{- with .File}} <a class="file" href="{{.URL}}">{{.Name}}</a> <span class="file-info">({{.ContentType}}, {{size .Size}})</span>{{end}}{{end}}</div>
{{- with .Edited}} <span class="edited">(edited {{.}})</span>{{end}}{{end}}</li>
{{end}}
{{- define "nav"}}<nav class="pagechat-transcript-nav">
{{- with .PrevPart}}<a class="pagechat-transcript-part" href="{{.URL}}">&larr; part {{.Part}}</a> | {{end -}}
{{- if .Prev}}<a rel="prev" href="{{.Prev.URL}}">&larr; {{.Prev.Date}}</a> | {{end -}}
<a href="{{.RoomURL}}">Open the chat room</a>
{{- if and .PageTitle .PageURL}} | <a href="{{.PageURL}}">Back to {{.PageTitle}}</a>{{end}}
{{- if .Next}} | <a rel="next" href="{{.Next.URL}}">{{.Next.Date}} &rarr;</a>{{end -}}
{{- with .NextPart}} | <a class="pagechat-transcript-part" href="{{.URL}}">continued in part {{.Part}} &rarr;</a>{{end -}}
</nav>{{end}}`))

// renderRows renders each line as the page shows it, so the writer can
// split a day into parts by their sizes and render each part from them.
func renderRows(lines []line) ([]template.HTML, error) {
	rows := make([]template.HTML, len(lines))
	var b bytes.Buffer
	for i, l := range lines {
		b.Reset()
		if err := pageTemplate.ExecuteTemplate(&b, "line", l); err != nil {
			return nil, fmt.Errorf("render transcript line: %w", err)
		}
		rows[i] = template.HTML(b.String()) // trusted: escaped by the template
	}
	return rows, nil
}

// splitParts splits a day's rows into parts of at most budget bytes of
// rows each, filling each part in order before starting the next. A row
// bigger than budget gets a part of its own. A part's contents depend only
// on its rows and the ones before, so appending messages never moves an
// earlier message to another part.
func splitParts(rows []template.HTML, budget int) [][]template.HTML {
	var parts [][]template.HTML
	start, size := 0, 0
	for i, r := range rows {
		if i > start && size+len(r) > budget {
			parts = append(parts, rows[start:i])
			start, size = i, 0
		}
		size += len(r)
	}
	return append(parts, rows[start:])
}

// renderPage renders d, leaving out the latest messages if the page would
// still exceed MaxBodyBytes. The writer splits days into parts that fit,
// so that happens only to a part whose one message is bigger than a page
// or whose chrome is bigger than chromeReserve.
func renderPage(d pageData) (string, error) {
	if d.Rows == nil {
		rows, err := renderRows(d.Lines)
		if err != nil {
			return "", err
		}
		d.Rows = rows
	}
	body, err := execPage(d)
	if err != nil || len(body) <= MaxBodyBytes {
		return body, err
	}
	// Binary search for the most messages that fit: rare (a day with
	// megabytes of chat), and a handful of renders then is cheap.
	all := d.Rows
	lo, hi := 0, len(all) // lo fits (an empty list always does), hi does not
	best := ""
	for lo < hi {
		mid := (lo + hi + 1) / 2
		d.Rows, d.Omitted = all[:mid], len(all)-mid
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
		d.Rows, d.Omitted = []template.HTML{}, len(all)
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
