// Package mention finds @name mentions in chat messages and marks them in
// the rendered HTML.
//
// A mention is "@" at the start of the text or after a character that
// cannot be part of a name (so "ann@example.org" mentions nobody), followed
// by a user id or a display name. Display names may contain spaces ("@Bob
// Smith"): the longest known name that the text continues with wins, and
// the name must end at a character that cannot continue it. "@room"
// mentions everyone watching the room. The package only matches: which
// users are known, and who may be mentioned, is the caller's business.
package mention

import (
	"html"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPerMessage bounds the mentions one message can make, so a pasted list
// of names cannot turn one message into hundreds of notifications.
const MaxPerMessage = 20

// RoomToken is the name that mentions the whole room.
const RoomToken = "room"

// User is someone who can be mentioned.
type User struct {
	ID          string
	DisplayName string
}

// Match is one mention found in a text.
type Match struct {
	// Text is the mention as written, with its "@".
	Text string
	// UserID is the mentioned user; empty for @room.
	UserID string
}

// Result is what a text mentions.
type Result struct {
	// UserIDs are the mentioned users in the order they first appear,
	// without repeats, at most MaxPerMessage.
	UserIDs []string
	// Room is true if the text mentions @room.
	Room bool
	// Matches are every mention as written, for Highlight.
	Matches []Match
}

// isNameRune reports whether r may continue a bare @token.
func isNameRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || r == '_' || r == '-' || r == '.'
}

// Tokens returns the bare @tokens of text (without "@"), in order, at most
// MaxPerMessage*2 of them: the words a caller may need to look up because
// they are not a known name. Trailing dots and dashes are left off, so
// "@bob." names bob.
func Tokens(text string) []string {
	var out []string
	for i := 0; i < len(text) && len(out) < 2*MaxPerMessage; i++ {
		if text[i] != '@' || !atBoundary(text, i) {
			continue
		}
		tok := token(text[i+1:])
		if tok != "" {
			out = append(out, tok)
		}
	}
	return out
}

// atBoundary reports whether the "@" at i starts a mention.
func atBoundary(text string, i int) bool {
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(text[:i])
	return !isNameRune(r) && r != '@' && r != '/' && r != '\\'
}

// token returns the bare name at the start of s.
func token(s string) string {
	end := 0
	for end < len(s) {
		r, n := utf8.DecodeRuneInString(s[end:])
		if r == utf8.RuneError && n <= 1 || !isNameRune(r) {
			break
		}
		end += n
	}
	return strings.TrimRight(s[:end], ".-")
}

// Find returns the mentions in text of users among known, or found by
// lookup for a bare token no known user answers to. lookup may be nil; it
// is called at most once per distinct token.
func Find(text string, known []User, lookup func(token string) (User, bool)) Result {
	// Longest names first, so "@Bob Smith" beats "@Bob".
	type name struct {
		lower string
		id    string
	}
	var names []name
	for _, u := range known {
		if u.ID == "" {
			continue
		}
		names = append(names, name{strings.ToLower(u.ID), u.ID})
		if d := strings.TrimSpace(u.DisplayName); d != "" {
			names = append(names, name{strings.ToLower(d), u.ID})
		}
	}
	sort.SliceStable(names, func(i, j int) bool { return len(names[i].lower) > len(names[j].lower) })

	var res Result
	seen := make(map[string]bool)
	looked := make(map[string]User)
	add := func(m Match) {
		res.Matches = append(res.Matches, m)
		if m.UserID == "" {
			res.Room = true
			return
		}
		if !seen[m.UserID] && len(res.UserIDs) < MaxPerMessage {
			seen[m.UserID] = true
			res.UserIDs = append(res.UserIDs, m.UserID)
		}
	}
	lowerText := strings.ToLower(text)
	for i := 0; i < len(text) && len(res.Matches) < 2*MaxPerMessage; i++ {
		if text[i] != '@' || !atBoundary(text, i) {
			continue
		}
		rest, lowerRest := text[i+1:], lowerText[i+1:]
		// ToLower can change byte lengths; fall back to the bare token
		// when the lower-cased text no longer lines up.
		aligned := len(lowerText) == len(text)
		matched := false
		if aligned {
			for _, n := range names {
				if strings.HasPrefix(lowerRest, n.lower) && endsName(rest, len(n.lower), n.lower) {
					add(Match{Text: text[i : i+1+len(n.lower)], UserID: n.id})
					i += len(n.lower)
					matched = true
					break
				}
			}
		}
		if matched {
			continue
		}
		tok := token(rest)
		if tok == "" {
			continue
		}
		if strings.EqualFold(tok, RoomToken) {
			add(Match{Text: "@" + tok})
			i += len(tok)
			continue
		}
		if lookup == nil {
			continue
		}
		u, ok := looked[strings.ToLower(tok)]
		if !ok {
			if found, ok := lookup(tok); ok {
				u = found
			}
			looked[strings.ToLower(tok)] = u
		}
		if u.ID != "" {
			add(Match{Text: "@" + tok, UserID: u.ID})
			i += len(tok)
		}
	}
	return res
}

