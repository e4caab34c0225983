package xmpp

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Namespaces the bridge speaks.
const (
	nsMUC       = "http://jabber.org/protocol/muc"
	nsMUCUser   = "http://jabber.org/protocol/muc#user"
	nsDiscoInfo = "http://jabber.org/protocol/disco#info"
	nsDiscoItem = "http://jabber.org/protocol/disco#items"
	nsStanzas   = "urn:ietf:params:xml:ns:xmpp-stanzas"
	nsSID       = "urn:xmpp:sid:0"
	nsDelay     = "urn:xmpp:delay"
	nsMAM       = "urn:xmpp:mam:2"
	nsRSM       = "http://jabber.org/protocol/rsm"
	nsForward   = "urn:xmpp:forward:0"
	nsPing      = "urn:xmpp:ping"
	nsDataForm  = "jabber:x:data"
	nsComponent = "jabber:component:accept"
	nsClient    = "jabber:client"
	nsServer    = "jabber:server"
	nsStream    = "http://etherx.jabber.org/streams"
)

// Limits on what one incoming stanza may hold, so a hostile peer cannot
// make the bridge build a huge tree.
const (
	maxStanzaDepth    = 16
	maxStanzaChildren = 256
)

// elem is one XML element, generic enough for every stanza the bridge reads
// or writes. Outgoing stanzas are always built from scratch: nothing a
// client sent is copied through except plain text, so no markup can be
// injected into what other occupants receive.
type elem struct {
	Name     xml.Name
	Attrs    []xml.Attr
	Children []*elem
	Text     string
}

// el builds an element; attrs are name, value pairs.
func el(space, local string, attrs ...string) *elem {
	e := &elem{Name: xml.Name{Space: space, Local: local}}
	for i := 0; i+1 < len(attrs); i += 2 {
		if attrs[i+1] != "" {
			e.Attrs = append(e.Attrs, xml.Attr{Name: xml.Name{Local: attrs[i]}, Value: attrs[i+1]})
		}
	}
	return e
}

// add appends children and returns e.
func (e *elem) add(children ...*elem) *elem {
	for _, c := range children {
		if c != nil {
			e.Children = append(e.Children, c)
		}
	}
	return e
}

// text sets e's character data and returns e.
func (e *elem) text(s string) *elem {
	e.Text = s
	return e
}

// attr returns the value of the unqualified attribute name; "" on a nil
// element, so lookups can chain through optional children.
func (e *elem) attr(name string) string {
	if e == nil {
		return ""
	}
	for _, a := range e.Attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			return a.Value
		}
	}
	return ""
}

// setAttr sets (or replaces) an unqualified attribute.
func (e *elem) setAttr(name, value string) {
	for i, a := range e.Attrs {
		if a.Name.Local == name && a.Name.Space == "" {
			e.Attrs[i].Value = value
			return
		}
	}
	e.Attrs = append(e.Attrs, xml.Attr{Name: xml.Name{Local: name}, Value: value})
}

// child returns the first child with the given namespace and local name.
func (e *elem) child(space, local string) *elem {
	if e == nil {
		return nil
	}
	for _, c := range e.Children {
		if c.Name.Local == local && c.Name.Space == space {
			return c
		}
	}
	return nil
}

// childText is the text of child(space, local), "" if absent.
func (e *elem) childText(space, local string) string {
	if c := e.child(space, local); c != nil {
		return c.Text
	}
	return ""
}

// errStanzaTooComplex refuses stanzas nested or branching past the limits.
var errStanzaTooComplex = errors.New("stanza too deeply nested or too many children")

// readElem reads the element that start opened from d, up to its end.
// Character data outside the leaves is dropped.
func readElem(d xml.TokenReader, start xml.StartElement) (*elem, error) {
	return readElemDepth(d, start, 0)
}

func readElemDepth(d xml.TokenReader, start xml.StartElement, depth int) (*elem, error) {
	if depth > maxStanzaDepth {
		return nil, errStanzaTooComplex
	}
	e := &elem{Name: start.Name}
	switch e.Name.Space {
	case nsComponent, nsClient, nsServer:
		// The stream's default namespace: stanzas and their body,
		// subject and error children are handled alike.
		e.Name.Space = ""
	}
	for _, a := range start.Attr {
		if a.Name.Space == "xmlns" || (a.Name.Space == "" && a.Name.Local == "xmlns") {
			continue
		}
		e.Attrs = append(e.Attrs, a)
	}
	var text strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if len(e.Children) >= maxStanzaChildren {
				return nil, errStanzaTooComplex
			}
			c, err := readElemDepth(d, t, depth+1)
			if err != nil {
				return nil, err
			}
			e.Children = append(e.Children, c)
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			e.Text = text.String()
			return e, nil
		}
	}
}

// parseElem parses one element from raw XML (tests and the fuzz target).
func parseElem(raw []byte) (*elem, error) {
	d := xml.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := d.Token()
		if err != nil {
			return nil, err
		}
		if s, ok := tok.(xml.StartElement); ok {
			return readElem(d, s)
		}
	}
}

// encode writes e as tokens. The top-level stanza has no namespace, so it
// takes the stream's (jabber:component:accept); children carry their own.
func (e *elem) encode(w interface{ EncodeToken(xml.Token) error }) error {
	start := xml.StartElement{Name: xml.Name{Local: e.Name.Local}, Attr: e.Attrs}
	if e.Name.Space != "" {
		start.Attr = append([]xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: e.Name.Space}}, e.Attrs...)
	}
	if err := w.EncodeToken(start); err != nil {
		return err
	}
	if e.Text != "" {
		if err := w.EncodeToken(xml.CharData(e.Text)); err != nil {
			return err
		}
	}
	for _, c := range e.Children {
		if err := c.encode(w); err != nil {
			return err
		}
	}
	return w.EncodeToken(xml.EndElement{Name: xml.Name{Local: e.Name.Local}})
}

// String renders e as XML, for logs and tests.
func (e *elem) String() string {
	var b bytes.Buffer
	enc := xml.NewEncoder(&b)
	if err := e.encode(enc); err != nil {
		return fmt.Sprintf("<!-- %v -->", err)
	}
	_ = enc.Flush()
	return b.String()
}

// stanzaError builds the error reply to stanza in: the same kind, from and
// to swapped, with the condition and a human-readable text.
func stanzaError(in *elem, typ, condition, text string) *elem {
	out := el("", in.Name.Local, "from", in.attr("to"), "to", in.attr("from"), "id", in.attr("id"), "type", "error")
	e := el("", "error", "type", typ).add(el(nsStanzas, condition))
	if text != "" {
		e.add(el(nsStanzas, "text").text(text))
	}
	return out.add(e)
}
