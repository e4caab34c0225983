package render

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// pages is the fake wiki used by most tests: title -> Link. Titles that are
// not listed resolve to "missing, no URL"; "Broken" makes the resolver fail.
var pages = map[string]Link{
	"Home":                {URL: "/wiki/Home", Exists: true},
	"Page Title":          {URL: "/wiki/Page_Title", Exists: true},
	"Abs":                 {URL: "https://wiki.example.com/wiki/Abs", Exists: true},
	"New Page":            {URL: "/wiki/create?title=New+Page", Exists: false},
	"Quote's":             {URL: "/wiki/Quote's", Exists: true},
	"Amp":                 {URL: "/wiki/A?x=1&y=2", Exists: true},
	"Evil":                {URL: "javascript:alert(1)", Exists: true},
	"Evil2":               {URL: `"/ok" onmouseover="x`, Exists: true},
	"Evil3":               {URL: "//evil.example/x", Exists: true},
	"Evil4":               {URL: "data:text/html,<script>alert(1)</script>", Exists: false},
	"Evil5":               {URL: "/\\evil.example", Exists: true},
	"Evil6":               {URL: "java\tscript:alert(1)", Exists: true},
	"Evil7":               {URL: "/ok\"><script>", Exists: true},
	"NoURL":               {Exists: true},
	"javascript:alert(1)": {URL: "javascript:alert(1)", Exists: true},
}

func fakeResolver() LinkResolver {
	return LinkResolverFunc(func(ctx context.Context, from, title string) (Link, error) {
		if from != "page-1" {
			return Link{}, fmt.Errorf("unexpected fromPageID %q", from)
		}
		if title == "Broken" {
			return Link{}, errors.New("wiki unavailable")
		}
		return pages[title], nil
	})
}

const (
	missingSpan = `<span class="wikilink missing" title="Page does not exist">`
	extOpen     = `" class="external" rel="nofollow noopener" target="_blank">`
)

func ext(u, text string) string { return `<a href="` + u + extOpen + text + `</a>` }

