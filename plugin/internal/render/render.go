package render

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"strings"

	"github.com/yuin/goldmark/ast"

	"github.com/pagechat/pagechat/internal/safeurl"
)

// missingTitle is the tooltip on links to pages that do not exist, so the
// "missing" styling is explained to readers who do not know the convention.
const missingTitle = "Page does not exist"

// Link caps. Every distinct wiki title costs a host round trip when the
// message is sent, and every link adds markup to the stored HTML, so a
// message made of nothing but links ("[a] [b] [c] ...") must not turn into
// thousands of lookups and a page of markup. Links beyond a cap render as
// the text that was typed.
const (
	// MaxWikiTitles is the most distinct wiki titles resolved for one
	// message. A chat message that points people at pages names a handful;
	// 20 covers a list of related pages while holding a send to 20
	// lookups, not thousands.
	MaxWikiTitles = 20
	// MaxLinks is the most links (wiki and URL, repeats included) rendered
	// for one message. 100 is more than any message meant for people to
	// read, and bounds the markup links add to a few kilobytes beyond the
	// escaped text.
	MaxLinks = 100
)

// HTML size bound. Escaping alone can make text five times longer ('"'
// becomes "&#34;"), so the bound is five times the message plus an
// allowance for the links' markup. A rendering over the bound (links the
// resolver gave very long URLs, or Markdown whose markup outgrows its
// text, such as a list of empty items) falls back to the message as a
// paste, which is always within it.
const (
	// htmlPerTextByte is how many bytes of HTML one byte of message text
	// may become: the longest escape in html/template.
	htmlPerTextByte = 5
	// htmlLinkAllowance is the markup allowed on top for links: MaxLinks
	// links of about 80 bytes of tags each, with room for their URLs.
	htmlLinkAllowance = 16 << 10
)

// MaxHTMLBytes returns the most bytes of HTML Render returns for a message
// of textBytes bytes (after normalisation, which replaces an invalid byte
// with the three-byte U+FFFD, so for raw text pass three times its length).
// Storage and history replay can size themselves on it.
func MaxHTMLBytes(textBytes int) int {
	return htmlPerTextByte*textBytes + htmlLinkAllowance
}

// Renderer renders message text to HTML. The zero value is ready to use and
// renders every wiki link as missing; a nil *Renderer behaves the same.
// A Renderer holds no mutable state, so one value may be shared by many
// goroutines as long as its Resolver is safe for concurrent use.
type Renderer struct {
	// Resolver looks up wiki link titles. It may be nil: wiki links then
	// render as missing, which is correct for contexts without page access.
	Resolver LinkResolver
}

// Render returns the safe HTML for one message written on page pageID.
//
// The output contains only escaped text plus markup this package
// generates: the Markdown elements p, br, hr, strong, em, del, code, pre,
// blockquote, ul, ol and li; <a> for links (wiki links, typed URLs,
// Markdown links, autolinks and images, which become links to the image);
// <span class="wikilink missing"> for missing pages; and
// <pre class="paste"> wrapping whole pastes. A message that is a single
// paragraph is not wrapped in <p>. Identical text and identical resolver
// answers give byte-identical output, so the live view and the transcript
// pages agree.
//
// Each distinct wiki title is resolved once, in order of first appearance;
// only the first MaxWikiTitles titles and MaxLinks links are links, the
// rest stay the text that was typed. The result is at most MaxHTMLBytes
// of the text's length, counting each control character or invalid byte
// as the three bytes of the U+FFFD that replaces it; a rendering over it
// (or nested deeper than maxNesting) is replaced by the message as a
// paste.
// A resolver error renders that link as missing instead of failing the
// message; the only errors returned are context errors (ctx done, or the
// resolver reporting context.Canceled / context.DeadlineExceeded), because
// then the caller is giving up and a half-resolved rendering must not be
// mistaken for the real one (for example, written into a transcript).
func (r *Renderer) Render(ctx context.Context, pageID, text string) (template.HTML, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("render: %w", err)
	}
	msg := parse(text)
	if msg.body == "" {
		return "", nil
	}
	if msg.paste {
		return renderPaste(msg.body), nil
	}
	links, err := r.resolve(ctx, pageID, msg.titles)
	if err != nil {
		return "", err
	}
	w := htmlWriter{msg: &msg, links: links, limit: MaxHTMLBytes(len(msg.body))}
	w.b.Grow(len(msg.body) + len(msg.body)/4)
	if single := onlyParagraph(msg.doc); single != nil {
		w.children(single)
	} else {
		w.children(msg.doc)
	}
	if w.failed || w.b.Len() > w.limit || w.b.Len() == 0 {
		// Too big, too deep, or nothing visible (a message made only of a
		// reference definition): show what was typed.
		return renderPaste(msg.body), nil
	}
	return template.HTML(w.b.String()), nil
}

