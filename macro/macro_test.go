package macro

import (
	"errors"
	"maps"
	"strings"
	"testing"
)

// want describes one expected macro. text is what source[Start:End] must
// be; start pins the offset exactly so that a macro text occurring twice in
// a source cannot match the wrong occurrence.
type want struct {
	start   int
	text    string
	name    string
	params  map[string]string
	err     error  // sentinel for errors.Is; nil means the macro is valid
	errText string // substring the human-readable message must contain
}

func TestParse(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxNameBytes+1)
	maxName := strings.Repeat("b", MaxNameBytes)
	tests := []struct {
		name string
		src  string
		want []want
	}{
		{"empty source", "", nil},
		{"no macros", "just text\nwith { braces } and chat in it\n", nil},
		{"braced alone", "{chat:My Room Name}",
			[]want{{start: 0, text: "{chat:My Room Name}", name: "My Room Name"}}},
		{"braced mid-line", "see {chat:Lobby} here",
			[]want{{start: 4, text: "{chat:Lobby}", name: "Lobby"}}},
		{"braced name trimmed", "{chat:  Lobby \t}",
			[]want{{start: 0, text: "{chat:  Lobby \t}", name: "Lobby"}}},
		{"several per line", "a {chat:One} b {chat:Two|sound=off}{chat:Three} c",
			[]want{
				{start: 2, text: "{chat:One}", name: "One"},
				{start: 15, text: "{chat:Two|sound=off}", name: "Two", params: map[string]string{"sound": "off"}},
				{start: 35, text: "{chat:Three}", name: "Three"},
			}},
		{"several lines", "{chat:A}\ntext\n  {chat:B}\n",
			[]want{
				{start: 0, text: "{chat:A}", name: "A"},
				{start: 16, text: "{chat:B}", name: "B"},
			}},
		{"with param", "{chat:My Room Name|sound=on}",
			[]want{{start: 0, text: "{chat:My Room Name|sound=on}", name: "My Room Name", params: map[string]string{"sound": "on"}}}},
		{"param spaces and case", "{chat:Room | Sound = YES }",
			[]want{{start: 0, text: "{chat:Room | Sound = YES }", name: "Room", params: map[string]string{"sound": "YES"}}}},
		{"multiple params unknown key", "{chat:Name|sound=on|key=value}",
			[]want{{start: 0, text: "{chat:Name|sound=on|key=value}", name: "Name",
				params: map[string]string{"sound": "on", "key": "value"},
				err:    ErrBadParam, errText: `unknown parameter "key"; known: sound`}}},
		{"unterminated", "{chat:Room\n}", nil},
		{"unterminated at end", "x {chat:Room", nil},
		{"unterminated then macro on next line", "{chat:Room\n{chat:Other}",
			[]want{{start: 11, text: "{chat:Other}", name: "Other"}}},
		{"unterminated before lone CR", "{chat:Ro\rom}", nil},
		{"opener inside name", "{chat:a {chat:b}",
			[]want{{start: 0, text: "{chat:a {chat:b}", name: "a {chat:b", err: ErrInvalidName, errText: "braces"}}},
		{"brace after macro is text", "{chat:a}}",
			[]want{{start: 0, text: "{chat:a}", name: "a"}}},
		{"escaped", `\{chat:x}`, nil},
		{"escaped then real", `\{chat:x} {chat:y}`,
			[]want{{start: 10, text: "{chat:y}", name: "y"}}},
		{"escaped backslash is not an escape", `\\{chat:x}`,
			[]want{{start: 2, text: "{chat:x}", name: "x"}}},
		{"three backslashes escape", `\\\{chat:x}`, nil},
		{"case sensitive", "{CHAT:x}\nCHAT:y\n{ chat:z}", nil},
		{"CRLF braced", "a {chat:One}\r\n{chat:Two}\r\n",
			[]want{
				{start: 2, text: "{chat:One}", name: "One"},
				{start: 14, text: "{chat:Two}", name: "Two"},
			}},
		{"CRLF unterminated", "{chat:One\r\n}", nil},
		{"bare", "chat:My Room Name",
			[]want{{start: 0, text: "chat:My Room Name", name: "My Room Name"}}},
		{"bare among lines", "intro\nchat:Lobby\noutro",
			[]want{{start: 6, text: "chat:Lobby", name: "Lobby"}}},
		{"bare indented with trailing blanks", "x\n \t chat: Lobby \t\ny",
			[]want{{start: 2, text: " \t chat: Lobby \t", name: "Lobby"}}},
		{"bare CRLF", "x\r\nchat:Lobby\r\ny\r\n",
			[]want{{start: 3, text: "chat:Lobby", name: "Lobby"}}},
		{"bare with params", "chat:Lobby|sound=true",
			[]want{{start: 0, text: "chat:Lobby|sound=true", name: "Lobby", params: map[string]string{"sound": "true"}}}},
		{"bare not at line start", "say chat:Lobby", nil},
		{"bare line wins over braces", "chat:{chat:x}",
			[]want{{start: 0, text: "chat:{chat:x}", name: "{chat:x}", err: ErrInvalidName, errText: "braces"}}},
		{"bare closing brace invalid", "chat:Room}",
			[]want{{start: 0, text: "chat:Room}", name: "Room}", err: ErrInvalidName}}},
		{"bare empty", "chat:",
			[]want{{start: 0, text: "chat:", name: "", err: ErrEmptyName}}},
		{"braced empty", "{chat:}",
			[]want{{start: 0, text: "{chat:}", err: ErrEmptyName, errText: "needs a room name"}}},
		{"braced blank", "{chat: \t }",
			[]want{{start: 0, text: "{chat: \t }", err: ErrEmptyName}}},
		{"blank name with params", "{chat: |sound=on}",
			[]want{{start: 0, text: "{chat: |sound=on}", params: map[string]string{"sound": "on"}, err: ErrEmptyName}}},
		{"punctuation only", "{chat:!!! ---}",
			[]want{{start: 0, text: "{chat:!!! ---}", name: "!!! ---", err: ErrEmptySlug, errText: "letter or digit"}}},
		{"non-latin only", "{chat:日本}",
			[]want{{start: 0, text: "{chat:日本}", name: "日本"}}},
		{"symbols only", "{chat:— ★ —}",
			[]want{{start: 0, text: "{chat:— ★ —}", name: "— ★ —", err: ErrEmptySlug}}},
		{"unicode name", "é {chat:Café Ünïcode} é",
			[]want{{start: 3, text: "{chat:Café Ünïcode}", name: "Café Ünïcode"}}},
		{"max length", "{chat:" + maxName + "}",
			[]want{{start: 0, text: "{chat:" + maxName + "}", name: maxName}}},
		{"too long", "{chat:" + long + "}",
			[]want{{start: 0, text: "{chat:" + long + "}", name: long, err: ErrNameTooLong, errText: "201"}}},
		{"too long after trim is fine", "{chat:  " + maxName + "  }",
			[]want{{start: 0, text: "{chat:  " + maxName + "  }", name: maxName}}},
		{"line separator", "{chat:a\u2028b}",
			[]want{{start: 0, text: "{chat:a\u2028b}", name: "a\u2028b", err: ErrInvalidName}}},
		{"control character", "{chat:a\tb}",
			[]want{{start: 0, text: "{chat:a\tb}", name: "a\tb", err: ErrInvalidName, errText: "control"}}},
		{"invalid utf-8", "{chat:a\xffb}",
			[]want{{start: 0, text: "{chat:a\xffb}", name: "a\xffb", err: ErrInvalidName, errText: "UTF-8"}}},
		{"bad sound value", "{chat:R|sound=loud}",
			[]want{{start: 0, text: "{chat:R|sound=loud}", name: "R", params: map[string]string{"sound": "loud"},
				err: ErrBadParam, errText: `"sound" must be one of on, off, true, false, yes, no (got "loud")`}}},
		{"empty sound value", "{chat:R|sound=}",
			[]want{{start: 0, text: "{chat:R|sound=}", name: "R", params: map[string]string{"sound": ""}, err: ErrBadParam}}},
		{"param without equals", "{chat:R|sound}",
			[]want{{start: 0, text: "{chat:R|sound}", name: "R", err: ErrBadParam, errText: `"sound" has no value`}}},
		{"param without key", "{chat:R|=on}",
			[]want{{start: 0, text: "{chat:R|=on}", name: "R", err: ErrBadParam, errText: "no name"}}},
		{"empty param", "{chat:R|}",
			[]want{{start: 0, text: "{chat:R|}", name: "R", err: ErrBadParam, errText: "empty parameter"}}},
		{"empty param between", "{chat:R||sound=on}",
			[]want{{start: 0, text: "{chat:R||sound=on}", name: "R", params: map[string]string{"sound": "on"}, err: ErrBadParam}}},
		{"duplicate param", "{chat:R|sound=on|sound=off}",
			[]want{{start: 0, text: "{chat:R|sound=on|sound=off}", name: "R", params: map[string]string{"sound": "on"},
				err: ErrBadParam, errText: `"sound" is given more than once`}}},
		{"duplicate param differing case", "{chat:R|sound=on|SOUND=on}",
			[]want{{start: 0, text: "{chat:R|sound=on|SOUND=on}", name: "R", params: map[string]string{"sound": "on"}, err: ErrBadParam}}},
		{"name error reported before param error", "{chat:|bogus}",
			[]want{{start: 0, text: "{chat:|bogus}", err: ErrEmptyName}}},
		{"value keeps equals", "{chat:R|x=a=b}",
			[]want{{start: 0, text: "{chat:R|x=a=b}", name: "R", params: map[string]string{"x": "a=b"}, err: ErrBadParam}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Parse(tc.src)
			if len(got) != len(tc.want) {
				t.Fatalf("Parse(%q) = %d macros %+v, want %d", tc.src, len(got), got, len(tc.want))
			}
			for i, w := range tc.want {
				m := got[i]
				if m.Start != w.start || m.End < m.Start || m.End > len(tc.src) || tc.src[m.Start:m.End] != w.text {
					t.Errorf("macro %d: span [%d:%d], want start %d text %q", i, m.Start, m.End, w.start, w.text)
					continue
				}
				if m.Name != w.name {
					t.Errorf("macro %d: Name = %q, want %q", i, m.Name, w.name)
				}
				if !maps.Equal(m.Params, w.params) {
					t.Errorf("macro %d: Params = %v, want %v", i, m.Params, w.params)
				}
				switch {
				case w.err == nil && m.Err != nil:
					t.Errorf("macro %d: unexpected Err %v", i, m.Err)
				case w.err != nil && !errors.Is(m.Err, w.err):
					t.Errorf("macro %d: Err = %v, want errors.Is %v", i, m.Err, w.err)
				case w.errText != "" && !strings.Contains(m.Err.Error(), w.errText):
					t.Errorf("macro %d: Err = %q, want it to mention %q", i, m.Err, w.errText)
				}
			}
		})
	}
}