// endsName reports whether a name of n bytes at the start of s ends where
// a name may end: at the end of s or before a character that cannot
// continue it (a trailing dot or dash is punctuation, not the name).
func endsName(s string, n int, name string) bool {
	if n > len(s) {
		return false
	}
	if n == len(s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[n:])
	if r == '.' || r == '-' {
		// "@bob." ends the name; "@bob.smith" is another name.
		next, _ := utf8.DecodeRuneInString(s[n+1:])
		return n+1 >= len(s) || !isNameRune(next)
	}
	_ = name
	return !isNameRune(r)
}

// Highlight wraps the mentions of res in html (the message as rendered)
// in <span class="mention" data-user-id="ID">, or data-room for @room.
// Only text outside tags is touched, and never inside a link, code or
// pre element, so markup and URLs stay as they are.
func Highlight(htmlText string, res Result) string {
	if len(res.Matches) == 0 || !strings.Contains(htmlText, "@") {
		return htmlText
	}
	// The escaped form of each mention as it appears in the HTML text,
	// longest first.
	type mark struct {
		escaped string
		userID  string
	}
	var marks []mark
	dup := make(map[string]bool)
	for _, m := range res.Matches {
		e := html.EscapeString(m.Text)
		if !dup[strings.ToLower(e)] {
			dup[strings.ToLower(e)] = true
			marks = append(marks, mark{e, m.UserID})
		}
	}
	sort.SliceStable(marks, func(i, j int) bool { return len(marks[i].escaped) > len(marks[j].escaped) })

	var b strings.Builder
	b.Grow(len(htmlText) + 64*len(marks))
	skip := 0 // depth inside a, code and pre
	for len(htmlText) > 0 {
		lt := strings.IndexByte(htmlText, '<')
		if lt < 0 {
			lt = len(htmlText)
		}
		text := htmlText[:lt]
		if skip == 0 {
			writeMarked(&b, text, func(s string) (int, string) {
				for _, m := range marks {
					if len(s) >= len(m.escaped) && strings.EqualFold(s[:len(m.escaped)], m.escaped) && htmlEndsName(s[len(m.escaped):]) {
						return len(m.escaped), m.userID
					}
				}
				return 0, ""
			})
		} else {
			b.WriteString(text)
		}
		htmlText = htmlText[lt:]
		if htmlText == "" {
			break
		}
		gt := strings.IndexByte(htmlText, '>')
		if gt < 0 {
			b.WriteString(htmlText)
			break
		}
		tag := htmlText[:gt+1]
		b.WriteString(tag)
		htmlText = htmlText[gt+1:]
		switch tagName(tag) {
		case "a", "code", "pre":
			skip++
		case "/a", "/code", "/pre":
			if skip > 0 {
				skip--
			}
		}
	}
	return b.String()
}

// writeMarked copies text, wrapping each mention at a boundary that match
// recognises.
func writeMarked(b *strings.Builder, text string, match func(string) (int, string)) {
	for i := 0; i < len(text); {
		if text[i] == '@' && htmlAtBoundary(text, i) {
			if n, id := match(text[i:]); n > 0 {
				if id == "" {
					b.WriteString(`<span class="mention mention-room" data-room="1">`)
				} else {
					b.WriteString(`<span class="mention" data-user-id="`)
					b.WriteString(html.EscapeString(id))
					b.WriteString(`">`)
				}
				b.WriteString(text[i : i+n])
				b.WriteString(`</span>`)
				i += n
				continue
			}
		}
		b.WriteByte(text[i])
		i++
	}
}

// htmlAtBoundary is atBoundary on escaped text: an entity before the "@"
// (such as &gt;) ends with ';', which is not a name character.
func htmlAtBoundary(text string, i int) bool { return atBoundary(text, i) }

// htmlEndsName reports whether escaped text s may follow a name.
func htmlEndsName(s string) bool {
	if s == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s)
	if r == '.' || r == '-' {
		next, _ := utf8.DecodeRuneInString(s[1:])
		return len(s) == 1 || !isNameRune(next)
	}
	return !isNameRune(r)
}

// tagName returns the lower-case name of a tag, with "/" for end tags.
func tagName(tag string) string {
	t := strings.TrimPrefix(tag, "<")
	end := strings.IndexAny(t, " \t\n\r/>")
	if strings.HasPrefix(t, "/") {
		rest := t[1:]
		e := strings.IndexAny(rest, " \t\n\r>")
		if e < 0 {
			e = len(rest)
		}
		return "/" + strings.ToLower(rest[:e])
	}
	if end < 0 {
		end = len(t)
	}
	return strings.ToLower(t[:end])
}