// onlyParagraph returns the document's paragraph if that is all it shows,
// so that a one-paragraph message, by far the most common, renders as its
// text with no <p> around it.
func onlyParagraph(doc ast.Node) ast.Node {
	var only ast.Node
	for c := doc.FirstChild(); c != nil; c = c.NextSibling() {
		if c.Kind() == ast.KindLinkReferenceDefinition {
			continue
		}
		if only != nil {
			return nil
		}
		only = c
	}
	if only == nil || only.Kind() != ast.KindParagraph {
		return nil
	}
	return only
}

// maxNesting bounds how deeply quotes, lists and inline elements may nest.
// Chat needs two or three levels; ">>>>>>>>..." or "- - - - ..." thousands
// deep would otherwise nest thousands of elements for a few bytes each.
const maxNesting = 32

// message is a parsed message: either a paste (body only) or a Markdown
// document. Parsing needs no resolver, so WikiLinks and Render share it and
// always agree on what is a link.
type message struct {
	paste bool
	body  string
	doc   ast.Node
	src   []byte
	// capped are the links beyond MaxWikiTitles distinct titles or
	// MaxLinks links in all, which render as the text that was typed.
	capped map[ast.Node]bool
	// titles are the distinct wiki titles to resolve, in order.
	titles []string
}

// parse normalises text, decides between paste and Markdown, and applies
// the link caps.
func parse(text string) message {
	body := normalize(text)
	if body == "" {
		return message{}
	}
	if isPaste(body) || tooComplex(body) {
		return message{paste: true, body: body}
	}
	doc, src := parseMarkdown(body)
	m := message{body: body, doc: doc, src: src, capped: map[ast.Node]bool{}}
	m.capLinks()
	return m
}

// capLinks walks the document in reading order and marks the links beyond
// the caps. Links inside a Markdown link are text, so they do not count.
func (m *message) capLinks() {
	seen := map[string]bool{}
	links, inLink := 0, 0
	count := func(n ast.Node, title string) {
		newTitle := title != "" && !seen[title]
		if links >= MaxLinks || (newTitle && len(m.titles) >= MaxWikiTitles) {
			m.capped[n] = true
			return
		}
		if newTitle {
			seen[title] = true
			m.titles = append(m.titles, title)
		}
		links++
	}
	_ = ast.Walk(m.doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		switch n.Kind() {
		case ast.KindLink, ast.KindImage:
			if !entering {
				inLink--
				return ast.WalkContinue, nil
			}
			if inLink == 0 {
				count(n, "")
			}
			inLink++
		case ast.KindAutoLink, kindBareURL:
			if entering && inLink == 0 {
				count(n, "")
			}
		case kindWikiLink:
			if entering && inLink == 0 {
				count(n, n.(*wikiLink).title)
			}
		}
		return ast.WalkContinue, nil
	})
}