func TestMacroRoomID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src, pageID, want string
		err               error
	}{
		{"{chat:My Room Name}", "page1", "page1.my-room-name", nil},
		{"{chat:Café Ünïcode}", "a.b", "a.b.café-ünïcode", nil},
		{"{chat:Привет}", "p", "p.привет", nil},
		{"chat:  --Hello__World--  ", "p", "p.hello-world", nil},
		{"{chat:!!!}", "p", "", ErrEmptySlug},
		{"{chat:R|nope=1}", "p", "", ErrBadParam},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			ms := Parse(tc.src)
			if len(ms) != 1 {
				t.Fatalf("Parse(%q) = %d macros, want 1", tc.src, len(ms))
			}
			got, err := ms[0].RoomID(tc.pageID)
			if got != tc.want || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Errorf("RoomID(%q) = %q, %v; want %q, %v", tc.pageID, got, err, tc.want, tc.err)
			}
		})
	}
	t.Run("empty page id", func(t *testing.T) {
		t.Parallel()
		if _, err := Parse("{chat:R}")[0].RoomID(""); err == nil {
			t.Error("RoomID(\"\") succeeded, want error")
		}
	})
}

func TestMacroSound(t *testing.T) {
	t.Parallel()
	tests := []struct {
		src  string
		want bool
	}{
		{"{chat:R}", false},
		{"{chat:R|sound=on}", true},
		{"{chat:R|sound=ON}", true},
		{"{chat:R|sound=true}", true},
		{"{chat:R|sound=Yes}", true},
		{"{chat:R|sound=off}", false},
		{"{chat:R|sound=false}", false},
		{"{chat:R|sound=no}", false},
		{"{chat:R|sound=loud}", false},
		{"chat:R|sound=yes", true},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			t.Parallel()
			if got := Parse(tc.src)[0].Sound(); got != tc.want {
				t.Errorf("Sound() = %v, want %v", got, tc.want)
			}
		})
	}
	if (Macro{}).Sound() {
		t.Error("zero Macro has sound on")
	}
}