func TestRender(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
	}{
		// Plain text and escaping.
		{"empty", "", ""},
		{"only newlines", "\n\r\n\n", ""},
		{"plain", "hello world", "hello world"},
		{"escaping", `a < b && "c" 'd' > e`, `a &lt; b &amp;&amp; &#34;c&#34; &#39;d&#39; &gt; e`},
		{"entity stays text", "&lt;b&gt;", "&amp;lt;b&amp;gt;"},
		{"nul and controls", "a\x00b\x07c\x7fd", "a\uFFFDb\uFFFDc\uFFFDd"},
		{"invalid utf8", "a\xffb", "a\uFFFDb"},
		{"unicode", "héllo 世界 👋", "héllo 世界 👋"},

		// Wiki links.
		{"wiki existing", "see [Home] now", `see <a href="/wiki/Home" class="wikilink">Home</a> now`},
		{"wiki labelled", "[the start|Home]", `<a href="/wiki/Home" class="wikilink">the start</a>`},
		{"wiki label and title trimmed", "[ the start | Page Title ]", `<a href="/wiki/Page_Title" class="wikilink">the start</a>`},
		{"wiki empty label uses title", "[|Home]", `<a href="/wiki/Home" class="wikilink">Home</a>`},
		{"wiki absolute url", "[Abs]", `<a href="https://wiki.example.com/wiki/Abs" class="wikilink">Abs</a>`},
		{"wiki missing", "[Nope]", missingSpan + `Nope</span>`},
		{"wiki missing with create url", "[New Page]", `<a href="/wiki/create?title=New+Page" class="wikilink missing" title="Page does not exist">New Page</a>`},
		{"wiki url escaped", "[Amp] [Quote's]", `<a href="/wiki/A?x=1&amp;y=2" class="wikilink">Amp</a> <a href="/wiki/Quote&#39;s" class="wikilink">Quote&#39;s</a>`},
		{"wiki existing without url", "[NoURL]", missingSpan + `NoURL</span>`},
		{"wiki resolver error", "[Broken] and [Home]", missingSpan + `Broken</span> and <a href="/wiki/Home" class="wikilink">Home</a>`},
		{"wiki repeated", "[Home][Home]", `<a href="/wiki/Home" class="wikilink">Home</a><a href="/wiki/Home" class="wikilink">Home</a>`},
		{"wiki empty title", "[ ] and [] and [x|]", "[ ] and [] and [x|]"},
		{"wiki two pipes", "[a|b|c]", "[a|b|c]"},
		{"wiki nested brackets", "[a[Home]]", `[a<a href="/wiki/Home" class="wikilink">Home</a>]`},
		{"wiki unclosed", "[Home", "[Home"},
		{"wiki across lines", "[Ho\nme]", "[Ho<br>me]"},
		{"wiki title too long", "[" + strings.Repeat("x", maxTitleBytes+1) + "]", "[" + strings.Repeat("x", maxTitleBytes+1) + "]"},
		{"wiki title at limit", "[" + strings.Repeat("x", maxTitleBytes) + "]", missingSpan + strings.Repeat("x", maxTitleBytes) + "</span>"},
		{"wiki label too long", "[" + strings.Repeat("x", maxLabelBytes+1) + "|Home]", "[" + strings.Repeat("x", maxLabelBytes+1) + "|Home]"},
		{"bracketed url is not a wiki link", "[https://example.com]", "[" + ext("https://example.com", "https://example.com") + "]"},
		{"labelled url is not a wiki link", "[x|https://example.com]", "[x|" + ext("https://example.com", "https://example.com") + "]"},
		{"no url inside wiki label", "[http://x.example|Home]", `<a href="/wiki/Home" class="wikilink">http://x.example</a>`},

		// Resolver URLs that must not be used.
		{"resolver javascript", "[x|Evil]", missingSpan + "x</span>"},
		{"resolver attribute breakout", "[Evil2]", missingSpan + "Evil2</span>"},
		{"resolver protocol relative", "[Evil3]", missingSpan + "Evil3</span>"},
		{"resolver data url for missing", "[Evil4]", missingSpan + "Evil4</span>"},
		{"resolver backslash", "[Evil5]", missingSpan + "Evil5</span>"},
		{"resolver tab in scheme", "[Evil6]", missingSpan + "Evil6</span>"},
		{"resolver quote in path", "[Evil7]", missingSpan + "Evil7</span>"},

		// Bare URLs.
		{"url", "go to https://example.com/a?b=c&d=e now", "go to " + ext("https://example.com/a?b=c&amp;d=e", "https://example.com/a?b=c&amp;d=e") + " now"},
		{"url http", "http://example.com", ext("http://example.com", "http://example.com")},
		{"url upper case scheme", "HTTP://EXAMPLE.COM/X", ext("HTTP://EXAMPLE.COM/X", "HTTP://EXAMPLE.COM/X")},
		{"url trailing period", "see http://example.com.", "see " + ext("http://example.com", "http://example.com") + "."},
		{"url trailing punctuation", "http://example.com/x?!,;:'*", ext("http://example.com/x", "http://example.com/x") + "?!,;:&#39;*"},
		{"url in parens", "(see http://example.com/x)", "(see " + ext("http://example.com/x", "http://example.com/x") + ")"},
		{"url balanced parens", "https://en.wikipedia.org/wiki/Go_(programming_language)",
			ext("https://en.wikipedia.org/wiki/Go_(programming_language)", "https://en.wikipedia.org/wiki/Go_(programming_language)")},
		{"url balanced parens in parens", "(https://en.wikipedia.org/wiki/Go_(lang)).",
			"(" + ext("https://en.wikipedia.org/wiki/Go_(lang)", "https://en.wikipedia.org/wiki/Go_(lang)") + ")."},
		{"url in angle brackets is an autolink", "<https://example.com>", ext("https://example.com", "https://example.com")},
		{"url after non-ascii punctuation is not linked", "“http://a.example”", "“http://a.example”"},
		{"url trailing underscore and tilde", "see http://a.example/x_~", "see " + ext("http://a.example/x", "http://a.example/x") + "_~"},
		{"url in quotes", `"https://example.com"`, "&#34;" + ext("https://example.com", "https://example.com") + "&#34;"},
		{"www", "visit www.example.com!", "visit " + ext("https://www.example.com", "www.example.com") + "!"},
		{"www without host", "www. is www.-x", "www. is www.-x"},
		{"scheme only", "http:// and https://.", "http:// and https://."},
		{"url inside word", "xhttp://example.com a.www.example.com me@www.example.com", "xhttp://example.com a.www.example.com me@www.example.com"},
		{"ftp not linked", "ftp://example.com", "ftp://example.com"},
		{"two urls", "http://a.example, http://b.example", ext("http://a.example", "http://a.example") + ", " + ext("http://b.example", "http://b.example")},
		{"url bad port", "http://example.com:port/", "http://example.com:port/"},
		{"invalid url run stays text", "http://%zz(http://a.example) www.example.com", "http://%zz(http://a.example) " + ext("https://www.example.com", "www.example.com")},
		{"url unicode", "https://example.com/ü", ext("https://example.com/ü", "https://example.com/ü")},

		// Markdown.
		{"bold", "**b** and __b__", "<strong>b</strong> and <strong>b</strong>"},
		{"italic", "*i* and _i_", "<em>i</em> and <em>i</em>"},
		{"underscores inside words", "snake_case_name", "snake_case_name"},
		{"nested emphasis", "***x*** **a *b* c**", "<em><strong>x</strong></em> <strong>a <em>b</em> c</strong>"},
		{"strikethrough", "~~x~~ ~y~", "<del>x</del> <del>y</del>"},
		{"code span", "`a <b> [Home] http://x.example **c**`", "<code>a &lt;b&gt; [Home] http://x.example **c**</code>"},
		{"code span html", "`<script>alert(1)</script>`", "<code>&lt;script&gt;alert(1)&lt;/script&gt;</code>"},
		{"fenced code", "```go\nx := <-ch\n  [Home]\n```", "<pre><code>x := &lt;-ch\n  [Home]\n</code></pre>"},
		{"fenced code unclosed", "```\nx", "<pre><code>x\n</code></pre>"},
		{"quote", "> hi\n> [Home]", `<blockquote><p>hi<br><a href="/wiki/Home" class="wikilink">Home</a></p></blockquote>`},
		{"quote then text", "> q\n\nanswer", "<blockquote><p>q</p></blockquote><p>answer</p>"},
		{"bullet list", "- a\n- b", "<ul><li>a</li><li>b</li></ul>"},
		{"long list is not a paste", "- a\n- b\n- c\n- d\n- e", "<ul><li>a</li><li>b</li><li>c</li><li>d</li><li>e</li></ul>"},
		{"nested list", "- a\n  - b\n- c", "<ul><li>a<ul><li>b</li></ul></li><li>c</li></ul>"},
		{"ordered list", "1. a\n2. b", "<ol><li>a</li><li>b</li></ol>"},
		{"ordered list start", "3. a\n4. b", `<ol start="3"><li>a</li><li>b</li></ol>`},
		{"loose list", "1. a\n\n   b", "<ol><li><p>a</p><p>b</p></li></ol>"},
		{"thematic break", "a\n\n---", "<p>a</p><hr>"},
		{"heading stays text", "# title", "# title"},
		{"html stays text", "<b>x</b>", "&lt;b&gt;x&lt;/b&gt;"},
		{"backslash escapes", `\*not\* \[Home] \_x\_ a\b`, `*not* [Home] _x_ a\b`},
		{"hard break", "a  \nb", "a<br>b"},
		{"markdown link", "[docs](https://example.com/d)", ext("https://example.com/d", "docs")},
		{"markdown link to site path", "[x](/pages/1)", ext("/pages/1", "x")},
		{"markdown link formatted label", "[**x** `y`](/p)", ext("/p", "<strong>x</strong> <code>y</code>")},
		{"markdown link escaped destination", `[x](/a\_b?c=1&amp;d)`, ext("/a_b?c=1&amp;d", "x")},
		{"markdown link with spaces", "[x](</a b>)", ext("/a%20b", "x")},
		{"markdown link title dropped", `[x](http://a.example "t")`, ext("http://a.example", "x")},
		{"markdown link javascript", "[x](javascript:alert(1))", "x"},
		{"markdown link relative refused", "[x](page)", "x"},
		{"markdown link empty label", "[](http://a.example)", ext("http://a.example", "http://a.example")},
		{"markdown link wins over wiki link", "[Home](https://example.com)", ext("https://example.com", "Home")},
		{"labelled markdown link", "[x|Home](http://e.example)", ext("http://e.example", "x|Home")},
		{"wiki link inside markdown link is text", "[see [Home]](https://example.com)", ext("https://example.com", "see [Home]")},
		{"url inside markdown link is text", "[http://a.example](https://b.example)", ext("https://b.example", "http://a.example")},
		{"image is a link", "![cat](https://example.com/cat.png)", `<a href="https://example.com/cat.png" class="external image"` + externalAttrs + `>cat</a>`},
		{"image without alt", "![](/x.png)", `<a href="/x.png" class="external image"` + externalAttrs + `>/x.png</a>`},
		{"image javascript", "![x](javascript:alert(1))", "x"},
		{"image inside link", "[![a](/i.png)](/p)", ext("/p", "a")},
		{"reference link", "[x][r]\n\n[r]: https://example.com", ext("https://example.com", "x")},
		{"shortcut reference beats wiki link", "[Home]\n\n[home]: /elsewhere", ext("/elsewhere", "Home")},
		{"undefined reference is a wiki link", "[x][nope] [Home][]", missingSpan + "x</span>" + missingSpan + `nope</span> <a href="/wiki/Home" class="wikilink">Home</a>[]`},
		{"reference javascript", "[x][r]\n\n[r]: javascript:alert(1)", "x"},
		{"only a definition", "[r]: /x", `<pre class="paste">[r]: /x</pre>`},
		{"autolink javascript", "<javascript:alert(1)>", "javascript:alert(1)"},
		{"autolink email", "<a@b.example>", "a@b.example"},
		{"emphasised links", "**[Home]** and *http://x.example*", `<strong><a href="/wiki/Home" class="wikilink">Home</a></strong> and <em>` + ext("http://x.example", "http://x.example") + "</em>"},
		{"url with underscores", "http://a.example/a_b_c", ext("http://a.example/a_b_c", "http://a.example/a_b_c")},
		{"url in strong", "**http://a.example**", "<strong>" + ext("http://a.example", "http://a.example") + "</strong>"},
		{"fenced code in a long message", "look:\n```\na\n\tb\nc\n```", "<p>look:</p><pre><code>a\n\tb\nc\n</code></pre>"},
		{"pasted log keeps asterisks", "a *b*\nc\nd\ne", `<pre class="paste">a *b*` + "\nc\nd\ne</pre>"},
		{"quotes nested too deep are a paste", strings.Repeat("> ", maxNesting+1) + "x", `<pre class="paste">` + strings.Repeat("&gt; ", maxNesting+1) + "x</pre>"},
		{"quotes nested to the limit", strings.Repeat(">", 3) + " x", "<blockquote><blockquote><blockquote><p>x</p></blockquote></blockquote></blockquote>"},
		{"too many delimiters are a paste", strings.Repeat("*a", maxDelimiters+1), `<pre class="paste">` + strings.Repeat("*a", maxDelimiters+1) + "</pre>"},

		// Lines and pastes.
		{"two lines", "a\nb", "a<br>b"},
		{"three lines", "a\nb\nc", "a<br>b<br>c"},
		{"four lines", "a\nb\nc\nd", `<pre class="paste">a` + "\nb\nc\nd</pre>"},
		{"crlf two lines", "a\r\nb\r\n", "a<br>b"},
		{"lone cr", "a\rb", "a<br>b"},
		{"crlf four lines", "a\r\nb\r\nc\r\nd\r\n", `<pre class="paste">a` + "\nb\nc\nd</pre>"},
		{"trailing newlines trimmed", "a\nb\n\n\n\n\n", "a<br>b"},
		{"leading newline dropped", "\na", "a"},
		{"blank line starts a paragraph", "a\n\nb", "<p>a</p><p>b</p>"},
		{"indented two lines", "x := 1\n  y()", `<pre class="paste">x := 1` + "\n  y()</pre>"},
		{"indented first line", "  hello", `<pre class="paste">  hello</pre>`},
		{"tab", "func f() {\n\treturn\n}", `<pre class="paste">func f() {` + "\n\treturn\n}</pre>"},
		{"single space indent is not paste", "a\n b", "a<br>b"},
		{"paste has no links", "[Home]\nhttp://example.com\nc\nd", `<pre class="paste">[Home]` + "\nhttp://example.com\nc\nd</pre>"},
		{"paste escapes", "</pre><script>\n  alert(1)", `<pre class="paste">&lt;/pre&gt;&lt;script&gt;` + "\n  alert(1)</pre>"},
		{"paste leading newline", "\n  x", `<pre class="paste">` + "\n\n  x</pre>"},
	}
	r := &Renderer{Resolver: fakeResolver()}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := r.Render(context.Background(), "page-1", tt.in)
			if err != nil {
				t.Fatalf("Render(%q) error: %v", tt.in, err)
			}
			if string(got) != tt.want {
				t.Errorf("Render(%q)\n got: %s\nwant: %s", tt.in, got, tt.want)
			}
			if _, err := checkSafeHTML(string(got)); err != nil {
				t.Errorf("Render(%q) = %s: unsafe: %v", tt.in, got, err)
			}
		})
	}
}

