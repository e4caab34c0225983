package render

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pagechat/pagechat/internal/safeurl"
)

// maxInlineLines is the most lines a message may have and still be rendered
// inline with <br>. Chat messages of a few lines read naturally as prose;
// anything longer is almost always a pasted log, stack trace or code, where
// whitespace matters and brackets are not wiki links.
const maxInlineLines = 3

// maxTitleBytes bounds a wiki link title. Real page titles are short (most
// wikis cap them at 255 bytes); a longer bracketed run is prose, and the
// bound keeps one message from triggering huge resolver lookups.
const maxTitleBytes = 200

// maxLabelBytes bounds the label of [label|Title] for the same reason: a
// long bracketed passage containing a '|' is text, not a link.
const maxLabelBytes = 200

// segKind says how a segment of an inline message is rendered.
type segKind int

const (
	segText  segKind = iota // escaped text
	segBreak                // <br>
	segURL                  // external link
	segWiki                 // wiki link, resolved at render time
)

// segment is one piece of an inline (non-paste) message. text is the raw,
// unescaped display text; href is set for segURL, title for segWiki; src
// is the link's exact source text, which is what a link beyond the caps in
// capLinks shows instead.
type segment struct {
	kind  segKind
	text  string
	href  string
	title string
	src   string
}

// message is a parsed message: either a paste (body only) or a sequence of
// inline segments. Parsing needs no resolver, so WikiLinks and Render share
// it and always agree on what is a link.
type message struct {
	paste bool
	body  string
	segs  []segment
}

// parse normalises text and splits it into segments.
func parse(text string) message {
	body := normalize(text)
	if body == "" {
		return message{}
	}
	if isPaste(body) {
		return message{paste: true, body: body}
	}
	return message{body: body, segs: capLinks(scanInline(body))}
}

// capLinks turns the links beyond MaxWikiTitles distinct titles or
// MaxLinks links in all back into their source text, so Render, WikiLinks
// and every resolver agree on which links count.
func capLinks(segs []segment) []segment {
	titles := map[string]bool{}
	links := 0
	for i, s := range segs {
		if s.kind != segWiki && s.kind != segURL {
			continue
		}
		newTitle := s.kind == segWiki && !titles[s.title]
		if links >= MaxLinks || (newTitle && len(titles) >= MaxWikiTitles) {
			segs[i] = segment{kind: segText, text: s.src}
			continue
		}
		if newTitle {
			titles[s.title] = true
		}
		links++
	}
	return segs
}

// normalize makes line endings and odd characters uniform so that every
// later rule sees one representation:
//   - CRLF and lone CR become LF (HTML parsers do the same, and line counting
//     must agree with what readers see);
//   - invalid UTF-8 bytes and control characters other than tab and LF
//     become U+FFFD, because they are invalid in HTML/XHTML transcripts and
//     otherwise invisible (NUL in particular is mangled by parsers);
//   - trailing newlines are dropped, since they only add empty lines.
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			b.WriteRune(utf8.RuneError)
		case r == '\r':
			b.WriteByte('\n')
			if i+1 < len(s) && s[i+1] == '\n' {
				size = 2
			}
		case r == '\n' || r == '\t':
			b.WriteByte(byte(r))
		case unicode.IsControl(r):
			b.WriteRune(utf8.RuneError)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return strings.TrimRight(b.String(), "\n")
}

// isPaste reports whether a normalised body should be shown verbatim: more
// than maxInlineLines lines, or any indented line (a tab or two spaces),
// which is the mark of code even in a short snippet.
func isPaste(body string) bool {
	if strings.Count(body, "\n")+1 > maxInlineLines {
		return true
	}
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "  ") {
			return true
		}
	}
	return false
}

// scanInline splits an inline body into text, line breaks, wiki links and
// bare URLs. The triggers ('[', 'h', 'w', '\n') are ASCII, and UTF-8
// continuation bytes are never ASCII, so scanning bytewise is safe.
func scanInline(body string) []segment {
	var segs []segment
	start := 0 // start of the pending text segment
	flush := func(end int) {
		if end > start {
			segs = append(segs, segment{kind: segText, text: body[start:end]})
		}
	}
	for i := 0; i < len(body); {
		switch c := body[i]; c {
		case '\n':
			flush(i)
			segs = append(segs, segment{kind: segBreak})
			i++
			start = i
			continue
		case '[':
			if label, title, n, ok := parseWikiLink(body[i:]); ok {
				flush(i)
				segs = append(segs, segment{kind: segWiki, text: label, title: title, src: body[i : i+n]})
				i += n
				start = i
				continue
			}
		case 'h', 'H', 'w', 'W':
			if atWordStart(body, i) {
				disp, href, n := parseBareURL(body[i:])
				if href != "" {
					flush(i)
					segs = append(segs, segment{kind: segURL, text: disp, href: href, src: disp})
					start = i + n
				}
				if n > 0 {
					i += n
					continue
				}
			}
		}
		i++
	}
	flush(len(body))
	return segs
}

