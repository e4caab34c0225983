package markup

import (
	"html/template"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"

	"github.com/pagechat/pagechat/macro"
)

// testOptions resolve "Home" as an existing page and everything else as
// missing, and render valid macros as a marker and invalid ones as an
// error box, the way the wiki's web layer does.
func testOptions() Options {
	return Options{
		Link: func(title string) (string, bool) {
			if strings.EqualFold(title, "home") {
				return "/pages/1", true
			}
			return "/pages/new?title=" + url.QueryEscape(title), false
		},
		Macro: func(m macro.Macro) template.HTML {
			if m.Err != nil {
				return template.HTML(ErrorBox(m.Err.Error()))
			}
			return template.HTML(`<table class="pagechat-room">` + template.HTMLEscapeString(m.Name) + `</table>`)
		},
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src, want string
	}{
		{"paragraphs", "one\ntwo\n\nthree", "<p>one\ntwo</p>\n<p>three</p>\n"},
		{"crlf", "one\r\n\r\ntwo", "<p>one</p>\n<p>two</p>\n"},
		{"headings", "= Top =\n== Sub ==\n=== Third ===\ntext", "<h2>Top</h2>\n<h3>Sub</h3>\n<h4>Third</h4>\n<p>text</p>\n"},
		{"not headings", "==== Four ====\n= =\n= open", "<p>==== Four ====\n= =\n= open</p>\n"},
		{"list", "intro\n* one\n* two\nafter", "<p>intro</p>\n<ul>\n<li>one</li>\n<li>two</li>\n</ul>\n<p>after</p>\n"},
		{"existing link", "see [home]", `<p>see <a class="wikilink" href="/pages/1">home</a></p>` + "\n"},
		{"labelled link", "[the start|Home]", `<p><a class="wikilink" href="/pages/1">the start</a></p>` + "\n"},
		{"missing link", "[New Page]", `<p><a class="wikilink missing" href="/pages/new?title=New+Page" title="Create page New Page">New Page</a></p>` + "\n"},
		{"external labelled", "[Go|https://go.dev/doc]", `<p><a class="external" href="https://go.dev/doc" rel="nofollow noopener">Go</a></p>` + "\n"},
		{"bare url", "visit https://go.dev/x?a=1&b=2.", `<p>visit <a class="external" href="https://go.dev/x?a=1&amp;b=2" rel="nofollow noopener">https://go.dev/x?a=1&amp;b=2</a>.</p>` + "\n"},
		{"url in parens", "(https://go.dev)", `<p>(<a class="external" href="https://go.dev" rel="nofollow noopener">https://go.dev</a>)</p>` + "\n"},
		{"not a url", "xhttp://a.b and http:// alone", "<p>xhttp://a.b and http:// alone</p>\n"},
		{"unclosed bracket", "a [b", "<p>a [b</p>\n"},
		{"empty link", "a [] b [|]", "<p>a [] b [|]</p>\n"},
		{"nested bracket", "[[home]", `<p>[<a class="wikilink" href="/pages/1">home</a></p>` + "\n"},
		{"macro block", "Before {chat:Team Room} after\n\nnext",
			`<p>Before</p>` + "\n" + `<div class="wiki-macro"><table class="pagechat-room">Team Room</table></div>` + "\n<p>after</p>\n<p>next</p>\n"},
		{"bare macro line", "chat:Ops", `<div class="wiki-macro"><table class="pagechat-room">Ops</table></div>` + "\n"},
		{"escaped macro", `write \{chat:Name} to add a room`, "<p>write {chat:Name} to add a room</p>\n"},
		{"invalid macro", "{chat:   }", `<div class="wiki-macro"><span class="wiki-error" role="alert">chat macro needs a room name, e.g. {chat:My Room}</span></div>` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := string(Render(tt.src, testOptions())); got != tt.want {
				t.Errorf("Render(%q)\n got %q\nwant %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestRenderWithoutCallbacks(t *testing.T) {
	t.Parallel()
	got := string(Render("[Home] {chat:Room}", Options{}))
	want := `<p>Home</p>` + "\n" + `<div class="wiki-macro"><span class="wiki-error" role="alert">chat is not available here</span></div>` + "\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestRenderXSS feeds hostile markup and checks that nothing executable
// reaches the output.
func TestRenderXSS(t *testing.T) {
	t.Parallel()
	hostile := []string{
		`<script>alert(1)</script>`,
		`[x|javascript:alert(1)]`,
		`[javascript:alert(1)]`,
		`[x|JaVaScRiPt:alert(1)]`,
		`[x|data:text/html,<script>alert(1)</script>]`,
		`[x|//evil.example/]`,
		`["><img src=x onerror=alert(1)>|Home]`,
		`[Home|"><script>alert(1)</script>]`,
		`https://a.example/"onmouseover="alert(1)`,
		`https://a.example/<script>alert(1)</script>`,
		`= <img src=x onerror=alert(1)> =`,
		`* <iframe src="javascript:alert(1)">`,
		`{chat:<script>alert(1)</script>}`,
		`{chat:Room|sound=<b>}`,
		"[x|java\tscript:alert(1)]",
		`<a href="javascript:alert(1)">x</a>`,
	}
	for _, src := range hostile {
		checkSafe(t, src, string(Render(src, testOptions())))
	}
}

// checkSafe parses out as HTML and fails unless every element, attribute
// and link target is one markup (or the test's macro renderer) writes.
func checkSafe(t *testing.T, src, out string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(out))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		switch tok.Data {
		case "p", "h2", "h3", "h4", "ul", "li", "a", "div", "span", "table":
		default:
			t.Errorf("Render(%q) produced <%s>:\n%s", src, tok.Data, out)
		}
		for _, a := range tok.Attr {
			switch a.Key {
			case "class", "title", "rel", "role":
			case "href":
				v := strings.ToLower(a.Val)
				local := strings.HasPrefix(v, "/") && !strings.HasPrefix(v, "//")
				if !local && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
					t.Errorf("Render(%q) produced href %q:\n%s", src, a.Val, out)
				}
			default:
				t.Errorf("Render(%q) produced attribute %s=%q:\n%s", src, a.Key, a.Val, out)
			}
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add("= H =\n* [a|Home] https://x.example {chat:Room}\n\ntext")
	f.Add(`[x|javascript:alert(1)] <script>`)
	f.Fuzz(func(t *testing.T, src string) {
		checkSafe(t, src, string(Render(src, testOptions())))
	})
}
