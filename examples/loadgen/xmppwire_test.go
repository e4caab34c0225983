package main

import (
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestStanzaReaderSplitsTheStream(t *testing.T) {
	t.Parallel()
	stream := `<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='x1' version='1.0' xmlns:stream='http://etherx.jabber.org/streams'>` +
		`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>` +
		` ` + // a whitespace keepalive between stanzas
		`<message from='r@muc/a' type="groupchat" id='a>b'><body>lg|c1|5</body><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc' id='7'/></message>` +
		"\n<presence from='r@muc/b'/>" +
		`<iq type='result' id='q'><query><item name="it's"/></query></iq>` +
		`</stream:stream>`
	want := []string{
		`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`,
		`<message from='r@muc/a' type="groupchat" id='a>b'><body>lg|c1|5</body><stanza-id xmlns='urn:xmpp:sid:0' by='r@muc' id='7'/></message>`,
		`<presence from='r@muc/b'/>`,
		`<iq type='result' id='q'><query><item name="it's"/></query></iq>`,
	}
	// One byte per read: every element boundary falls between reads
	// somewhere, which is what a loaded connection does.
	r := newStanzaReader(iotest.OneByteReader(strings.NewReader(stream)))
	if err := r.header(); err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		el, err := r.next()
		if err != nil {
			t.Fatalf("element %d: %v", i, err)
		}
		if string(el) != w {
			t.Errorf("element %d:\n got %s\nwant %s", i, el, w)
		}
	}
	if _, err := r.next(); !errors.Is(err, errStreamEnd) {
		t.Errorf("after the last element: %v, want errStreamEnd", err)
	}
}

func TestStanzaReaderRefusesJunk(t *testing.T) {
	t.Parallel()
	for _, stream := range []string{
		"<stream:stream>text outside any stanza",
		"<stream:stream><!-- a comment -->",
		"<stream:stream><message><?pi?></message>",
	} {
		r := newStanzaReader(strings.NewReader(stream))
		if err := r.header(); err != nil {
			t.Fatal(err)
		}
		if el, err := r.next(); err == nil || errors.Is(err, errStreamEnd) {
			t.Errorf("%q: got %q, %v; want an error", stream, el, err)
		}
	}
}

func TestStanzaFields(t *testing.T) {
	t.Parallel()
	msg := []byte(`<message to='u@localhost/o1' type='groupchat' from='1.room@chat.localhost/bob'>` +
		`<body>lg|lg-run-r1-s2-3|1700000000</body>` +
		`<stanza-id xmlns='urn:xmpp:sid:0' by='u@localhost' id='abc'/>` +
		`<stanza-id by="1.room@chat.localhost" xmlns='urn:xmpp:sid:0' id="42"/>` +
		`<x xmlns='http://jabber.org/protocol/muc#user'><status code='100'/><status code='110'/></x></message>`)
	if got := string(elemName(msg)); got != "message" {
		t.Errorf("elemName = %q", got)
	}
	tests := []struct{ name, got, want string }{
		{"type", string(attr(msg, "type")), "groupchat"},
		{"from", string(attr(msg, "from")), "1.room@chat.localhost/bob"},
		{"attr of a child is not the root's", string(attr(msg, "by")), ""},
		{"missing attr", string(attr(msg, "id")), ""},
		{"stanza-id by the room", string(stanzaIDBy(msg, "1.room@chat.localhost")), "42"},
		{"stanza-id by someone else", string(stanzaIDBy(msg, "nobody")), ""},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if body, ok := childText(msg, "body"); !ok || string(body) != "lg|lg-run-r1-s2-3|1700000000" {
		t.Errorf("body = %q, %v", body, ok)
	}
	if _, ok := childText(msg, "subject"); ok {
		t.Error("found a subject that is not there")
	}
	if !hasStatus(msg, "110") || hasStatus(msg, "307") {
		t.Error("hasStatus does not see the status codes as they are")
	}
	if !isFrom(attr(msg, "from"), "1.room@chat.localhost") || isFrom(attr(msg, "from"), "1.room@chat.local") {
		t.Error("isFrom matches the wrong rooms")
	}
}

func TestLinkCode(t *testing.T) {
	t.Parallel()
	code, err := linkCode([]byte("Your code for linking this XMPP address to the wiki 2 is 042917. It expires in 15 minutes."))
	if err != nil || code != "042917" {
		t.Errorf("linkCode = %q, %v", code, err)
	}
	if _, err := linkCode([]byte("no code 12345 or 1234567 here")); !errors.Is(err, errNoCode) {
		t.Errorf("linkCode without a code: %v", err)
	}
}

func TestAppendEscaped(t *testing.T) {
	t.Parallel()
	got := string(appendEscaped(nil, `a<b>&'"c`))
	if want := "a&lt;b&gt;&amp;&apos;&quot;c"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}
