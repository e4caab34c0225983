package macro

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Sentinel errors for Macro.Err. Hosts show Err.Error() to the page author
// verbatim, so every message wrapping these is a complete sentence fragment
// that names the offending text where there is any; callers that need to react differently
// (say, to count bad parameters) test with errors.Is instead of matching
// strings.
var (
	// ErrEmptyName marks a macro with nothing but space where the room name
	// belongs. Without a name there is no room to join, and silently
	// rendering the raw text would hide the author's mistake.
	ErrEmptyName = errors.New("chat macro needs a room name, e.g. {chat:My Room}")

	// ErrInvalidName marks a room name holding characters that could not
	// survive being written back into page source or shown in the room's
	// header: braces, control characters or invalid UTF-8.
	ErrInvalidName = errors.New("invalid room name")

	// ErrBadParam marks any problem after a "|": an unknown key, a missing
	// "=", a repeated key or a value outside the allowed set. Rejecting
	// instead of ignoring means a typo such as "sond=on" is reported rather
	// than quietly doing nothing.
	ErrBadParam = errors.New("invalid chat macro parameter")
)

// ParamSound is the only parameter key the macro understands. It is exported
// so hosts that build macros programmatically do not repeat the literal.
const ParamSound = "sound"

// Macro is one chat macro found by Parse. It keeps byte offsets rather than
// just the name so a host can splice rendered HTML into the page without
// re-scanning, and it is returned even when invalid so the host can replace
// the raw text with an inline error instead of leaving it on the page.
type Macro struct {
	// Start and End are byte offsets of the whole macro text in the source,
	// End exclusive. For the braced form they span "{chat:" to "}"; for the
	// bare form they span the whole line, leading and trailing blanks
	// included, but not the line break ("\n" or "\r\n"), so replacing the
	// span keeps the page's line structure.
	Start, End int

	// Name is the room name with surrounding white space trimmed, as the
	// author wrote it (not slugged), for display.
	Name string

	// Params holds every well-formed key=value pair after the name, keys
	// lower-cased and values trimmed but otherwise as written; it is nil
	// when there are none. It may contain unknown keys or bad values when
	// Err is set, so read parameters through methods such as Sound.
	Params map[string]string

	// Err is non-nil when the text is recognisably a chat macro but cannot
	// be rendered as a room. Its message is written for the page author.
	Err error

	// RepeatOf is set when an earlier macro in the same source opens the
	// same room: the same name, or one with the same slug ("My Room" and
	// "my-room"). It holds that earlier macro's Name. A page shows each
	// room's table once; hosts draw RepeatNote where a macro repeats one.
	RepeatOf string
}

// RoomID returns the id of the macro's room on page pageID. It reports the
// macro's own Err first so callers need a single check before rendering.
func (m Macro) RoomID(pageID string) (string, error) {
	if m.Err != nil {
		return "", m.Err
	}
	return RoomID(pageID, m.Name)
}

// Sound reports whether the author opted in to notification sounds. It is
// false unless a valid "sound" parameter says otherwise, because a wiki page
// that starts making noise unasked is hostile to its readers.
func (m Macro) Sound() bool {
	on, ok := parseSwitch(m.Params[ParamSound])
	return ok && on
}

const (
	bracedOpen = "{chat:"
	bareOpen   = "chat:"
)

// Parse finds every chat macro in page source, in source order and without
// overlaps. It accepts:
//
//   - {chat:Name} or {chat:Name|key=value|...} anywhere in a line, several
//     per line; the first "}" ends the macro, and one that reaches the end
//     of its line without a "}" is plain text, so a stray "{chat:" never
//     swallows the rest of the page;
//   - a line that, ignoring leading spaces and tabs, starts with "chat:",
//     which makes the whole line one macro with the same name and
//     parameter syntax.
//
// A "{chat:" preceded by an odd number of backslashes is literal text, so
// authors can write about the macro; the backslash is left in place for the
// wiki renderer to deal with. Parse never fails: malformed macros come back
// with Err set.
func Parse(source string) []Macro {
	var out []Macro
	for lineStart := 0; ; {
		lineEnd := len(source)
		next := -1
		if i := strings.IndexByte(source[lineStart:], '\n'); i >= 0 {
			lineEnd = lineStart + i
			next = lineEnd + 1
		}
		if lineEnd > lineStart && source[lineEnd-1] == '\r' {
			lineEnd--
		}
		line := source[lineStart:lineEnd]
		if strings.HasPrefix(strings.TrimLeft(line, " \t"), bareOpen) {
			out = append(out, parseBare(line, lineStart))
		} else {
			out = parseBraced(line, lineStart, out)
		}
		if next < 0 {
			markRepeats(out)
			return out
		}
		lineStart = next
	}
}

// markRepeats sets RepeatOf on every valid macro whose room an earlier
// valid macro already opens. A room id is "<pageID>.<slug>" and every
// macro of a source is on the same page, so equal slugs mean one room.
func markRepeats(ms []Macro) {
	first := map[string]string{} // slug -> name of the first macro
	for i := range ms {
		m := &ms[i]
		if m.Err != nil || len(m.Name) > MaxNameBytes {
			continue
		}
		slug := Slug(m.Name)
		if slug == "" {
			continue
		}
		if name, ok := first[slug]; ok {
			m.RepeatOf = name
			continue
		}
		first[slug] = m.Name
	}
}

// parseBare parses a line already known to be a bare-form macro; off is the
// line's offset in the source.
func parseBare(line string, off int) Macro {
	body := strings.TrimLeft(line, " \t")[len(bareOpen):]
	m := parseBody(body)
	m.Start, m.End = off, off+len(line)
	return m
}

