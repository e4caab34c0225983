package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// xmppAccount is one XMPP user the tool logs in as.
type xmppAccount struct {
	user, domain, password string
}

func (a xmppAccount) bare() string { return a.user + "@" + a.domain }

// xmppConn is one logged-in client-to-server stream, written by hand (see
// xmppwire.go for why): plain TCP, SASL PLAIN, resource binding. It is
// only for test servers on loopback that allow PLAIN without TLS, which
// is what scripts/loadtest.sh and the tests start.
type xmppConn struct {
	conn net.Conn
	r    *stanzaReader
	jid  string // full JID after binding

	wmu  sync.Mutex
	wbuf []byte
}

// xmppDialTimeout bounds one connection's log-in.
const xmppDialTimeout = 30 * time.Second

// dialXMPP connects to addr and logs acct in with the resource. With
// register it first creates the account by in-band registration
// (XEP-0077); an account that exists already is used as it is.
func dialXMPP(ctx context.Context, addr string, acct xmppAccount, resource string, register bool) (*xmppConn, error) {
	d := net.Dialer{Timeout: 10 * time.Second}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("XMPP %s: %w", addr, err)
	}
	deadline := time.Now().Add(xmppDialTimeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	_ = nc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	c := &xmppConn{conn: nc, r: newStanzaReader(nc)}
	err = c.login(acct, resource, register)
	stop()
	if err != nil {
		_ = nc.Close()
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("XMPP log-in as %s: %w", acct.bare(), err)
	}
	_ = nc.SetDeadline(time.Time{})
	return c, nil
}

// open sends a stream header and reads the server's header and features.
func (c *xmppConn) open(domain string) ([]byte, error) {
	if err := c.writeString("<?xml version='1.0'?><stream:stream to='" + domain +
		"' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"); err != nil {
		return nil, err
	}
	if err := c.r.header(); err != nil {
		return nil, err
	}
	el, err := c.r.next()
	if err != nil {
		return nil, err
	}
	if string(elemName(el)) != "stream:features" {
		return nil, fmt.Errorf("expected stream features, got %q", clip(el, 200))
	}
	return el, nil
}

func (c *xmppConn) login(acct xmppAccount, resource string, register bool) error {
	if _, err := c.open(acct.domain); err != nil {
		return err
	}
	if register {
		if err := c.register(acct); err != nil {
			return err
		}
	}
	auth := base64.StdEncoding.EncodeToString([]byte("\x00" + acct.user + "\x00" + acct.password))
	if err := c.writeString("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + auth + "</auth>"); err != nil {
		return err
	}
	el, err := c.r.next()
	if err != nil {
		return err
	}
	if string(elemName(el)) != "success" {
		return fmt.Errorf("SASL PLAIN refused (wrong password, or no such account: the load test's Prosody registers them with -xmpp-register): %s", clip(el, 200))
	}
	// A new stream after authentication (RFC 6120 §6.4.6).
	if _, err := c.open(acct.domain); err != nil {
		return err
	}
	b := append([]byte(nil), "<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>"...)
	b = appendEscaped(b, resource)
	b = append(b, "</resource></bind></iq>"...)
	if err := c.write(b); err != nil {
		return err
	}
	el, err = c.r.next()
	if err != nil {
		return err
	}
	jid, ok := childText(el, "jid")
	if string(elemName(el)) != "iq" || string(attr(el, "type")) != "result" || !ok {
		return fmt.Errorf("resource binding failed: %s", clip(el, 200))
	}
	c.jid = string(jid)
	return nil
}

// register creates acct by in-band registration. A conflict means the
// account exists (a run before this one made it); log-in then checks the
// password.
func (c *xmppConn) register(acct xmppAccount) error {
	b := append([]byte(nil), "<iq type='set' id='reg'><query xmlns='jabber:iq:register'><username>"...)
	b = appendEscaped(b, acct.user)
	b = append(b, "</username><password>"...)
	b = appendEscaped(b, acct.password)
	b = append(b, "</password></query></iq>"...)
	if err := c.write(b); err != nil {
		return err
	}
	el, err := c.r.next()
	if err != nil {
		return err
	}
	switch {
	case string(attr(el, "type")) == "result":
		return nil
	case findTag(el, "conflict") != nil:
		return nil
	}
	return fmt.Errorf("in-band registration refused (does the server allow it? scripts/loadtest.sh sets allow_registration): %s", clip(el, 300))
}

// write sends one or more whole stanzas. Writers are serialised so a
// sender and the reader answering the server never interleave bytes.
func (c *xmppConn) write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("XMPP write: %w", err)
	}
	return nil
}

func (c *xmppConn) writeString(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := c.conn.Write([]byte(s)); err != nil {
		return fmt.Errorf("XMPP write: %w", err)
	}
	return nil
}

// sendGroupchat sends one groupchat message to room with the stanza id
// and body, reusing the connection's buffer so a send allocates nothing.
func (c *xmppConn) sendGroupchat(room, id, body string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := append(c.wbuf[:0], "<message type='groupchat' to='"...)
	b = appendEscaped(b, room)
	b = append(b, "' id='"...)
	b = appendEscaped(b, id)
	b = append(b, "'><body>"...)
	b = appendEscaped(b, body)
	b = append(b, "</body></message>"...)
	c.wbuf = b
	if _, err := c.conn.Write(b); err != nil {
		return fmt.Errorf("XMPP write: %w", err)
	}
	return nil
}

// close ends the stream politely and closes the connection. The write
// deadline comes first: it also ends a send blocked on a server that has
// stopped reading, which holds the lock.
func (c *xmppConn) close() {
	_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
	c.wmu.Lock()
	_, _ = c.conn.Write([]byte("</stream:stream>"))
	c.wmu.Unlock()
	_ = c.conn.Close()
}

// joinPresence is the presence that joins room (a room JID) as nick,
// asking for up to 500 messages of history: a fresh room has none, and an
// occupant that joins late gets what it missed, as the SSE subscribers do
// with ?after=0.
func joinPresence(room, nick string) []byte {
	b := append([]byte(nil), "<presence to='"...)
	b = appendEscaped(b, room+"/"+nick)
	return append(b, "'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='500'/></x></presence>"...)
}

// errNoCode means the bot's message held no code.
var errNoCode = errors.New("no six-digit code in the bot's message")

// linkCode finds the verification code in the bot's message text: the
// first run of exactly six digits.
func linkCode(text []byte) (string, error) {
	for i := 0; i < len(text); {
		if text[i] < '0' || text[i] > '9' {
			i++
			continue
		}
		j := i
		for j < len(text) && text[j] >= '0' && text[j] <= '9' {
			j++
		}
		if j-i == 6 {
			return string(text[i:j]), nil
		}
		i = j
	}
	return "", fmt.Errorf("%w: %q", errNoCode, clip(text, 200))
}

// isFrom reports whether a stanza's from attribute is bare or a full JID
// of it.
func isFrom(from []byte, bare string) bool {
	rest, ok := bytes.CutPrefix(from, []byte(bare))
	return ok && (len(rest) == 0 || rest[0] == '/')
}
