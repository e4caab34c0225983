// Package safeurl decides which URLs pagechat puts in an href.
//
// The URLs come from elsewhere (the host's page, file and transcript URLs,
// a wiki link resolver's answers, addresses typed into messages) and end up
// in pages every viewer of a room opens, so one javascript: link would run
// in all their sessions. The plugin's renderers and the host SDK's browser
// API all ask Href, so a URL is either safe everywhere or nowhere.
package safeurl

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Href returns u if it may be the target of a link shown to any viewer,
// and "" if not. It accepts exactly two forms:
//
//   - A site-relative path: u starts with one '/' ("/", "/pages/1",
//     "/pages/new?title=A+B#top"). "//host" is refused because browsers
//     read it as another host.
//   - An absolute URL whose scheme is http or https in any letter case
//     ("https://wiki.example/x", "HTTP://[::1]:8080/") and whose host name
//     is not empty. "http://", "https:///x" and "http://:80" are refused.
//
// Either way u must be valid UTF-8 that net/url parses (so a stray '%' not
// followed by two hex digits is refused), and must not contain control
// characters, white space (any Unicode space, not only ASCII), any of
// " < > \ ` or a bidirectional formatting character. Browsers skip some of
// these while parsing ("java\tscript:" runs as javascript:), read '\' as
// '/' ("/\host" is another host), end an unquoted attribute at others, or
// show the address in a different order from the one it leads to; refusing
// them outright is what makes the two checks above mean what they say.
// Letters outside ASCII are accepted unescaped ("/wiki/Café"), since hosts
// may return them that way and browsers encode them.
//
// Everything else is refused: other schemes (javascript:, data:,
// vbscript:, mailto:, ftp:, ...), page-relative paths ("wiki/x", "../x"),
// a query or fragment alone ("?x", "#x"), and the empty string.
func Href(u string) string {
	if u == "" || !utf8.ValidString(u) || strings.ContainsFunc(u, unsafeRune) {
		return ""
	}
	if u[0] == '/' {
		// net/url finds no scheme in a string that starts with '/', and a
		// host only after "//", so parsing only catches bad escapes.
		if strings.HasPrefix(u, "//") {
			return ""
		}
		if _, err := url.Parse(u); err != nil {
			return ""
		}
		return u
	}
	p, err := url.Parse(u)
	if err != nil || p.Hostname() == "" {
		return ""
	}
	if !strings.EqualFold(p.Scheme, "http") && !strings.EqualFold(p.Scheme, "https") {
		return ""
	}
	return u
}

// unsafeRune reports whether r may not appear anywhere in an accepted URL.
func unsafeRune(r rune) bool {
	switch r {
	case '"', '<', '>', '\\', '`':
		return true
	}
	return unicode.IsControl(r) || unicode.IsSpace(r) || isBidiFormat(r)
}

// isBidiFormat reports whether r reorders how the text around it is shown:
// the bidirectional marks, embeddings and overrides, which RFC 3987 keeps
// out of IRIs for that reason, and the isolates Unicode added later, which
// do the same.
func isBidiFormat(r rune) bool {
	return r == '\u200e' || r == '\u200f' || r == '\u061c' ||
		r >= '\u202a' && r <= '\u202e' || r >= '\u2066' && r <= '\u2069'
}
