// Package xmpptest is an XMPP client for tests, built on mellium.im/xmpp:
// it logs in to a test server over plain TCP (the test servers allow PLAIN
// without TLS on loopback), sends raw stanzas and waits for stanzas that
// match a condition.
package xmpptest

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"mellium.im/sasl"
	"mellium.im/xmlstream"
	"mellium.im/xmpp"
	"mellium.im/xmpp/jid"
)

// Stanza is a received stanza, generic enough to inspect anything.
type Stanza struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []Stanza   `xml:",any"`
	Text     string     `xml:",chardata"`
	// Raw is the stanza as received, for failure messages.
	Raw string `xml:"-"`
}

// Attr returns an unqualified attribute.
func (s *Stanza) Attr(name string) string {
	if s == nil {
		return ""
	}
	for _, a := range s.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// Child returns the first child with the local name (and namespace, if
// space is not empty), or nil.
func (s *Stanza) Child(space, local string) *Stanza {
	if s == nil {
		return nil
	}
	for i := range s.Children {
		c := &s.Children[i]
		if c.XMLName.Local == local && (space == "" || c.XMLName.Space == space) {
			return c
		}
	}
	return nil
}

// Find follows a path of local names from s ("x/item").
func (s *Stanza) Find(path string) *Stanza {
	cur := s
	for _, p := range strings.Split(path, "/") {
		cur = cur.Child("", p)
		if cur == nil {
			return nil
		}
	}
	return cur
}

// Codes are the MUC status codes in the stanza's x element.
func (s *Stanza) Codes() []string {
	var out []string
	if x := s.Child("http://jabber.org/protocol/muc#user", "x"); x != nil {
		for _, c := range x.Children {
			if c.XMLName.Local == "status" {
				out = append(out, c.Attr("code"))
			}
		}
	}
	return out
}

// HasCode reports whether the stanza carries the MUC status code.
func (s *Stanza) HasCode(code string) bool {
	for _, c := range s.Codes() {
		if c == code {
			return true
		}
	}
	return false
}

// Client is one logged-in XMPP resource.
type Client struct {
	t    testing.TB
	JID  jid.JID
	sess *xmpp.Session
	// ctx is the context of every Send, done when the test ends.
	ctx context.Context

	mu       sync.Mutex
	cond     *sync.Cond
	received []*Stanza
	taken    []bool
	closed   bool
}

// Dial logs user@domain/resource in at addr and closes the session when
// the test ends.
func Dial(t testing.TB, addr, address, password string) *Client {
	t.Helper()
	j, err := jid.Parse(address)
	if err != nil {
		t.Fatal(err)
	}
	// mellium watches a call's context in a goroutine that, should the
	// context be done by the time it looks, sets the connection's
	// deadline to the past and back: cancelling a context right after a
	// call returns can race with the next write and fail it with an i/o
	// timeout. So each context here ends with the test, not the call;
	// the login still gives up after 20 s.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	// Secure from the start: the test server accepts PLAIN on loopback
	// without TLS, which mellium otherwise refuses to attempt.
	sess, err := xmpp.NewSession(ctx, j.Domain(), j, conn, xmpp.Secure, xmpp.NewNegotiator(func(*xmpp.Session, *xmpp.StreamConfig) xmpp.StreamConfig {
		return xmpp.StreamConfig{Features: []xmpp.StreamFeature{
			xmpp.SASL("", password, sasl.Plain),
			xmpp.BindResource(),
		}}
	}))
	if err != nil {
		_ = conn.Close()
		t.Fatalf("log in %s: %v", address, err)
	}
	life, end := context.WithCancel(context.Background())
	t.Cleanup(end)
	c := &Client{t: t, JID: sess.LocalAddr(), sess: sess, ctx: life}
	c.cond = sync.NewCond(&c.mu)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sess.Serve(xmpp.HandlerFunc(c.handle))
		c.mu.Lock()
		c.closed = true
		c.cond.Broadcast()
		c.mu.Unlock()
	}()
	// Initial presence, so the server routes to this resource.
	c.Send(`<presence/>`)
	t.Cleanup(func() {
		c.Close()
		<-done
	})
	return c
}

// Close ends the session.
func (c *Client) Close() {
	_ = c.sess.Close()
	_ = c.sess.Conn().Close()
}

func (c *Client) handle(r xmlstream.TokenReadEncoder, start *xml.StartElement) error {
	var buf bytes.Buffer
	enc := xml.NewEncoder(&buf)
	if err := enc.EncodeToken(*start); err != nil {
		return err
	}
	if _, err := xmlstream.Copy(enc, xmlstream.Inner(r)); err != nil {
		return err
	}
	if err := enc.EncodeToken(start.End()); err != nil {
		return err
	}
	if err := enc.Flush(); err != nil {
		return err
	}
	s := &Stanza{Raw: buf.String()}
	if err := xml.Unmarshal(buf.Bytes(), s); err != nil {
		return err
	}
	c.mu.Lock()
	c.received = append(c.received, s)
	c.taken = append(c.taken, false)
	c.cond.Broadcast()
	c.mu.Unlock()
	// IQ requests to the client are answered so mellium does not
	// answer them with an error for us.
	if start.Name.Local == "iq" && (s.Attr("type") == "get" || s.Attr("type") == "set") {
		return r.Encode(struct {
			XMLName xml.Name `xml:"iq"`
			Type    string   `xml:"type,attr"`
			ID      string   `xml:"id,attr"`
			To      string   `xml:"to,attr,omitempty"`
		}{Type: "result", ID: s.Attr("id"), To: s.Attr("from")})
	}
	return nil
}

// Send sends a raw stanza; %s-style arguments are formatted in.
func (c *Client) Send(format string, args ...any) {
	c.t.Helper()
	raw := format
	if len(args) > 0 {
		raw = fmt.Sprintf(format, args...)
	}
	// Not cancelled when Send returns; see Dial.
	d := xml.NewDecoder(strings.NewReader(raw))
	if err := c.sess.Send(c.ctx, d); err != nil {
		c.t.Fatalf("%s: send %s: %v", c.JID, raw, err)
	}
}

// Expect waits for the first stanza not yet taken that match accepts,
// takes it and returns it; it fails the test after timeout.
func (c *Client) Expect(timeout time.Duration, what string, match func(*Stanza) bool) *Stanza {
	c.t.Helper()
	s := c.Wait(timeout, match)
	if s == nil {
		c.t.Fatalf("%s: no stanza %s within %v; received:\n%s", c.JID, what, timeout, c.Dump())
	}
	return s
}

// Wait is Expect without failing: nil after timeout.
func (c *Client) Wait(timeout time.Duration, match func(*Stanza) bool) *Stanza {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer timer.Stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		for i, s := range c.received {
			if !c.taken[i] && match(s) {
				c.taken[i] = true
				return s
			}
		}
		if c.closed || time.Now().After(deadline) {
			return nil
		}
		c.cond.Wait()
	}
}

// All returns every stanza received so far that match accepts, taken or
// not, without taking them.
func (c *Client) All(match func(*Stanza) bool) []*Stanza {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*Stanza
	for _, s := range c.received {
		if match(s) {
			out = append(out, s)
		}
	}
	return out
}

// Dump lists everything received, for failure messages.
func (c *Client) Dump() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	for i, s := range c.received {
		mark := " "
		if c.taken[i] {
			mark = "*"
		}
		fmt.Fprintf(&b, "%s %s\n", mark, s.Raw)
	}
	return b.String()
}
