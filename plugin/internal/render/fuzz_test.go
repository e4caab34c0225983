package render

import (
	"context"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzRender checks the properties every message must have: no panic, safe
// output, deterministic output, and, for text with nothing to interpret,
// visible text equal to the (normalised) input.
func FuzzRender(f *testing.F) {
	for _, s := range xssInputs {
		f.Add(s)
	}
	for _, s := range []string{
		"", "hello", "a\nb", "a\r\nb\r\nc\r\nd", "  indented", "\n\tx",
		"[Home] [x|Page] [ ] [a|b|c]", "see http://example.com/(x)).", "www.example.com.",
		"a\x00b\xffc\rd", "\n\n", "\r", "x\n  ",
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
		if strings.ContainsAny(in, "<>&\"'[") || strings.Contains(strings.ToLower(in), "http") {
			return
		}
		if want := expectedVisible(in); vis != want {
			t.Fatalf("Render(%q) = %q\nvisible %q\n   want %q", in, out, vis, want)
		}
	})
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
