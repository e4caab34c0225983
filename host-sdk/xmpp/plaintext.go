package xmpp

import (
	"net/url"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

// maxPlainNodes bounds the HTML nodes plainText walks, so a huge message
// costs bounded work; beyond it the message's source text is used.
const maxPlainNodes = 20000

// plainText is the message as an XMPP body: plain text only, never markup
// (clients show the body as text, and no XHTML-IM is sent). Links the
// plugin resolved in its HTML (wiki links, URLs) become "text (URL)" with
// URLs made absolute against base, and an upload its name and URL.
func plainText(m hostsdk.Message, base *url.URL) string {
	t := m.Text
	if strings.Contains(m.HTML, "<a ") || strings.Contains(m.HTML, "<img ") {
		if s, ok := htmlToText(m.HTML, base); ok {
			t = s
		}
	}
	if m.File != nil {
		u := absolute(m.File.URL, base)
		if !strings.Contains(t, u) {
			if t != "" {
				t += "\n"
			}
			t += m.File.Name + " " + u
		}
	}
	return t
}

// htmlToText renders the plugin's message HTML as text.
func htmlToText(src string, base *url.URL) (string, bool) {
	nodes, err := html.ParseFragment(strings.NewReader(src), &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div})
	if err != nil {
		return "", false
	}
	var b strings.Builder
	count := 0
	var walk func(n *html.Node) bool
	walk = func(n *html.Node) bool {
		if count++; count > maxPlainNodes {
			return false
		}
		switch n.Type {
		case html.TextNode:
			b.WriteString(n.Data)
			return true
		case html.ElementNode:
		default:
			return true
		}
		switch n.Data {
		case "br":
			b.WriteString("\n")
			return true
		case "img":
			alt, srcURL := attr(n, "alt"), absolute(attr(n, "src"), base)
			b.WriteString(strings.TrimSpace(alt + " " + srcURL))
			return true
		case "script", "style":
			return true
		}
		block := n.Data == "p" || n.Data == "div" || n.Data == "li" || n.Data == "pre" || n.Data == "blockquote" || strings.HasPrefix(n.Data, "h") && len(n.Data) == 2
		if block && b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
			b.WriteString("\n")
		}
		start := b.Len()
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if !walk(c) {
				return false
			}
		}
		if n.Data == "a" {
			href := absolute(attr(n, "href"), base)
			text := b.String()[start:]
			// A bare URL shows itself already (possibly without its
			// scheme); anything else gets its target added.
			shown := strings.Contains(text, href) || href == "https://"+text || href == "http://"+text
			if href != "" && !shown {
				b.WriteString(" (" + href + ")")
			}
		}
		return true
	}
	for _, n := range nodes {
		if !walk(n) {
			return "", false
		}
	}
	return strings.TrimRight(b.String(), "\n"), true
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

// absolute resolves a link against base (the host's public URL), so a
// wiki link like /pages/2 is usable from an XMPP client.
func absolute(ref string, base *url.URL) string {
	if ref == "" || base == nil {
		return ref
	}
	u, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return base.ResolveReference(u).String()
}
