package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// The XMPP side of the tool reads its streams with the small scanner in
// this file instead of an XML library. At 100 rooms × 20 occupants and
// 2,000 messages a second the occupants receive 40,000 stanzas a second,
// on the same two cores as the servers being measured: a token-based
// decoder allocating per element and attribute would cost the tool more
// than the bridge it measures. The scanner only finds where each top-level
// element of the stream ends and hands out its bytes; the few values the
// tool needs (a stanza's type, the stanza-id, the body) are then found in
// those bytes without copying. It relies on what every XMPP stream
// guarantees (RFC 6120 §11: no comments, processing instructions or DTDs
// after the stream header) and on the tool's own message bodies needing no
// escapes.

// errStreamEnd is the peer's </stream:stream>.
var errStreamEnd = errors.New("XMPP stream closed by the server")

// maxStanzaBytes bounds one stanza. The tool's own messages are small; a
// bigger one is a broken server, not something to buffer without end.
const maxStanzaBytes = 1 << 20

// stanzaReader splits an XMPP stream into its top-level elements.
type stanzaReader struct {
	rd         io.Reader
	buf        []byte
	start, end int // buf[start:end] is read but not yet handed out
}

func newStanzaReader(rd io.Reader) *stanzaReader {
	// 16 KiB holds a burst of stanzas, so most reads return many at once.
	return &stanzaReader{rd: rd, buf: make([]byte, 16<<10)}
}

// fill reads more into the buffer, first moving what is unread to its
// front and growing it when it is full.
func (r *stanzaReader) fill() error {
	if r.start > 0 {
		r.end = copy(r.buf, r.buf[r.start:r.end])
		r.start = 0
	}
	if r.end == len(r.buf) {
		if len(r.buf) >= maxStanzaBytes {
			return fmt.Errorf("XMPP stanza larger than %d bytes", maxStanzaBytes)
		}
		grown := make([]byte, 2*len(r.buf))
		copy(grown, r.buf[:r.end])
		r.buf = grown
	}
	n, err := r.rd.Read(r.buf[r.end:])
	r.end += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// header reads the server's stream header (with an XML declaration before
// it, if any) and discards it.
func (r *stanzaReader) header() error {
	for {
		b := r.buf[r.start:r.end]
		i := bytes.Index(b, []byte("<stream:stream"))
		if i >= 0 {
			if n, ok := tagEnd(b[i:]); ok {
				r.start += i + n
				return nil
			}
		} else if j := bytes.Index(b, []byte("<stream:error")); j >= 0 {
			return fmt.Errorf("XMPP stream error: %s", b[j:])
		}
		if err := r.fill(); err != nil {
			return fmt.Errorf("reading the XMPP stream header: %w", err)
		}
	}
}

// next returns the next top-level element, a stanza or a stream-level
// element such as <stream:features/>. The bytes are valid only until the
// next call. It returns errStreamEnd at </stream:stream>.
func (r *stanzaReader) next() ([]byte, error) {
	for {
		n, status := scanElement(r.buf[r.start:r.end])
		switch status {
		case scanComplete:
			el := r.buf[r.start+n-elementLen(r.buf[r.start:r.start+n]) : r.start+n]
			r.start += n
			return el, nil
		case scanStreamEnd:
			return nil, errStreamEnd
		case scanBad:
			return nil, fmt.Errorf("XMPP stream: unreadable data %q", clip(r.buf[r.start:r.end], 80))
		}
		if err := r.fill(); err != nil {
			return nil, err
		}
	}
}

type scanStatus int

const (
	scanMore scanStatus = iota
	scanComplete
	scanStreamEnd
	scanBad
)

// scanElement finds the end of the first element in b, after any
// whitespace (servers send a space as a keepalive). n is where it ends.
func scanElement(b []byte) (n int, _ scanStatus) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	if i == len(b) {
		return 0, scanMore
	}
	if b[i] != '<' {
		return 0, scanBad
	}
	depth := 0
	for i < len(b) {
		lt := bytes.IndexByte(b[i:], '<')
		if lt < 0 {
			return 0, scanMore
		}
		i += lt
		if i+1 >= len(b) {
			return 0, scanMore
		}
		switch b[i+1] {
		case '/':
			gt := bytes.IndexByte(b[i:], '>')
			if gt < 0 {
				return 0, scanMore
			}
			if depth == 0 {
				return i + gt + 1, scanStreamEnd
			}
			i += gt + 1
			depth--
		case '?', '!':
			return 0, scanBad
		default:
			m, ok := tagEnd(b[i:])
			if !ok {
				return 0, scanMore
			}
			selfClosing := b[i+m-2] == '/'
			i += m
			if !selfClosing {
				depth++
			}
		}
		if depth == 0 {
			return i, scanComplete
		}
	}
	return 0, scanMore
}

