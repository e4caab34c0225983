package markup

import (
	"html/template"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pagechat/pagechat/macro"
)

// maxHeadingLevel is the deepest "=" heading; "= H =" becomes <h2>, since
// the page title is the page's <h1>.
const maxHeadingLevel = 3

// Options tell Render what it cannot know itself.
type Options struct {
	// Link returns the URL of the page titled title and whether the page
	// exists (a missing page's URL is typically a "create it" link). An
	// empty href renders the link as plain text. Nil treats every link
	// that way.
	Link func(title string) (href string, exists bool)
	// Macro renders one chat macro, valid or not (m.Err set), as HTML
	// that is inserted as is. Nil renders every macro as an error box.
	Macro func(m macro.Macro) template.HTML
}

// Render turns wiki markup into HTML; see the package documentation for
// the syntax. It never fails: text it does not recognise is shown escaped.
func Render(src string, opt Options) template.HTML {
	src = strings.ReplaceAll(src, "\r\n", "\n")
	src = strings.ReplaceAll(src, "\r", "\n")
	r := renderer{opt: opt, macros: macro.Parse(src)}
	for start := 0; start <= len(src); {
		end := strings.IndexByte(src[start:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += start
		}
		r.line(src, start, end)
		start = end + 1
	}
	r.flush()
	return template.HTML(r.out.String())
}

// renderer holds the block being built: consecutive text lines make one
// paragraph, consecutive "* " lines one list.
type renderer struct {
	opt    Options
	macros []macro.Macro // in source order; each lies within one line
	next   int           // first macro not yet rendered
	out    strings.Builder
	para   []string // inline HTML of the paragraph's lines
	items  []string // inline HTML of the list's items
}

// line renders src[start:end], one line without its line break.
func (r *renderer) line(src string, start, end int) {
	if r.next < len(r.macros) && r.macros[r.next].Start < end {
		r.macroLine(src, start, end)
		return
	}
	text := src[start:end]
	trimmed := strings.TrimSpace(text)
	switch {
	case trimmed == "":
		r.flush()
	case headingLevel(trimmed) > 0:
		r.flush()
		level := headingLevel(trimmed)
		inner := strings.TrimSpace(strings.Trim(trimmed, "="))
		tag := "h" + string(rune('1'+level))
		r.out.WriteString("<" + tag + ">" + r.inline(inner) + "</" + tag + ">\n")
	case strings.HasPrefix(trimmed, "* "):
		if len(r.para) > 0 {
			r.flush()
		}
		r.items = append(r.items, r.inline(strings.TrimSpace(trimmed[2:])))
	default:
		if len(r.items) > 0 {
			r.flush()
		}
		r.para = append(r.para, r.inline(trimmed))
	}
}

// macroLine renders a line holding chat macros. A macro renders as a block
// (the plugin draws a table), so the text around it becomes paragraphs of
// its own; headings and list items cannot hold macros.
func (r *renderer) macroLine(src string, start, end int) {
	pos := start
	for r.next < len(r.macros) && r.macros[r.next].Start < end {
		m := r.macros[r.next]
		r.next++
		r.textPiece(src[pos:m.Start])
		r.flush()
		r.out.WriteString(`<div class="wiki-macro">`)
		if r.opt.Macro != nil {
			r.out.WriteString(string(r.opt.Macro(m)))
		} else {
			r.out.WriteString(ErrorBox("chat is not available here"))
		}
		r.out.WriteString("</div>\n")
		pos = m.End
	}
	r.textPiece(src[pos:end])
}

func (r *renderer) textPiece(s string) {
	if s = strings.TrimSpace(s); s != "" {
		r.para = append(r.para, r.inline(s))
	}
}

// flush ends the paragraph or list being built.
func (r *renderer) flush() {
	if len(r.para) > 0 {
		r.out.WriteString("<p>" + strings.Join(r.para, "\n") + "</p>\n")
		r.para = nil
	}
	if len(r.items) > 0 {
		r.out.WriteString("<ul>\n")
		for _, it := range r.items {
			r.out.WriteString("<li>" + it + "</li>\n")
		}
		r.out.WriteString("</ul>\n")
		r.items = nil
	}
}

// headingLevel returns n for a line "= … =" with n (1..3) leading "=" and
// as many trailing ones, and text between; 0 otherwise.
func headingLevel(s string) int {
	n := len(s) - len(strings.TrimLeft(s, "="))
	if n == 0 || n > maxHeadingLevel || len(s) < 2*n+1 {
		return 0
	}
	if len(s)-len(strings.TrimRight(s, "=")) != n {
		return 0
	}
	if strings.TrimSpace(s[n:len(s)-n]) == "" {
		return 0
	}
	return n
}

// ErrorBox is an inline error shown in place of something that could not
// be rendered, such as an invalid chat macro; msg is escaped.
func ErrorBox(msg string) string {
	return `<span class="wiki-error" role="alert">` + esc(msg) + `</span>`
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// inline renders one line's text: wiki links, bare URLs, everything else
// escaped.
func (r *renderer) inline(s string) string {
	// The macro parser leaves the backslash of an escaped "\{chat:" in
	// place for the renderer: show the macro text without it.
	s = strings.ReplaceAll(s, `\{chat:`, "{chat:")
	var b strings.Builder
	plainFrom := 0
	for i := 0; i < len(s); {
		var html string
		var n int
		switch {
		case s[i] == '[':
			html, n = r.wikiLink(s[i:])
		case (s[i] == 'h' || s[i] == 'H') && wordStart(s, i):
			html, n = bareURL(s[i:])
		}
		if n == 0 {
			i++
			continue
		}
		b.WriteString(esc(s[plainFrom:i]))
		b.WriteString(html)
		i += n
		plainFrom = i
	}
	b.WriteString(esc(s[plainFrom:]))
	return b.String()
}

// wordStart reports whether s[i] does not continue a word, so that
// "xhttp://…" is not taken for a URL.
func wordStart(s string, i int) bool {
	if i == 0 {
		return true
	}
	prev, _ := utf8.DecodeLastRuneInString(s[:i])
	return !unicode.IsLetter(prev) && !unicode.IsDigit(prev)
}

// wikiLink renders "[Title]", "[label|Title]" or "[label|https://…]" at
// the start of s and returns the HTML and the bytes consumed, or 0 if s
// does not start with a link.
func (r *renderer) wikiLink(s string) (string, int) {
	end := strings.IndexByte(s, ']')
	if end < 0 {
		return "", 0
	}
	inner := s[1:end]
	if strings.ContainsRune(inner, '[') {
		return "", 0 // "[[x]": the link starts at the later "["
	}
	label, target, hasLabel := strings.Cut(inner, "|")
	label, target = strings.TrimSpace(label), strings.TrimSpace(target)
	if !hasLabel {
		target = label
	}
	if target == "" || strings.IndexFunc(target, unicode.IsControl) >= 0 {
		return "", 0
	}
	if label == "" {
		label = target
	}
	if u, ok := externalURL(target); ok {
		return `<a class="external" href="` + esc(u) + `" rel="nofollow noopener">` + esc(label) + `</a>`, end + 1
	}
	var href string
	exists := false
	if r.opt.Link != nil {
		href, exists = r.opt.Link(target)
	}
	if href == "" {
		return esc(label), end + 1
	}
	if !exists {
		return `<a class="wikilink missing" href="` + esc(href) + `" title="` + esc("Create page "+target) + `">` + esc(label) + `</a>`, end + 1
	}
	return `<a class="wikilink" href="` + esc(href) + `">` + esc(label) + `</a>`, end + 1
}

// bareURL renders an http(s) URL at the start of s as a link and returns
// the HTML and the bytes consumed, or 0 if s does not start with one.
func bareURL(s string) (string, int) {
	lower := strings.ToLower(s[:min(len(s), len("https://"))])
	if !strings.HasPrefix(lower, "http://") && !strings.HasPrefix(lower, "https://") {
		return "", 0
	}
	n := strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(`<>"'[]{}|\`+"`", r)
	})
	if n < 0 {
		n = len(s)
	}
	// Punctuation that ends a sentence is not part of the URL, nor is a
	// closing parenthesis around it, unless the URL opened one itself.
	for n > 0 {
		c := s[n-1]
		if strings.IndexByte(".,;:!?", c) >= 0 || (c == ')' && !strings.Contains(s[:n-1], "(")) {
			n--
			continue
		}
		break
	}
	u, ok := externalURL(s[:n])
	if !ok {
		return "", 0
	}
	return `<a class="external" href="` + esc(u) + `" rel="nofollow noopener">` + esc(s[:n]) + `</a>`, n
}

// externalURL reports whether s is an absolute http(s) URL with a host,
// and returns it re-serialised so that the href is exactly what url
// parsed, never a scheme a browser would run.
func externalURL(s string) (string, bool) {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return u.String(), true
	}
	return "", false
}
