package safeurl

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestHref(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want bool
	}{
		// What hosts return: wiki pages, the page-creation form, files.
		{"/", true},
		{"/pages/1", true},
		{"/pages/p1", true},
		{"/wiki/Home", true},
		{"/wiki/A?x=1&y=2#frag", true},
		{"/pages/new?title=A+B%20C", true},
		{"/files/plan.pdf", true},
		{"/files/O'Brien%20notes.txt", true},
		{"/wiki/Café", true},
		{"/wiki/Go_(programming_language)", true},
		{"https://wiki.example.com/x", true},
		{"https://files.example/a", true},
		{"http://x.example", true},
		{"https://user@wiki.example:8443/x?y#z", true},
		{"http://[::1]:8080/", true},
		{"http://192.0.2.1/", true},

		// The scheme's letter case does not matter to browsers. The
		// upload announcement used to refuse these.
		{"HTTP://wiki.example.com/x", true},
		{"Https://x.example", true},

		// No host. The upload announcement used to accept the first two,
		// the browser API the last two.
		{"http://", false},
		{"https://", false},
		{"http://:80/x", false},
		{"http://user@:80", false},
		{"https:", false},
		{"https:///x", false},
		{"https:/x.example", false},
		{"http:x.example", false},

		// Characters browsers drop, reinterpret or end an attribute at.
		// The browser API used to accept the space, quote and '<' ones
		// and the non-ASCII spaces; the upload announcement the control
		// characters, the non-ASCII spaces and '`'.
		{"/a b", false},
		{"/a\tb", false},
		{"/a\nb", false},
		{"/pages/1\nSet-Cookie: x=1", false},
		{"/a\x00b", false},
		{"/a\x7fb", false},
		{"/a\u0085b", false},
		{"/a\u00a0b", false},
		{"/a\u2028b", false},
		{"/a\u3000b", false},
		{`/ok" onmouseover="x`, false},
		{"/a<b", false},
		{"/a>b", false},
		{"/a`b", false},
		{"https://x.example/a b", false},
		{`https://x.example/a"b`, false},
		{"https://x.example/a`b", false},
		{"http://x.example/\x00", false},
		{" /pages/1", false},
		{"/pages/1 ", false},
		{"\thttps://x.example", false},

		// Text shown in another order than it leads to.
		{"/a\u202eb", false},
		{"https://x.example/\u202etxt.exe", false},
		{"/a\u2066b", false},
		{"/a\u200fb", false},

		// Not UTF-8, or not a URL net/url can parse. The browser API and
		// the upload announcement used to accept some of these.
		{"/a\xffb", false},
		{"http://x.example/\xff", false},
		{"/a%zz", false},
		{"https://x.example/a%zz", false},
		{"https://x.example:abc/", false},

		// Another host, by way of a second slash or a backslash.
		{"//evil.example", false},
		{"//evil.example/", false},
		{"/\\evil.example", false},
		{"/a\\b", false},
		{"https://x.example\\@evil.example", false},

		// Other schemes, however they are spelt.
		{"javascript:alert(1)", false},
		{"JavaScript:alert(1)", false},
		{"JaVaScRiPt:alert(1)", false},
		{" javascript:alert(1)", false},
		{"java\tscript:alert(1)", false},
		{"data:text/html,x", false},
		{"data:text/html,<b>", false},
		{"vbscript:x", false},
		{"mailto:a@example.com", false},
		{"ftp://example.com", false},
		{"file:///etc/passwd", false},

		// Relative to the page rather than the site.
		{"", false},
		{"wiki/Home", false},
		{"relative/path", false},
		{"../x", false},
		{"#frag", false},
		{"?x=1", false},
	}
	for _, tt := range tests {
		want := ""
		if tt.want {
			want = tt.url
		}
		if got := Href(tt.url); got != want {
			t.Errorf("Href(%q) = %q, want %q", tt.url, got, want)
		}
	}
}

func FuzzHref(f *testing.F) {
	for _, s := range []string{
		"", "/", "/pages/1", "/pages/new?title=A+B", "/wiki/Café", "https://x.example/a?b#c",
		"HTTP://X.EXAMPLE", "http://", "http://:80", "//evil.example", "/\\evil.example",
		"javascript:alert(1)", "java\tscript:x", "data:,x", "/a b", "/a\x00b", "/a\u202eb",
		"/a%zz", "/a\xffb", "http:x.example", "https://[::1]/",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Href(s)
		if got == "" {
			return
		}
		if got != s {
			t.Fatalf("Href(%q) = %q: an accepted URL must come back unchanged", s, got)
		}
		if !utf8.ValidString(s) {
			t.Fatalf("Href accepted invalid UTF-8 %q", s)
		}
		if i := strings.IndexFunc(s, unsafeRune); i >= 0 {
			t.Fatalf("Href accepted %q, which has unsafe rune %q at %d", s, []rune(s[i:])[0], i)
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("Href accepted %q, which net/url refuses: %v", s, err)
		}
		rooted := strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//")
		web := (strings.EqualFold(u.Scheme, "http") || strings.EqualFold(u.Scheme, "https")) && u.Hostname() != ""
		switch {
		case rooted && (u.Scheme != "" || u.Host != ""):
			t.Fatalf("Href accepted %q: a path that net/url reads with scheme %q, host %q", s, u.Scheme, u.Host)
		case !rooted && !web:
			t.Fatalf("Href accepted %q: neither a rooted path nor http(s) with a host (scheme %q, host %q)", s, u.Scheme, u.Host)
		}
		// Browsers drop tabs and newlines anywhere in a URL, so one added
		// must not leave a URL that is accepted on different terms.
		for _, i := range []int{0, len(s) / 2, len(s)} {
			for !utf8.RuneStart(s[min(i, len(s)-1)]) && i < len(s) {
				i++
			}
			if in := s[:i] + "\t" + s[i:]; Href(in) != "" {
				t.Fatalf("Href accepted %q, which has a tab", in)
			}
		}
	})
}