func TestRenderNilResolver(t *testing.T) {
	t.Parallel()
	for _, r := range []*Renderer{nil, {}} {
		got, err := r.Render(context.Background(), "p", "[Home] http://example.com")
		if err != nil {
			t.Fatal(err)
		}
		want := missingSpan + "Home</span> " + ext("http://example.com", "http://example.com")
		if string(got) != want {
			t.Errorf("got %s, want %s", got, want)
		}
	}
}

func TestRenderContext(t *testing.T) {
	t.Parallel()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Unix(0, 0))
	defer cancel2()

	// cancelDuring cancels the context from inside the resolver, the way a
	// client disconnect would while a lookup is in flight.
	cancelDuring := func() (context.Context, LinkResolver) {
		ctx, cancel := context.WithCancel(context.Background())
		return ctx, LinkResolverFunc(func(ctx context.Context, _, _ string) (Link, error) {
			cancel()
			return Link{}, errors.New("request aborted")
		})
	}
	tests := []struct {
		name string
		ctx  func() (context.Context, LinkResolver)
		in   string
		want error
	}{
		{"canceled before, no links", func() (context.Context, LinkResolver) { return canceled, fakeResolver() }, "plain", context.Canceled},
		{"canceled before, links", func() (context.Context, LinkResolver) { return canceled, fakeResolver() }, "[Home]", context.Canceled},
		{"deadline before", func() (context.Context, LinkResolver) { return expired, fakeResolver() }, "[Home]", context.DeadlineExceeded},
		{"canceled during lookup", cancelDuring, "[Home]", context.Canceled},
		{"resolver returns ctx error", func() (context.Context, LinkResolver) {
			return context.Background(), LinkResolverFunc(func(context.Context, string, string) (Link, error) {
				return Link{}, fmt.Errorf("lookup: %w", context.DeadlineExceeded)
			})
		}, "[Home]", context.DeadlineExceeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, res := tt.ctx()
			got, err := (&Renderer{Resolver: res}).Render(ctx, "page-1", tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Render error = %v, want %v", err, tt.want)
			}
			if got != "" {
				t.Errorf("Render returned output %q with error", got)
			}
		})
	}
}

func TestRenderResolvesEachTitleOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var calls []string
	r := &Renderer{Resolver: LinkResolverFunc(func(_ context.Context, from, title string) (Link, error) {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, from+":"+title)
		return Link{URL: "/w/" + title, Exists: true}, nil
	})}
	if _, err := r.Render(context.Background(), "pg", "[B] [A] [x|B] [ A ] [C]"); err != nil {
		t.Fatal(err)
	}
	want := []string{"pg:B", "pg:A", "pg:C"}
	if !slices.Equal(calls, want) {
		t.Errorf("resolver calls = %q, want %q", calls, want)
	}
}

func TestWikiLinks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"no links", nil},
		{"[B] [A] [x|B] [ A ] [C]", []string{"B", "A", "C"}},
		{"[https://example.com] [ ] [a|b|c]", nil},
		{"[A]\nb\nc\nd", nil}, // paste: no link processing
		{"[A]\r\n[B]", []string{"A", "B"}},
	}
	var r Renderer
	for _, tt := range tests {
		if got := r.WikiLinks(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("WikiLinks(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRenderDeterministic(t *testing.T) {
	t.Parallel()
	in := "[Home] [Nope] [New Page] http://example.com/(x) www.example.org [Broken]"
	r := &Renderer{Resolver: fakeResolver()}
	first, err := r.Render(context.Background(), "page-1", in)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		got, err := r.Render(context.Background(), "page-1", in)
		if err != nil {
			t.Fatal(err)
		}
		if got != first {
			t.Fatalf("non-deterministic output:\n%s\n%s", first, got)
		}
	}
}

// TestRenderLinearTime guards against quadratic rescanning. Each input used
// to (or could easily) make the scanner or goldmark re-read the rest of the
// message at every position; at this size a quadratic scan takes tens of
// seconds while a linear one takes milliseconds, so the generous bound is
// not flaky.
func TestRenderLinearTime(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("large inputs")
	}
	md := func(unit string) string { return strings.Repeat(unit, (maxMarkdownBytes-100)/len(unit)) }
	inputs := []string{
		strings.Repeat("(http://", 20000) + "%",
		strings.Repeat("(www.a", 20000) + "%",
		strings.Repeat("[", 100000),
		strings.Repeat("[a", 100000) + "]",
		"http://x" + strings.Repeat(")", 100000),
		strings.Repeat("[http://x%zz ", 10000) + "]",
		// Markdown, just under maxMarkdownBytes so goldmark sees them
		// unless a bound turns them into pastes: deep nesting, long
		// delimiter runs, unclosed brackets and code spans.
		md(">"), md("> "), md("- "), md("1. "), md("*a"), md("**a_"), md("_a*"), md("~~a"),
		md("`"), md("`a``"), md("[a]("), md("!["), md("[a]"), md("["), md("[a"), md("[a|"),
		md("<"), md("<a"), md("- a\n"), md("a\n"), md("[x]: /x\n") + md("[x]"), md(" http://a.example"),
	}
	r := &Renderer{Resolver: hostileResolver}
	for _, in := range inputs {
		start := time.Now()
		if _, err := r.Render(context.Background(), "p", in); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Render of %d bytes (%.20q...) took %v", len(in), in, d)
		}
	}
}
