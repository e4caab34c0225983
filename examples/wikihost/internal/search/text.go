package search

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// StripHTML returns the text of an HTML fragment with the markup removed,
// for indexing pages the chat plugin writes as HTML (transcripts). Tags
// other than inline ones become a space so that words in adjacent cells
// or list items do not run together; script and style contents are
// dropped.
func StripHTML(s string) string {
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0 // depth inside <script> or <style>
	for {
		switch tt := z.Next(); tt {
		case html.ErrorToken:
			// io.EOF, or malformed input: what was read so far is the text.
			return strings.Join(strings.Fields(b.String()), " ")
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			a := atom.Lookup(name)
			if a == atom.Script || a == atom.Style {
				if tt == html.StartTagToken {
					skip++
				} else if tt == html.EndTagToken && skip > 0 {
					skip--
				}
			}
			if !inline[a] {
				b.WriteByte(' ')
			}
		}
	}
}

// inline are the elements that sit inside a run of text, so "<b>Bob</b>:"
// stays "Bob:".
var inline = map[atom.Atom]bool{
	atom.A: true, atom.Abbr: true, atom.B: true, atom.Code: true, atom.Em: true, atom.I: true,
	atom.Mark: true, atom.S: true, atom.Small: true, atom.Span: true, atom.Strong: true,
	atom.Sub: true, atom.Sup: true, atom.Time: true, atom.U: true,
}
