package macro

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"{chat:My Room Name}",
		"a {chat:One} b {chat:Two|sound=off}{chat:Three} c",
		"{chat:Name|sound=on|key=value}",
		"chat:My Room Name",
		" \t chat: Lobby|sound=yes \t\r\nnext",
		"{chat:unterminated\n}",
		`\{chat:x} \\{chat:y} \\\{chat:z}`,
		"{chat:a {chat:b}}",
		"{chat:}\r\n{chat: |sound=on}\r\nchat:",
		"{chat:日本}{chat:Café Ünïcode}",
		"{chat:R|sound}{chat:R||}{chat:R|=on}{chat:R|sound=on|SOUND=off}",
		"{chat:a\rb}{chat:a\tb}{chat:a\xffb}",
		"chat:{chat:x}\nchat:x}",
		"{chat:" + strings.Repeat("x", MaxNameBytes+1) + "}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		ms := Parse(src)
		prevEnd := 0
		for i, m := range ms {
			if m.Start < prevEnd || m.Start >= m.End || m.End > len(src) {
				t.Fatalf("macro %d: span [%d:%d] out of order or range (prev end %d, len %d)", i, m.Start, m.End, prevEnd, len(src))
			}
			prevEnd = m.End
			text := src[m.Start:m.End]
			braced := strings.HasPrefix(text, bracedOpen)
			if !braced && !strings.HasPrefix(strings.TrimLeft(text, " \t"), bareOpen) {
				t.Fatalf("macro %d: text %q is neither form", i, text)
			}
			if braced && !strings.HasSuffix(text, "}") {
				t.Fatalf("macro %d: braced text %q does not end with }", i, text)
			}
			if strings.ContainsAny(text, "\n") {
				t.Fatalf("macro %d: text %q spans lines", i, text)
			}
			if m.Name != strings.TrimSpace(m.Name) {
				t.Fatalf("macro %d: name %q not trimmed", i, m.Name)
			}
			if m.Err != nil {
				if m.Err.Error() == "" {
					t.Fatalf("macro %d: empty error message", i)
				}
				continue
			}
			// A valid macro's name must survive being written back.
			again := Parse(bracedOpen + m.Name + "}")
			if len(again) != 1 || again[0].Err != nil || again[0].Name != m.Name {
				t.Fatalf("macro %d: name %q did not round-trip: %+v", i, m.Name, again)
			}
			id, err := m.RoomID("page")
			if err != nil {
				t.Fatalf("macro %d: valid macro has no room id: %v", i, err)
			}
			if id2, _ := again[0].RoomID("page"); id2 != id {
				t.Fatalf("macro %d: room id %q became %q after round trip", i, id, id2)
			}
			if page, slug, err := SplitRoomID(id); err != nil || page != "page" || slug != Slug(m.Name) {
				t.Fatalf("macro %d: SplitRoomID(%q) = %q, %q, %v", i, id, page, slug, err)
			}
		}
		if got := Expand(src, func(m Macro) string { return src[m.Start:m.End] }); got != src {
			t.Fatalf("identity Expand changed source:\n got %q\nwant %q", got, src)
		}
		removed := 0
		for _, m := range ms {
			removed += m.End - m.Start
		}
		if got := Expand(src, func(Macro) string { return "" }); len(got) != len(src)-removed {
			t.Fatalf("Expand removing macros left %d bytes, want %d", len(got), len(src)-removed)
		}
	})
}

func FuzzSlug(f *testing.F) {
	for _, s := range []string{
		"", "My Room Name", "  --Hello__World--  ", "ABC123", "日本",
		"Café Ünïcode", "a.b", "\xff", "\u212a\u0130", "---a---b---",
		"Ω Room", "Привет", "Cafe\u0301", "ＡＢ１", "हिन्दी", "\u0301a \u0301b", "ΣΑΣ ς", "\ufdfa",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		slug := Slug(s)
		if !utf8.ValidString(slug) {
			t.Fatalf("Slug(%q) = %q is not valid UTF-8", s, slug)
		}
		prev := '-'
		for _, r := range slug {
			switch {
			case r == '-', unicode.IsLetter(r), unicode.IsDigit(r):
			case unicode.Is(unicode.M, r) && prev != '-':
				// a combining mark, attached to the letter before it
			default:
				t.Fatalf("Slug(%q) = %q contains %q", s, slug, r)
			}
			if r == '.' {
				t.Fatalf("Slug(%q) = %q contains a dot", s, slug)
			}
			prev = r
		}
		if !norm.NFKC.IsNormalString(slug) {
			t.Fatalf("Slug(%q) = %q is not in NFKC", s, slug)
		}
		if strings.ToLower(slug) != slug {
			t.Fatalf("Slug(%q) = %q is not lower case", s, slug)
		}
		if nfd := norm.NFD.String(s); Slug(nfd) != slug {
			t.Fatalf("Slug(%q) = %q but Slug of its NFD form = %q", s, slug, Slug(nfd))
		}
		if strings.HasPrefix(slug, "-") || strings.HasSuffix(slug, "-") || strings.Contains(slug, "--") {
			t.Fatalf("Slug(%q) = %q has a stray dash", s, slug)
		}
		if again := Slug(slug); again != slug {
			t.Fatalf("Slug not idempotent: Slug(%q) = %q, Slug of that = %q", s, slug, again)
		}
		if isASCII(s) {
			if up := Slug(strings.ToUpper(s)); up != slug {
				t.Fatalf("Slug(%q) = %q but Slug of upper case = %q", s, slug, up)
			}
		}
		if len(s) <= MaxNameBytes && slug != "" && utf8.ValidString(s) {
			id, err := RoomID("p.q", s)
			if err != nil {
				t.Fatalf("RoomID(%q): %v", s, err)
			}
			if page, got, err := SplitRoomID(id); err != nil || page != "p.q" || got != slug {
				t.Fatalf("SplitRoomID(%q) = %q, %q, %v", id, page, got, err)
			}
		}
	})
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
