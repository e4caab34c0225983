package render

import (
	"context"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzRender checks the properties every message must have: no panic, safe
// output (the strict checker: allowed elements and attributes only, no
// dangerous URL, proper nesting), deterministic output within the size
// bound, and, for text with nothing to interpret, visible text equal to
// the (normalised) input.
func FuzzRender(f *testing.F) {
	for _, s := range xssInputs {
		f.Add(s)
	}
	for _, s := range []string{
		"", "hello", "a\nb", "a\r\nb\r\nc\r\nd", "  indented", "\n\tx",
		"[Home] [x|Page] [ ] [a|b|c]", "see http://example.com/(x)).", "www.example.com.",
		"a\x00b\xffc\rd", "\n\n", "\r", "x\n  ",
		"**b** _i_ ~~s~~ `c`", "> q\n- a\n  - b\n1. c", "```go\nx\n```", "[x](/p) ![i](/i.png) <http://a.example>",
		"[x][r]\n\n[r]: /r", "a\n\n---\n\nb", "\\*x\\*", "[**[Home]**](http://a.example)",
	} {
		f.Add(s)
	}
	r := &Renderer{Resolver: hostileResolver}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := r.Render(context.Background(), "p", in)
		if err != nil {
			t.Fatalf("Render(%q): %v", in, err)
		}
		vis, err := checkSafeHTML(string(out))
		if err != nil {
			t.Fatalf("Render(%q) = %q: unsafe: %v", in, out, err)
		}
		again, err := r.Render(context.Background(), "p", in)
		if err != nil || again != out {
			t.Fatalf("Render(%q) not deterministic: %q then %q (%v)", in, out, again, err)
		}
		if max := MaxHTMLBytes(3 * len(in)); len(out) > max {
			t.Fatalf("Render(%q) is %d bytes, over the bound %d", in, len(out), max)
		}
		want := expectedVisible(in)
		if !plainProse(in, want) {
			return
		}
		if vis != want {
			t.Fatalf("Render(%q) = %q\nvisible %q\n   want %q", in, out, vis, want)
		}
	})
}

// plainProse reports whether in has nothing for Markdown or the link
// rules to interpret, so its visible text must be exactly the normalised
// input: only letters, digits, spaces and line breaks (and characters that
// become U+FFFD), every line non-empty and without leading or trailing
// spaces, which Markdown drops. A paste shows everything verbatim.
func plainProse(in, normalised string) bool {
	for _, r := range in {
		switch {
		case r == '\t':
			return false
		case unicode.IsLetter(r), unicode.IsDigit(r), r == ' ', r == '\n', r == '\r', unicode.IsControl(r), r == utf8.RuneError:
		default:
			return false
		}
	}
	if isPaste(normalised) {
		return true
	}
	for line := range strings.SplitSeq(normalised, "\n") {
		if line == "" || strings.TrimSpace(line) != line {
			return false
		}
	}
	return true
}

// expectedVisible is the documented normalisation, written independently of
// normalize: CR and CRLF become LF, invalid bytes and control characters
// other than tab and LF become U+FFFD, trailing newlines are dropped.
func expectedVisible(in string) string {
	in = strings.ReplaceAll(in, "\r\n", "\n")
	in = strings.ReplaceAll(in, "\r", "\n")
	var b strings.Builder
	// Ranging over a string yields U+FFFD once per invalid byte, which is
	// the documented replacement.
	for _, r := range in {
		if unicode.IsControl(r) && r != '\n' && r != '\t' {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return strings.TrimRight(b.String(), "\n")
}