// parseWikiLink parses "[Title]" or "[label|Title]" at the start of s (which
// begins with '['). It returns the display label, the trimmed title and the
// number of bytes consumed. Titles must be non-empty, at most maxTitleBytes,
// and free of '[', ']', '|' and newlines; a title containing "://" is a URL
// in brackets, not a page, and is left to bare-URL detection. The label is
// split at the first '|', so a second '|' makes the whole thing plain text
// rather than guessing which part is the title.
func parseWikiLink(s string) (label, title string, n int, ok bool) {
	end := strings.IndexAny(s[1:], "[]\n")
	if end < 0 || s[1+end] != ']' {
		return "", "", 0, false
	}
	inner := s[1 : 1+end]
	title = inner
	if p := strings.IndexByte(inner, '|'); p >= 0 {
		label, title = inner[:p], inner[p+1:]
	}
	title = strings.TrimSpace(title)
	label = strings.TrimSpace(label)
	if title == "" || len(title) > maxTitleBytes || len(label) > maxLabelBytes ||
		strings.ContainsRune(title, '|') || strings.Contains(title, "://") {
		return "", "", 0, false
	}
	if label == "" {
		label = title
	}
	return label, title, end + 2, true
}

// atWordStart reports whether a URL may start at body[i]: at the start of
// the text or after a character that cannot be part of a word, host name or
// address, so "xhttp://", "a.www.b" and "me@www.example.com" are not linked.
func atWordStart(body string, i int) bool {
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(body[:i])
	if unicode.IsLetter(r) || unicode.IsDigit(r) {
		return false
	}
	return !strings.ContainsRune("_./@-", r)
}

// hasPrefixFold reports whether s starts with the lower-case ASCII prefix,
// ignoring ASCII case only (Unicode folding would let "ſ" match "s").
func hasPrefixFold(s, prefix string) bool {
	if len(s) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// urlTerminators end a bare URL: characters that cannot appear unencoded in
// a URL and commonly delimit one in prose ("<http://x>", quotes).
const urlTerminators = "<>\"`\\"

// parseBareURL recognises an http://, https:// or www. URL at the start of
// s. It returns the display text (the exact source bytes), the href, and
// the number of bytes consumed. Only http and https are ever linked: other
// schemes (javascript:, data:, ftp:, ...) stay plain text, since an
// allow-list cannot be tricked by case or encoding variations. "www." links
// get https://, the safe default.
//
// When s starts like a URL but is not a valid one, href is empty and n
// covers the whole run up to the next terminator, which the caller keeps as
// text. Skipping the run (rather than retrying at every later "http" inside
// it) keeps rendering linear: "(http://(http://(http://...%" would
// otherwise re-parse the rest of the message at every opening parenthesis.
func parseBareURL(s string) (disp, href string, n int) {
	var prefixLen int
	www := false
	switch {
	case hasPrefixFold(s, "https://"):
		prefixLen = len("https://")
	case hasPrefixFold(s, "http://"):
		prefixLen = len("http://")
	case hasPrefixFold(s, "www."):
		prefixLen = len("www.")
		www = true
	default:
		return "", "", 0
	}
	end := len(s)
	for i, r := range s {
		if r == utf8.RuneError || unicode.IsSpace(r) || unicode.IsControl(r) ||
			strings.ContainsRune(urlTerminators, r) {
			end = i
			break
		}
	}
	disp = trimURLPunct(s[:end])
	if len(disp) <= prefixLen {
		return "", "", end
	}
	// A host starts with a letter or digit (or '[' for IPv6); this keeps
	// "http://..." and "www.-" in prose from becoming links.
	if r, _ := utf8.DecodeRuneInString(disp[prefixLen:]); !unicode.IsLetter(r) && !unicode.IsDigit(r) && (www || r != '[') {
		return "", "", end
	}
	href = disp
	if www {
		href = "https://" + disp
	}
	if safeurl.Href(href) == "" {
		return "", "", end
	}
	return disp, href, len(disp)
}

// trimURLPunct drops trailing punctuation that ends the sentence rather than
// the URL ("see http://x.", "(http://x)"). Closing brackets are kept when
// they balance an opening one inside the URL, as in
// https://en.wikipedia.org/wiki/Go_(programming_language).
func trimURLPunct(u string) string {
	open := map[byte]byte{')': '(', ']': '[', '}': '{'}
	counts := map[byte]int{}
	for i := 0; i < len(u); i++ {
		switch u[i] {
		case '(', ')', '[', ']', '{', '}':
			counts[u[i]]++
		}
	}
	for len(u) > 0 {
		c := u[len(u)-1]
		switch c {
		case '.', ',', ';', ':', '!', '?', '\'', '*':
		case ')', ']', '}':
			if counts[c] <= counts[open[c]] {
				return u
			}
			counts[c]--
		default:
			return u
		}
		u = u[:len(u)-1]
	}
	return u
}
