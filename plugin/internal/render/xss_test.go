package render

import (
	"context"
	"strings"
	"testing"
)

// xssInputs are classic injection attempts. Most are run against
// hostileResolver, which answers with the title itself as the URL (and a few
// fixed hostile URLs), so both the text path and the resolver path are
// attacked. They also seed FuzzRender.
var xssInputs = []string{
	`<script>alert(1)</script>`,
	`<img src=x onerror=alert(1)>`,
	`"><svg onload=alert(1)>`,
	`'><svg onload=alert(1)>`,
	`[x|javascript:alert(1)]`,
	`[javascript:alert(1)]`,
	`[x|hostile-attr]`,
	`[x|hostile-data]`,
	`[x|hostile-proto]`,
	`javascript:alert(1)`,
	`JaVaScRiPt:alert(1)`,
	`java	script:alert(1)`,
	`data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==`,
	`vbscript:msgbox(1)`,
	`http://x/"onmouseover="alert(1)`,
	`http://x/'onmouseover='alert(1)`,
	`http://example.com/<script>`,
	`http://example.com/?q=<script>alert(1)</script>`,
	"http://example.com/`onmouseover=alert(1)",
	`www.example.com/"><script>alert(1)</script>`,
	"</pre><script>alert(1)</script>\na\nb\nc",
	"  </pre><script>alert(1)</script>",
	"x\n\t<img src=x onerror=alert(1)>",
	`[<b>bold</b>]`,
	`[<b>bold</b>|<i>x</i>]`,
	`[x" onmouseover="alert(1)|Home]`,
	`[x|/ok" onmouseover="x]`,
	`&lt;script&gt;alert(1)&lt;/script&gt;`,
	`&#106;avascript:alert(1)`,
	"<scr\x00ipt>alert(1)</script>",
	"\x00<script>",
	"<!-- comment --> <![CDATA[x]]>",
	`<a href="javascript:alert(1)">x</a>`,
	`[x|http://evil.example/"onclick="alert(1)]`,
	"https://example.com/\u2028<script>",
	"http://[::1]/x http://[::1\" onmouseover=x]",

	// Markdown: links, images, autolinks, titles, code and emphasis.
	`[x](javascript:alert(1))`,
	`[x](JaVaScRiPt:alert(1))`,
	`[x](<javascript:alert(1)>)`,
	`[x](&#106;avascript:alert(1))`,
	`[x](javascript&#58;alert(1))`,
	`[x](javascript&colon;alert(1))`,
	`[x](java\script:alert(1))`,
	`[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)`,
	`[x](vbscript:msgbox(1))`,
	`[x](//evil.example/)`,
	`[x](/\evil.example/)`,
	`[x](http://a.example/"onmouseover="alert(1))`,
	`[x](http://a.example "a\" onmouseover=\"alert(1)")`,
	`[x](http://a.example 'x" onmouseover=alert(1)')`,
	`[x](http://a.example (<script>alert(1)</script>))`,
	`[<img src=x onerror=alert(1)>](http://a.example)`,
	`![x](javascript:alert(1))`,
	`![x" onerror="alert(1)](http://a.example/x.png)`,
	`![<img src=x onerror=alert(1)>](/x.png)`,
	`![x](http://a.example/x.png "<script>")`,
	`[![x](javascript:alert(1))](javascript:alert(2))`,
	`<javascript:alert(1)>`,
	`<JAVASCRIPT:alert(1)>`,
	`<data:text/html,<script>alert(1)</script>>`,
	`<http://a.example/"onmouseover="alert(1)>`,
	`<x@evil.example?"onmouseover="alert(1)>`,
	"`<script>alert(1)</script>`",
	"``<img src=x onerror=alert(1)>``",
	"```\n</code></pre><script>alert(1)</script>\n```",
	"```<script>\nx\n```",
	"~~~ \" onmouseover=\"x\n<svg onload=alert(1)>\n~~~",
	`***<script>alert(1)</script>***`,
	`**_<img src=x onerror=alert(1)>_**`,
	`~~<svg onload=alert(1)>~~`,
	"[x][r]\n\n[r]: javascript:alert(1)",
	"[r]\n\n[r]: data:text/html,<script>alert(1)</script>",
	"[x][r]\n\n[r]: http://a.example \"t\\\" onmouseover=\\\"x\"",
	"[x][]\n\n[x]: </\\evil.example>",
	"> <script>alert(1)</script>\n> [x|javascript:alert(1)]",
	"- <img src=x onerror=alert(1)>\n- [x](javascript:alert(1))",
	"1. <svg onload=alert(1)>\n2. `</li><script>`",
	"<div>\n<script>alert(1)</script>\n</div>",
	"<!-- x -->\n\n<?php x ?>",
	"\\<script>alert(1)\\</script>",
}

