package render

import (
	"html/template"
	"strconv"
	"strings"

	"github.com/yuin/goldmark/ast"
	extast "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/util"

	"github.com/pagechat/pagechat/internal/safeurl"
)

// htmlWriter writes a parsed message as HTML. It knows every node kind the
// parser can produce and writes only its own markup: text always goes
// through template.HTMLEscapeString, and URLs through safeurl.Href.
type htmlWriter struct {
	b      strings.Builder
	msg    *message
	links  map[string]Link
	limit  int
	depth  int
	inLink int  // > 0 inside a link: nested links are written as text
	failed bool // over the size limit or maxNesting
}

// children writes n's children.
func (w *htmlWriter) children(n ast.Node) {
	for c := n.FirstChild(); c != nil && !w.failed; c = c.NextSibling() {
		w.node(c)
	}
}

// wrap writes n's children between <tag> and </tag>.
func (w *htmlWriter) wrap(tag string, n ast.Node) {
	w.b.WriteString("<" + tag + ">")
	w.children(n)
	w.b.WriteString("</" + tag + ">")
}

func (w *htmlWriter) node(n ast.Node) {
	if w.b.Len() > w.limit {
		w.failed = true
		return
	}
	w.depth++
	defer func() { w.depth-- }()
	if w.depth > maxNesting {
		w.failed = true
		return
	}
	switch n.Kind() {
	case ast.KindParagraph:
		w.wrap("p", n)
	case ast.KindTextBlock:
		w.children(n)
	case ast.KindLinkReferenceDefinition:
		// Used by the links that name it; nothing to show.
	case ast.KindThematicBreak:
		w.b.WriteString("<hr>")
	case ast.KindBlockquote:
		w.wrap("blockquote", n)
	case ast.KindList:
		w.list(n.(*ast.List))
	case ast.KindListItem:
		w.wrap("li", n)
	case ast.KindFencedCodeBlock, ast.KindCodeBlock:
		w.b.WriteString("<pre><code>")
		lines := n.Lines()
		for i := 0; i < lines.Len(); i++ {
			seg := lines.At(i)
			w.b.WriteString(template.HTMLEscapeString(string(seg.Value(w.msg.src))))
		}
		w.b.WriteString("</code></pre>")
	case ast.KindText:
		w.text(n.(*ast.Text))
	case ast.KindString:
		w.b.WriteString(template.HTMLEscapeString(string(n.(*ast.String).Value)))
	case ast.KindCodeSpan:
		w.b.WriteString("<code>")
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			if t, ok := c.(*ast.Text); ok {
				v := strings.ReplaceAll(string(t.Segment.Value(w.msg.src)), "\n", " ")
				w.b.WriteString(template.HTMLEscapeString(v))
			}
		}
		w.b.WriteString("</code>")
	case ast.KindEmphasis:
		if n.(*ast.Emphasis).Level >= 2 {
			w.wrap("strong", n)
		} else {
			w.wrap("em", n)
		}
	case extast.KindStrikethrough:
		w.wrap("del", n)
	case ast.KindLink:
		w.link(n, n.(*ast.Link).Destination, false)
	case ast.KindImage:
		w.link(n, n.(*ast.Image).Destination, true)
	case ast.KindAutoLink:
		al := n.(*ast.AutoLink)
		label := string(al.Label(w.msg.src))
		href := safeurl.Href(string(al.URL(w.msg.src)))
		if al.AutoLinkType != ast.AutoLinkURL || href == "" || w.inLink > 0 || w.msg.capped[n] {
			w.b.WriteString(template.HTMLEscapeString(label))
			return
		}
		writeExternal(&w.b, href, label)
	case kindBareURL:
		u := n.(*bareURL)
		if w.inLink > 0 || w.msg.capped[n] {
			w.b.WriteString(template.HTMLEscapeString(u.text))
			return
		}
		writeExternal(&w.b, u.href, u.text)
	case kindWikiLink:
		wl := n.(*wikiLink)
		if w.inLink > 0 || w.msg.capped[n] {
			w.b.WriteString(template.HTMLEscapeString(wl.src))
			return
		}
		writeWiki(&w.b, w.links[wl.title], wl.label)
	default:
		// Nothing else is produced by mdParser; if a goldmark update adds
		// a node, show its text rather than guess at markup.
		if n.Type() == ast.TypeBlock && n.FirstChild() == nil {
			lines := n.Lines()
			for i := 0; i < lines.Len(); i++ {
				seg := lines.At(i)
				w.b.WriteString(template.HTMLEscapeString(string(seg.Value(w.msg.src))))
			}
			return
		}
		w.children(n)
	}
}

// list writes <ul> or <ol>, with the start number an ordered list was
// typed with.
func (w *htmlWriter) list(l *ast.List) {
	switch {
	case !l.IsOrdered():
		w.wrap("ul", l)
		return
	case l.Start == 1:
		w.wrap("ol", l)
		return
	}
	w.b.WriteString(`<ol start="` + strconv.Itoa(l.Start) + `">`)
	w.children(l)
	w.b.WriteString("</ol>")
}

// text writes a run of text with Markdown backslash escapes removed, and
// a line break where the message had one: chat users expect a newline to
// start a new line, not to be folded into the paragraph.
func (w *htmlWriter) text(t *ast.Text) {
	v := t.Segment.Value(w.msg.src)
	if !t.IsRaw() {
		v = unescapeBackslashes(v)
	}
	w.b.WriteString(template.HTMLEscapeString(string(v)))
	if t.SoftLineBreak() || t.HardLineBreak() {
		w.b.WriteString("<br>")
	}
}

// link writes a Markdown link or image. An image becomes a link to the
// image with its alt text as the label: the chat shows no remote images,
// so nobody can hotlink one into every reader's view (or learn who read a
// message from their image requests). A link that is capped, nested in
// another one or whose URL safeurl refuses becomes its text.
func (w *htmlWriter) link(n ast.Node, dest []byte, image bool) {
	href := safeurl.Href(linkDestination(dest))
	if href == "" || w.inLink > 0 || w.msg.capped[n] {
		w.inLink++
		w.children(n)
		w.inLink--
		return
	}
	w.b.WriteString(`<a href="`)
	w.b.WriteString(template.HTMLEscapeString(href))
	if image {
		w.b.WriteString(`" class="external image"` + externalAttrs + `>`)
	} else {
		w.b.WriteString(`" class="external"` + externalAttrs + `>`)
	}
	w.inLink++
	before := w.b.Len()
	w.children(n)
	w.inLink--
	if w.b.Len() == before {
		// "[](url)" or "![](url)": show the address rather than an
		// invisible link.
		w.b.WriteString(template.HTMLEscapeString(href))
	}
	w.b.WriteString(`</a>`)
}

// linkDestination turns a Markdown link destination into the URL it
// means: backslash escapes and character references resolved, then
// spaces and non-ASCII characters percent-encoded as browsers would.
func linkDestination(dest []byte) string {
	d := util.UnescapePunctuations(dest)
	d = util.ResolveNumericReferences(d)
	d = util.ResolveEntityNames(d)
	return string(util.URLEscape(d, false))
}

// unescapeBackslashes removes the backslash of each Markdown escape (a
// backslash before ASCII punctuation), so "\*" shows as "*".
func unescapeBackslashes(v []byte) []byte {
	i := 0
	for i < len(v) && v[i] != '\\' {
		i++
	}
	if i == len(v) {
		return v
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && util.IsPunct(v[i+1]) {
			i++
		}
		out = append(out, v[i])
	}
	return out
}