// parseBraced appends the braced macros of one line (without its line
// break) to out. It runs in time linear in the line length even for lines
// full of unterminated openers.
func parseBraced(line string, off int, out []Macro) []Macro {
	for pos := 0; pos < len(line); {
		i := strings.Index(line[pos:], bracedOpen)
		if i < 0 {
			break
		}
		start := pos + i
		bodyStart := start + len(bracedOpen)
		if escaped(line, start) {
			pos = bodyStart
			continue
		}
		// A lone "\r" is treated as a line break too, so a macro never
		// spans what some editor would display as two lines.
		j := strings.IndexAny(line[bodyStart:], "}\r")
		if j < 0 {
			break // unterminated, and so is every later opener on the line
		}
		end := bodyStart + j
		if line[end] != '}' {
			pos = end + 1
			continue
		}
		m := parseBody(line[bodyStart:end])
		m.Start, m.End = off+start, off+end+1
		out = append(out, m)
		pos = end + 1
	}
	return out
}

// escaped reports whether the byte at i is preceded by an odd number of
// backslashes, so that "\\{chat:x}" (an escaped backslash) still counts as
// a macro while "\{chat:x}" does not.
func escaped(s string, i int) bool {
	n := 0
	for i > 0 && s[i-1] == '\\' {
		n++
		i--
	}
	return n%2 == 1
}

// parseBody parses "Name|key=value|..." into a Macro without positions.
// It reports the first problem only: an error box listing every fault of a
// badly mangled macro helps the author less than one clear message.
func parseBody(body string) Macro {
	parts := strings.Split(body, "|")
	m := Macro{Name: strings.TrimSpace(parts[0])}
	m.Err = checkName(m.Name)
	for _, seg := range parts[1:] {
		key, value, err := parseParam(seg)
		if err == nil {
			if _, dup := m.Params[key]; dup {
				err = fmt.Errorf("%w: %q is given more than once", ErrBadParam, key)
			} else {
				if m.Params == nil {
					m.Params = make(map[string]string, len(parts)-1)
				}
				m.Params[key] = value
				err = checkParam(key, value)
			}
		}
		if m.Err == nil {
			m.Err = err
		}
	}
	return m
}

// checkName validates a trimmed room name. Length is checked before the
// name is quoted in any message so an error box never echoes a huge name.
func checkName(name string) error {
	switch {
	case name == "":
		return ErrEmptyName
	case len(name) > MaxNameBytes:
		return fmt.Errorf("%w (this one has %d)", ErrNameTooLong, len(name))
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: it is not valid UTF-8 text", ErrInvalidName)
	case strings.ContainsAny(name, "{}"):
		return fmt.Errorf("%w %q: braces { } are not allowed in room names", ErrInvalidName, name)
	case strings.IndexFunc(name, isBreakOrControl) >= 0:
		return fmt.Errorf("%w %q: tabs, line breaks and other control characters are not allowed in room names", ErrInvalidName, name)
	case Slug(name) == "":
		return fmt.Errorf("room name %q: %w", name, ErrEmptySlug)
	}
	return nil
}

// isBreakOrControl reports runes that would make a name display on several
// lines or invisibly, even though Parse itself only splits lines at "\n"
// and "\r".
func isBreakOrControl(r rune) bool {
	return unicode.IsControl(r) || r == '\u2028' || r == '\u2029'
}

// parseParam splits one "key=value" segment, lower-casing the key so that
// "Sound=on" works as an author would expect.
func parseParam(seg string) (key, value string, err error) {
	seg = strings.TrimSpace(seg)
	if seg == "" {
		return "", "", fmt.Errorf("%w: empty parameter; remove the extra %q or write key=value, e.g. sound=on", ErrBadParam, "|")
	}
	k, v, ok := strings.Cut(seg, "=")
	if !ok {
		return "", "", fmt.Errorf("%w: %q has no value; write key=value, e.g. sound=on", ErrBadParam, seg)
	}
	key = strings.ToLower(strings.TrimSpace(k))
	if key == "" {
		return "", "", fmt.Errorf("%w: %q has no name before %q; write key=value, e.g. sound=on", ErrBadParam, seg, "=")
	}
	return key, strings.TrimSpace(v), nil
}

// checkParam validates a known key's value and rejects unknown keys.
func checkParam(key, value string) error {
	switch key {
	case ParamSound:
		if _, ok := parseSwitch(value); !ok {
			return fmt.Errorf("%w: %q must be one of on, off, true, false, yes, no (got %q)", ErrBadParam, key, value)
		}
		return nil
	}
	return fmt.Errorf("%w: unknown parameter %q; known: %s", ErrBadParam, key, ParamSound)
}

// parseSwitch reads an on/off value. Authors are not programmers, so the
// usual spellings are all accepted, in any case.
func parseSwitch(v string) (on, ok bool) {
	switch strings.ToLower(v) {
	case "on", "true", "yes":
		return true, true
	case "off", "false", "no":
		return false, true
	}
	return false, false
}

// Expand returns source with every macro, valid or not, replaced by
// render's output and all other bytes unchanged. Invalid macros are passed
// to render too, so the host decides how to show Err rather than the raw
// macro text leaking into the page.
func Expand(source string, render func(Macro) string) string {
	ms := Parse(source)
	if len(ms) == 0 {
		return source
	}
	var b strings.Builder
	b.Grow(len(source))
	prev := 0
	for _, m := range ms {
		b.WriteString(source[prev:m.Start])
		b.WriteString(render(m))
		prev = m.End
	}
	b.WriteString(source[prev:])
	return b.String()
}