// hostileResolver returns a URL derived from the title (the title itself,
// or a fixed hostile URL for the hostile-* titles), so the validator sees
// attacker-controlled URLs, and says "exists" for titles of even length.
var hostileResolver = LinkResolverFunc(func(_ context.Context, _, title string) (Link, error) {
	exists := len(title)%2 == 0
	switch title {
	case "hostile-attr":
		return Link{URL: `"/ok" onmouseover="x`, Exists: true}, nil
	case "hostile-data":
		return Link{URL: "data:text/html,<script>alert(1)</script>"}, nil
	case "hostile-proto":
		return Link{URL: "//evil.example/", Exists: true}, nil
	}
	if strings.HasPrefix(title, "/") || len(title)%3 == 0 {
		return Link{URL: title, Exists: exists}, nil
	}
	return Link{URL: "/wiki/" + title, Exists: exists}, nil
})

func TestRenderXSS(t *testing.T) {
	t.Parallel()
	for _, res := range []LinkResolver{hostileResolver, nil} {
		r := &Renderer{Resolver: res}
		for _, in := range xssInputs {
			got, err := r.Render(context.Background(), "p", in)
			if err != nil {
				t.Fatalf("Render(%q): %v", in, err)
			}
			if _, err := checkSafeHTML(string(got)); err != nil {
				t.Errorf("Render(%q) = %s\nunsafe: %v", in, got, err)
			}
			lower := strings.ToLower(string(got))
			for _, bad := range []string{"<script", "<img", "<svg", "<b>", "<i>", `href="javascript`, `href="data`, `href="//`, `" on`} {
				if strings.Contains(lower, bad) {
					t.Errorf("Render(%q) = %s: contains %q", in, got, bad)
				}
			}
		}
	}
}

// TestCheckerRejects makes sure the checker itself is not vacuous.
func TestCheckerRejects(t *testing.T) {
	t.Parallel()
	bad := []string{
		`<script>alert(1)</script>`,
		`<img src=x>`,
		`<a href="javascript:alert(1)">x</a>`,
		`<a href=" JaVa&#39;Script:x">x</a>`,
		`<a href="java&#34;script:x">x</a>`,
		`<a href="//evil">x</a>`,
		`<a href="/x" onclick="y">x</a>`,
		`<a href="/x" style="y">x</a>`,
		`<a href='/x'>x</a>`,
		`<a href=/x>x</a>`,
		`<a href="/x" href="/y">x</a>`,
		`<a>x</a>`,
		`<span>x`,
		`<span>x</a>`,
		`<pre><a href="/x">x</a></pre>`,
		`<a href="/x"><a href="/y">x</a></a>`,
		`<br/>`,
		`a " b`,
		`a > b`,
		`&nbsp;`,
		`&#106;`,
		"a\x00b",
		"a\xffb",
		`<span title="a<b">x</span>`,
		"<a href=\"/x\ny\">x</a>",
		`<a href="/x y">x</a>`,
	}
	for _, s := range bad {
		if _, err := checkSafeHTML(s); err == nil {
			t.Errorf("checkSafeHTML(%q) accepted unsafe or malformed markup", s)
		}
	}
	good := `a &amp; <a href="/x?a=1&amp;b" class="wikilink">b</a><br><span class="wikilink missing" title="t">c</span><pre class="paste">` + "\n\nd</pre>"
	vis, err := checkSafeHTML(good)
	if err != nil {
		t.Fatalf("checkSafeHTML(good): %v", err)
	}
	if want := "a & b\nc\nd"; vis != want {
		t.Errorf("visible text = %q, want %q", vis, want)
	}
}
