package render

import (
	"strings"
	"unicode"

	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
)

// The Markdown dialect is CommonMark cut down to what chat users type:
// paragraphs, emphasis, strong emphasis, ~~strikethrough~~, code spans,
// fenced and indented code blocks, block quotes, lists, thematic breaks
// ("---"), links (inline, reference and <autolinks>) and images (shown as
// links). Headings and raw HTML are left out on purpose: "# 1 priority"
// and "<b>" typed in a chat mean what they say, so they stay text. Two
// inline parsers of this package add the wiki links and bare URLs.

// srcKey holds the normalised message text in the goldmark parse context,
// so the inline parsers can slice it without copying the rest of a line at
// every trigger character (which would make a long line quadratic).
var srcKey = parser.NewContextKey()

// mdParser is shared by every Render: goldmark parsers are safe for
// concurrent use once built.
var mdParser = parser.NewParser(
	parser.WithBlockParsers(
		util.Prioritized(parser.NewThematicBreakParser(), 200),
		util.Prioritized(parser.NewListParser(), 300),
		util.Prioritized(parser.NewListItemParser(), 400),
		util.Prioritized(parser.NewCodeBlockParser(), 500),
		util.Prioritized(parser.NewFencedCodeBlockParser(), 700),
		util.Prioritized(parser.NewBlockquoteParser(), 800),
		util.Prioritized(parser.NewParagraphParser(), 1000),
	),
	parser.WithInlineParsers(
		util.Prioritized(parser.NewCodeSpanParser(), 100),
		util.Prioritized(wikiLinkParser{}, 150),
		util.Prioritized(parser.NewLinkParser(), 200),
		util.Prioritized(parser.NewAutoLinkParser(), 300),
		util.Prioritized(parser.NewEmphasisParser(), 500),
		util.Prioritized(extension.NewStrikethroughParser(), 500),
		util.Prioritized(bareURLParser{}, 999),
	),
	parser.WithParagraphTransformers(
		util.Prioritized(parser.LinkReferenceParagraphTransformer, 100),
	),
)

// parseMarkdown parses a normalised message body.
func parseMarkdown(body string) (ast.Node, []byte) {
	src := []byte(body)
	pc := parser.NewContext()
	pc.Set(srcKey, body)
	return mdParser.Parse(text.NewReader(src), parser.WithContext(pc)), src
}

// kindWikiLink and kindBareURL are the AST node kinds this package adds.
var (
	kindWikiLink = ast.NewNodeKind("WikiLink")
	kindBareURL  = ast.NewNodeKind("BareURL")
)

// wikiLink is "[Title]" or "[label|Title]". src is the source text, shown
// instead of the link when it is beyond the link caps or inside another
// link.
type wikiLink struct {
	ast.BaseInline
	label, title, src string
}

func (n *wikiLink) Kind() ast.NodeKind { return kindWikiLink }

func (n *wikiLink) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Title": n.title, "Label": n.label}, nil)
}

// bareURL is an http(s):// or www. address typed as plain text.
type bareURL struct {
	ast.BaseInline
	text, href string
}

func (n *bareURL) Kind() ast.NodeKind { return kindBareURL }

func (n *bareURL) Dump(source []byte, level int) {
	ast.DumpHelper(n, source, level, map[string]string{"Href": n.href}, nil)
}

// lineAt returns the rest of the current line as a slice of the message
// text (no copy), or false when the reader's position does not map onto
// the text one to one (a tab expanded into spaces by a container block).
func lineAt(block text.Reader, pc parser.Context) (string, text.Segment, bool) {
	src, _ := pc.Get(srcKey).(string)
	_, seg := block.PeekLine()
	if seg.Padding != 0 || seg.Start < 0 || seg.Stop > len(src) || seg.Start >= seg.Stop {
		return "", seg, false
	}
	return src[seg.Start:seg.Stop], seg, true
}

