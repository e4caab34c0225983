package render

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pagechat/pagechat/internal/safeurl"
)

// maxInlineLines is the most lines a message without Markdown block syntax
// may have and still be rendered as text with <br>. Chat messages of a few
// lines read naturally as prose; anything longer is almost always a pasted
// log, stack trace or code, where whitespace matters and brackets,
// asterisks and underscores are not formatting.
const maxInlineLines = 3

// maxTitleBytes bounds a wiki link title. Real page titles are short (most
// wikis cap them at 255 bytes); a longer bracketed run is prose, and the
// bound keeps one message from triggering huge resolver lookups.
const maxTitleBytes = 200

// maxLabelBytes bounds the label of [label|Title] for the same reason: a
// long bracketed passage containing a '|' is text, not a link.
const maxLabelBytes = 200

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
		case '.', ',', ';', ':', '!', '?', '\'', '*', '_', '~':
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

// isPaste reports whether a normalised body should be shown verbatim: more
// than maxInlineLines lines, or any indented line (a tab or two spaces),
// which is the mark of code even in a short snippet, unless the message
// uses Markdown block syntax (a list, a quote or a fenced code block):
// someone who types that means it to be formatted.
func isPaste(body string) bool {
	lines := strings.Split(body, "\n")
	paste := len(lines) > maxInlineLines
	for _, line := range lines {
		if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, "  ") {
			paste = true
			break
		}
	}
	if !paste {
		return false
	}
	for _, line := range lines {
		if markdownBlockLine(line) {
			return false
		}
	}
	return true
}

// markdownBlockLine reports whether line opens a Markdown list item, quote
// or fenced code block.
func markdownBlockLine(line string) bool {
	t := strings.TrimLeft(line, " \t")
	switch {
	case strings.HasPrefix(t, "```"), strings.HasPrefix(t, "~~~"), strings.HasPrefix(t, ">"):
		return true
	case strings.HasPrefix(t, "- "), strings.HasPrefix(t, "* "), strings.HasPrefix(t, "+ "):
		return true
	}
	digits := 0
	for digits < len(t) && digits < 9 && t[digits] >= '0' && t[digits] <= '9' {
		digits++
	}
	return digits > 0 && (strings.HasPrefix(t[digits:], ". ") || strings.HasPrefix(t[digits:], ") "))
}

// Bounds on what is handed to the Markdown parser. goldmark's work grows
// faster than linearly with some inputs (containers nested thousands
// deep, thousands of emphasis delimiters or "](" openers in one
// paragraph); inside these bounds a message renders in milliseconds, and
// no chat message written for people comes near them. A message beyond
// one is shown as a paste, which is linear.
const (
	// maxMarkdownBytes is the longest message rendered as Markdown: four
	// times the default message limit, for hosts that raise it.
	maxMarkdownBytes = 64 << 10
	// maxDelimiters bounds the emphasis and strikethrough characters.
	maxDelimiters = 1000
	// maxLinkOpeners bounds the "](" pairs that start link destinations.
	maxLinkOpeners = 1000
)

// tooComplex reports whether body is beyond the Markdown bounds above or
// nests deeper than maxNesting.
func tooComplex(body string) bool {
	if len(body) > maxMarkdownBytes {
		return true
	}
	delims := 0
	for i := 0; i < len(body); i++ {
		switch body[i] {
		case '*', '_', '~':
			delims++
		}
	}
	if delims > maxDelimiters || strings.Count(body, "](") > maxLinkOpeners {
		return true
	}
	for line := range strings.SplitSeq(body, "\n") {
		if lineNesting(line) > maxNesting {
			return true
		}
	}
	return false
}

// lineNesting estimates how many containers a line opens or continues:
// each quote marker or list marker at its start counts one, and so does
// every two columns of indentation, the least a nested list needs.
func lineNesting(line string) int {
	n, width := 0, 0
	for n+width/2 <= maxNesting {
		switch {
		case line == "":
			return n + width/2
		case line[0] == ' ':
			width++
			line = line[1:]
		case line[0] == '\t':
			width += 4
			line = line[1:]
		case line[0] == '>':
			n++
			line = line[1:]
		case strings.HasPrefix(line, "- "), strings.HasPrefix(line, "* "), strings.HasPrefix(line, "+ "):
			n++
			line = line[2:]
		default:
			digits := 0
			for digits < len(line) && digits < 9 && line[digits] >= '0' && line[digits] <= '9' {
				digits++
			}
			if digits == 0 || !(strings.HasPrefix(line[digits:], ". ") || strings.HasPrefix(line[digits:], ") ")) {
				return n + width/2
			}
			n++
			line = line[digits+2:]
		}
	}
	return n + width/2
}