// elementLen is the length of the element that ends b, after leading
// whitespace.
func elementLen(b []byte) int {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return len(b) - i
}

// tagEnd returns the length of the tag that starts b, up to and including
// its '>', skipping quoted attribute values.
func tagEnd(b []byte) (int, bool) {
	var quote byte
	for i := 1; i < len(b); i++ {
		c := b[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '>':
			return i + 1, true
		}
	}
	return 0, false
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\r' || c == '\t' }

// elemName is the (prefixed) name of the element el starts with.
func elemName(el []byte) []byte {
	if len(el) < 2 || el[0] != '<' {
		return nil
	}
	i := 1
	for i < len(el) && !isSpace(el[i]) && el[i] != '/' && el[i] != '>' {
		i++
	}
	return el[1:i]
}

// findTag returns the first start tag in el (el itself included) named
// name, up to its '>'; nil if there is none.
func findTag(el []byte, name string) []byte {
	for i := 0; i < len(el); {
		j := bytes.IndexByte(el[i:], '<')
		if j < 0 {
			return nil
		}
		i += j
		rest := el[i+1:]
		if len(rest) > len(name) && string(rest[:len(name)]) == name {
			if c := rest[len(name)]; isSpace(c) || c == '/' || c == '>' {
				if n, ok := tagEnd(el[i:]); ok {
					return el[i : i+n]
				}
				return nil
			}
		}
		i++
	}
	return nil
}

// attr returns the value of the attribute name in the start tag that tag
// begins with (a tag as findTag returns it, or a whole element), still
// escaped; nil if it has none.
func attr(tag []byte, name string) []byte {
	i := 1
	for i < len(tag) && !isSpace(tag[i]) && tag[i] != '/' && tag[i] != '>' {
		i++
	}
	for i < len(tag) {
		for i < len(tag) && isSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || tag[i] == '>' || tag[i] == '/' {
			return nil // the end of the start tag: children are not searched
		}
		eq := bytes.IndexByte(tag[i:], '=')
		if eq < 0 {
			return nil
		}
		key := bytes.TrimRight(tag[i:i+eq], " \t\r\n")
		i += eq + 1
		for i < len(tag) && isSpace(tag[i]) {
			i++
		}
		if i >= len(tag) || (tag[i] != '\'' && tag[i] != '"') {
			return nil
		}
		q := tag[i]
		end := bytes.IndexByte(tag[i+1:], q)
		if end < 0 {
			return nil
		}
		if string(key) == name {
			return tag[i+1 : i+1+end]
		}
		i += end + 2
	}
	return nil
}

// childText returns the character data of the first element named name in
// el, still escaped, up to its first child or its end; ok is false when
// there is no such element.
func childText(el []byte, name string) (text []byte, ok bool) {
	tag := findTag(el, name)
	if tag == nil {
		return nil, false
	}
	if tag[len(tag)-2] == '/' {
		return nil, true
	}
	start := len(tag) + offsetOf(el, tag)
	end := bytes.IndexByte(el[start:], '<')
	if end < 0 {
		return nil, false
	}
	return el[start : start+end], true
}

// offsetOf is where sub (a subslice of b) starts in b.
func offsetOf(b, sub []byte) int {
	return cap(b) - cap(sub)
}

// atoiBytes parses a positive decimal number without allocating.
func atoiBytes(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// appendEscaped appends s to b with XML's five special characters escaped,
// valid in both character data and attribute values.
func appendEscaped(b []byte, s string) []byte {
	for i := range len(s) {
		switch c := s[i]; c {
		case '&':
			b = append(b, "&amp;"...)
		case '<':
			b = append(b, "&lt;"...)
		case '>':
			b = append(b, "&gt;"...)
		case '\'':
			b = append(b, "&apos;"...)
		case '"':
			b = append(b, "&quot;"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// clip shortens b for an error message.
func clip(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