// wikiLinkParser turns "[Title]" and "[label|Title]" into wiki links. It
// runs before goldmark's link parser and steps aside whenever Markdown
// would make a link of the brackets: "[text](url)", "[text][ref]" or
// "[ref]" with a matching reference definition in the message.
type wikiLinkParser struct{}

func (wikiLinkParser) Trigger() []byte { return []byte{'['} }

func (wikiLinkParser) Parse(_ ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, _, ok := lineAt(block, pc)
	if !ok {
		return nil
	}
	label, title, n, ok := parseWikiLink(line)
	if !ok || isMarkdownLink(line[:n], line[n:], pc) {
		return nil
	}
	block.Advance(n)
	return &wikiLink{label: label, title: title, src: line[:n]}
}

// isMarkdownLink reports whether the bracketed text br followed by rest
// is a Markdown link rather than a wiki link.
func isMarkdownLink(br, rest string, pc parser.Context) bool {
	if strings.HasPrefix(rest, "(") {
		return true
	}
	if strings.HasPrefix(rest, "[") {
		if end := strings.IndexByte(rest, ']'); end > 0 {
			ref := rest[1:end]
			if ref == "" { // collapsed: [label][]
				ref = br[1 : len(br)-1]
			}
			if _, ok := pc.Reference(util.ToLinkReference([]byte(ref))); ok {
				return true
			}
		}
	}
	_, ok := pc.Reference(util.ToLinkReference([]byte(br[1 : len(br)-1])))
	return ok
}

// bareURLParser links http://, https:// and www. addresses in text. It is
// called at the start of a line, after white space or punctuation and
// after any other inline element, which are exactly the places where
// atWordStart allows a URL to begin.
type bareURLParser struct{}

func (bareURLParser) Trigger() []byte {
	// ' ' stands for white space and the start of a line or inline run.
	// Punctuation that cannot be part of a word or host name comes too,
	// so "(http://x)" and "see:http://x" are linked.
	return []byte(" !\"#$%&'()*+,:;<=>?[]^`{|}~")
}

func (bareURLParser) Parse(parent ast.Node, block text.Reader, pc parser.Context) ast.Node {
	line, seg, ok := lineAt(block, pc)
	if !ok {
		return nil
	}
	prev := block.PrecendingCharacter()
	skip := 0
	if c := line[0]; c < utf8RuneSelf && (util.IsSpace(c) || util.IsPunct(c)) {
		// Called on the character before the URL: it stays text.
		skip, prev = 1, rune(c)
	}
	rest := line[skip:]
	if pc.IsInLinkLabel() {
		// In "[http://a](http://b)" the first URL ends at the bracket, so
		// the link can still form (it then shows the URL as its text).
		if end := strings.IndexByte(rest, ']'); end >= 0 {
			rest = rest[:end]
		}
	}
	if rest == "" || !strings.ContainsRune("hHwW", rune(rest[0])) || !urlMayStartAfter(prev) {
		return nil
	}
	disp, href, n := parseBareURL(rest)
	if n == 0 {
		return nil
	}
	if skip > 0 {
		ast.MergeOrAppendTextSegment(parent, seg.WithStop(seg.Start+skip))
	}
	start := seg.Start + skip
	block.Advance(skip + n)
	if href == "" {
		// Not a URL after all: keep the whole run as text so that no later
		// position inside it is tried again (see parseBareURL).
		return ast.NewTextSegment(text.NewSegment(start, start+n))
	}
	return &bareURL{text: disp, href: href}
}

// utf8RuneSelf is the first byte value that is not a one-byte rune.
const utf8RuneSelf = 0x80

// urlMayStartAfter reports whether a URL may start right after prev: at
// the start of the text or a line, or after a character that cannot be
// part of a word, host name or address, so "xhttp://", "a.www.b" and
// "me@www.example.com" are not linked.
func urlMayStartAfter(prev rune) bool {
	if prev == '\n' || prev == 0 {
		return true
	}
	if unicode.IsLetter(prev) || unicode.IsDigit(prev) {
		return false
	}
	return !strings.ContainsRune("_./@-\\", prev)
}