func TestExpand(t *testing.T) {
	t.Parallel()
	render := func(m Macro) string {
		if m.Err != nil {
			return "[error: " + m.Err.Error() + "]"
		}
		if m.Sound() {
			return "<" + m.Name + " loud>"
		}
		return "<" + m.Name + ">"
	}
	tests := []struct {
		name, src, want string
	}{
		{"nothing", "plain\r\ntext {chat:unterminated\n", "plain\r\ntext {chat:unterminated\n"},
		{"braced", "a {chat:X} b {chat:Y|sound=on}\n", "a <X> b <Y loud>\n"},
		{"bare keeps line breaks", "a\r\n  chat:Lobby  \r\nb", "a\r\n<Lobby>\r\nb"},
		{"invalid rendered too", "x{chat:}y", "x[error: " + ErrEmptyName.Error() + "]y"},
		{"escaped untouched", `\{chat:X} {chat:Y}`, `\{chat:X} <Y>`},
		{"unicode around", "日本 {chat:Café} ü", "日本 <Café> ü"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Expand(tc.src, render); got != tc.want {
				t.Errorf("Expand(%q) = %q, want %q", tc.src, got, tc.want)
			}
		})
	}
}

// A page shows each room once: a later macro for the same room, by the
// same name or one with the same slug, is marked with the first one's
// name, and invalid macros never count.
func TestParseMarksRepeats(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      []string // RepeatOf of each macro in order
	}{
		{"distinct rooms", "{chat:A} {chat:B}", []string{"", ""}},
		{"same name twice", "{chat:Team}\n\n{chat:Team|sound=on}", []string{"", "Team"}},
		{"same slug", "{chat:My Room}\nchat:my-room\n{chat:MY ROOM!}", []string{"", "My Room", "My Room"}},
		{"invalid first does not count", "{chat:X|bad=1} {chat:X} {chat:x}", []string{"", "", "X"}},
		{"empty never repeats", "{chat: } {chat: }", []string{"", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ms := Parse(tc.src)
			if len(ms) != len(tc.want) {
				t.Fatalf("Parse(%q) found %d macros, want %d", tc.src, len(ms), len(tc.want))
			}
			for i, m := range ms {
				if m.RepeatOf != tc.want[i] {
					t.Errorf("macro %d (%q): RepeatOf = %q, want %q", i, m.Name, m.RepeatOf, tc.want[i])
				}
			}
		})
	}
}

func TestRepeatNote(t *testing.T) {
	t.Parallel()
	tests := []struct {
		m    Macro
		want string
	}{
		{Macro{Name: "Team", RepeatOf: "Team"}, `<p class="pagechat-repeat">The chat room “Team” is shown above on this page.</p>`},
		{Macro{Name: "my-room", RepeatOf: "My Room"}, `<p class="pagechat-repeat">“my-room” is the same chat room as “My Room”, shown above on this page.</p>`},
		{Macro{Name: "<b>x", RepeatOf: "<B>X"}, `<p class="pagechat-repeat">“&lt;b&gt;x” is the same chat room as “&lt;B&gt;X”, shown above on this page.</p>`},
	}
	for _, tc := range tests {
		if got := RepeatNote(tc.m); got != tc.want {
			t.Errorf("RepeatNote(%+v) = %s, want %s", tc.m, got, tc.want)
		}
	}
}