// WikiLinks returns the distinct wiki page titles referenced by text, in
// order of first appearance, exactly as Render would pass them to the
// resolver. Callers can use it to resolve or prefetch titles in one batch
// (for example, before rendering a whole day's transcript). Pastes have no
// links, so it returns nil for them.
func (r *Renderer) WikiLinks(text string) []string {
	return parse(text).titles
}

// resolve looks up every distinct wiki title once. Links whose lookup
// failed are absent from the map, which renders them as missing.
func (r *Renderer) resolve(ctx context.Context, pageID string, titles []string) (map[string]Link, error) {
	links := map[string]Link{}
	var res LinkResolver
	if r != nil {
		res = r.Resolver
	}
	if res == nil || len(titles) == 0 {
		return links, nil
	}
	if batch, ok := res.(BatchLinkResolver); ok {
		return resolveBatch(ctx, batch, pageID, titles)
	}
	for _, title := range titles {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("render: %w", err)
		}
		link, err := res.ResolveLink(ctx, pageID, title)
		if err != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, fmt.Errorf("render: resolving %q: %w", title, cerr)
			}
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, fmt.Errorf("render: resolving %q: %w", title, err)
			}
			continue // any other failure: render as missing
		}
		links[title] = link
	}
	return links, nil
}

// resolveBatch resolves every distinct title of a message in one call. As
// with one call per title, a failure other than the context's renders the
// links as missing rather than failing the message.
func resolveBatch(ctx context.Context, res BatchLinkResolver, pageID string, titles []string) (map[string]Link, error) {
	links := map[string]Link{}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	answers, err := res.ResolveLinks(ctx, pageID, titles)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("render: resolving %d links: %w", len(titles), cerr)
		}
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("render: resolving %d links: %w", len(titles), err)
		}
		return links, nil // any other failure: render all as missing
	}
	for i, title := range titles {
		if i < len(answers) {
			links[title] = answers[i]
		}
	}
	return links, nil
}

// renderPaste wraps a whole message in <pre>. The HTML parser drops one
// newline directly after <pre>, so a body that starts with a blank line gets
// an extra newline to keep it.
func renderPaste(body string) template.HTML {
	lead := ""
	if strings.HasPrefix(body, "\n") {
		lead = "\n"
	}
	return template.HTML(`<pre class="paste">` + lead + template.HTMLEscapeString(body) + `</pre>`)
}

// externalAttrs follow the class of every link to a URL typed in a
// message.
const externalAttrs = ` rel="nofollow noopener" target="_blank"`

// writeExternal writes a link to a URL found in the text. nofollow keeps
// chat from being used for link spam; noopener with target="_blank" stops
// the opened page from navigating the chat window.
func writeExternal(b *strings.Builder, href, text string) {
	b.WriteString(`<a href="`)
	b.WriteString(template.HTMLEscapeString(href))
	b.WriteString(`" class="external"` + externalAttrs + `>`)
	b.WriteString(template.HTMLEscapeString(text))
	b.WriteString(`</a>`)
}

// writeWiki writes a wiki link. The resolver's URL is re-checked here, not
// trusted: an existing page with an unusable URL renders as missing, as
// does a missing page without a usable creation URL.
func writeWiki(b *strings.Builder, link Link, label string) {
	label = template.HTMLEscapeString(label)
	usable := safeurl.Href(link.URL) != ""
	switch {
	case usable && link.Exists:
		b.WriteString(`<a href="`)
		b.WriteString(template.HTMLEscapeString(link.URL))
		b.WriteString(`" class="wikilink">`)
		b.WriteString(label)
		b.WriteString(`</a>`)
	case usable:
		b.WriteString(`<a href="`)
		b.WriteString(template.HTMLEscapeString(link.URL))
		b.WriteString(`" class="wikilink missing" title="` + missingTitle + `">`)
		b.WriteString(label)
		b.WriteString(`</a>`)
	default:
		b.WriteString(`<span class="wikilink missing" title="` + missingTitle + `">`)
		b.WriteString(label)
		b.WriteString(`</span>`)
	}
}
