package xmpp

import (
	"net/url"
	"testing"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

func TestPlainText(t *testing.T) {
	t.Parallel()
	base, _ := url.Parse("https://wiki.example.org/")
	for _, tc := range []struct {
		name string
		m    hostsdk.Message
		want string
	}{
		{"plain text stays exact", hostsdk.Message{Text: "a <b> & c", HTML: "a &lt;b&gt; &amp; c"}, "a <b> & c"},
		{"wiki link gets its URL", hostsdk.Message{Text: "see [[Team]]", HTML: `see <a class="wikilink" href="/pages/2">Team</a>`}, "see Team (https://wiki.example.org/pages/2)"},
		{"bare URL once", hostsdk.Message{Text: "https://go.dev", HTML: `<a href="https://go.dev" rel="nofollow">https://go.dev</a>`}, "https://go.dev"},
		{"markup in link text stays text", hostsdk.Message{Text: "[[<i>x</i>]]", HTML: `<a href="/pages/3">&lt;i&gt;x&lt;/i&gt;</a>`}, "<i>x</i> (https://wiki.example.org/pages/3)"},
		{"upload", hostsdk.Message{Text: "", File: &hostsdk.File{Name: "plan.pdf", URL: "/files/9"}}, "plan.pdf https://wiki.example.org/files/9"},
		{"paste with a link keeps lines", hostsdk.Message{Text: "x", HTML: `<p>one</p><p>two <a href="/pages/1">p</a></p>`}, "one\ntwo p (https://wiki.example.org/pages/1)"},
	} {
		if got := plainText(tc.m, base); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func FuzzPlainText(f *testing.F) {
	f.Add("x", `<a href="/p">x</a><img src="/i" alt="y"><br><pre>z</pre>`)
	f.Fuzz(func(t *testing.T, text, html string) {
		base, _ := url.Parse("https://wiki.example.org/")
		s := plainText(hostsdk.Message{Text: text, HTML: html}, base)
		// The body becomes character data of an element built here: it
		// encodes as text whatever it holds.
		e := el("", "body").text(s)
		if _, err := parseElem([]byte(e.String())); err != nil && isXMLText(s) {
			t.Fatalf("body does not round-trip: %v", err)
		}
	})
}

// isXMLText reports whether s has only characters XML 1.0 allows; others
// cannot be sent in any stanza (the encoder replaces them).
func isXMLText(s string) bool {
	for _, r := range s {
		if !(r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF) {
			return false
		}
	}
	return true
}
