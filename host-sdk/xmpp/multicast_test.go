package xmpp_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/host-sdk/xmpp"
	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/prosodytest"
	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

const nsAddress = "http://jabber.org/protocol/address"

// groupchatBodies is every groupchat message with a body c received, in
// order.
func groupchatBodies(c *xmpptest.Client) []*xmpptest.Stanza {
	return c.All(func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "message" && s.Attr("type") == "groupchat" && s.Child("", "body") != nil
	})
}

// TestMulticastFanOut: with the server's multicast module, browser and
// XMPP messages and presence reach every occupant's every resource once,
// in order, as they did one stanza each, while the component sent one
// multicast per fan-out (two when the batch is smaller than the room).
func TestMulticastFanOut(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		batch int
		per   int64 // multicast stanzas per fan-out to the four resources
	}{
		{"one batch", 0, 1},
		{"batches of three", 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := startBridgeWith(t, bridgeSetup{
				prosody:   prosodytest.Options{Multicast: true},
				multicast: true,
				configure: func(c *xmpp.Config) { c.MulticastBatch = tc.batch },
			})
			ctx := context.Background()
			laptop := b.client("alice", "laptop")
			b.join(laptop, "Alice", "maxstanzas='0'")
			phone := b.client("alice", "phone")
			b.join(phone, "Alice", "maxstanzas='0'")
			bob := b.client("bob", "r")
			b.join(bob, "Bob", "maxstanzas='0'")
			before := b.comp.Multicasts()
			carol := b.client("carol", "r")
			b.join(carol, "Carol", "maxstanzas='0'")
			// Carol's arrival, one presence for the three resources
			// already there.
			for _, c := range []*xmpptest.Client{laptop, phone, bob} {
				c.Expect(wait, "carol's arrival", func(s *xmpptest.Stanza) bool {
					return s.XMLName.Local == "presence" && s.Attr("from") == b.room+"/Carol" && s.Attr("type") == ""
				})
			}
			// Three resources: one stanza in either batch size.
			if got := b.comp.Multicasts() - before; got != 1 {
				t.Errorf("carol's arrival took %d multicast stanzas, want 1", got)
			}

			before = b.comp.Multicasts()
			const web, fromXMPP = 5, 3
			for i := 1; i <= web; i++ {
				if _, err := b.chat.Send(ctx, "carol", b.roomID, fmt.Sprint("w", i), fmt.Sprint("web ", i)); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range []*xmpptest.Client{laptop, phone, bob, carol} {
				c.Expect(wait, "the last browser message", groupchatWithBody(fmt.Sprint("web ", web)))
			}
			// One at a time: sends run concurrently, so only waiting for
			// each reflection fixes the room's order.
			for i := 1; i <= fromXMPP; i++ {
				bob.Send(`<message to='%s' type='groupchat' id='x%d'><body>xmpp %d</body><origin-id xmlns='urn:xmpp:sid:0' id='o%d'/></message>`, b.room, i, i, i)
				bob.Expect(wait, "the reflection", groupchatWithBody(fmt.Sprint("xmpp ", i)))
			}
			for _, c := range []*xmpptest.Client{laptop, phone, carol} {
				c.Expect(wait, "the last XMPP message", groupchatWithBody(fmt.Sprint("xmpp ", fromXMPP)))
			}
			if got, want := b.comp.Multicasts()-before, (web+fromXMPP)*tc.per; got != want {
				t.Errorf("%d messages took %d multicast stanzas, want %d", web+fromXMPP, got, want)
			}

			for _, c := range []*xmpptest.Client{laptop, phone, bob, carol} {
				got := groupchatBodies(c)
				if len(got) != web+fromXMPP {
					t.Fatalf("%s got %d messages, want %d:\n%s", c.JID, len(got), web+fromXMPP, c.Dump())
				}
				for i, s := range got {
					want := fmt.Sprint("web ", i+1)
					if i >= web {
						want = fmt.Sprint("xmpp ", i-web+1)
					}
					if body := s.Child("", "body").Text; body != want {
						t.Errorf("%s message %d is %q, want %q (order or duplicates)", c.JID, i, body, want)
					}
					if sid := s.Child("urn:xmpp:sid:0", "stanza-id"); sid == nil || sid.Attr("id") != strconv.Itoa(i+1) || sid.Attr("by") != b.room {
						t.Errorf("%s message %d stanza-id: %s", c.JID, i, s.Raw)
					}
					oid := s.Child("urn:xmpp:sid:0", "origin-id")
					if i >= web && (oid == nil || oid.Attr("id") != fmt.Sprint("o", i-web+1)) {
						t.Errorf("%s message %d lacks its origin-id: %s", c.JID, i, s.Raw)
					}
					if i < web && oid != nil {
						t.Errorf("%s browser message %d has an origin-id: %s", c.JID, i, s.Raw)
					}
					if s.Attr("to") != c.JID.String() {
						t.Errorf("%s message %d addressed to %q", c.JID, i, s.Attr("to"))
					}
					if s.Child(nsAddress, "addresses") != nil {
						t.Errorf("%s message %d still carries the address list: %s", c.JID, i, s.Raw)
					}
				}
			}

			// Bob leaves: later messages reach the others only.
			bob.Send(`<presence to='%s/Bob' type='unavailable'/>`, b.room)
			laptop.Expect(wait, "bob's leave", func(s *xmpptest.Stanza) bool {
				return s.Attr("from") == b.room+"/Bob" && s.Attr("type") == "unavailable"
			})
			if _, err := b.chat.Send(ctx, "carol", b.roomID, "after", "after bob left"); err != nil {
				t.Fatal(err)
			}
			for _, c := range []*xmpptest.Client{laptop, phone, carol} {
				c.Expect(wait, "the message after bob left", groupchatWithBody("after bob left"))
			}
			time.Sleep(200 * time.Millisecond)
			if n := len(bob.All(groupchatWithBody("after bob left"))); n != 0 {
				t.Errorf("bob got a message after he left:\n%s", bob.Dump())
			}
		})
	}
}

// TestMulticastRefusedToOthers: the module offers XEP-0033 but multicasts
// only for the senders it lists; a user's multicast is refused and
// delivers nothing, so it cannot be used to amplify.
func TestMulticastRefusedToOthers(t *testing.T) {
	t.Parallel()
	srv := prosodytest.Start(t, prosodytest.Options{Accounts: accounts, Multicast: true})
	alice := xmpptest.Dial(t, srv.C2SAddr, srv.JID("alice")+"/r", accounts["alice"])
	eve := xmpptest.Dial(t, srv.C2SAddr, srv.JID("eve")+"/r", accounts["eve"])

	eve.Send(`<iq type='get' id='info' to='%s'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>`, srv.Domain)
	info := eve.Expect(wait, "disco#info of the server", iqAnswer("info"))
	advertised := false
	if q := info.Child("http://jabber.org/protocol/disco#info", "query"); q != nil {
		for _, f := range q.Children {
			advertised = advertised || (f.XMLName.Local == "feature" && f.Attr("var") == nsAddress)
		}
	}
	if !advertised {
		t.Errorf("the server does not advertise %s: %s", nsAddress, info.Raw)
	}

	for _, typ := range []string{"message", "presence"} {
		eve.Send(`<%[1]s to='%[2]s' id='amp-%[1]s'><body>spam</body><addresses xmlns='%[3]s'><address type='bcc' jid='%[4]s/r'/><address type='to' jid='%[4]s'/></addresses></%[1]s>`,
			typ, srv.Domain, nsAddress, srv.JID("alice"))
		refusal := eve.Expect(wait, "the refusal of a "+typ, func(s *xmpptest.Stanza) bool { return s.Attr("id") == "amp-"+typ })
		if !isError("forbidden")(refusal) {
			t.Errorf("a user's multicast %s: %s", typ, refusal.Raw)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if got := alice.All(func(s *xmpptest.Stanza) bool {
		return strings.HasPrefix(s.Attr("from"), srv.JID("eve"))
	}); len(got) != 0 {
		t.Errorf("a refused multicast was delivered:\n%s", alice.Dump())
	}
}

// TestMulticastFallsBack: a component the module does not list, or one
// whose batches exceed the module's cap, sends one stanza per occupant
// and loses nothing after it noticed.
func TestMulticastFallsBack(t *testing.T) {
	t.Parallel()
	t.Run("not an allowed sender", func(t *testing.T) {
		t.Parallel()
		b := startBridgeWith(t, bridgeSetup{prosody: prosodytest.Options{Multicast: true, MulticastSenders: []string{"other.localhost"}}})
		testutil.Eventually(t, wait, func() bool {
			return strings.Contains(b.srv.Log(), "Refused a multicast from "+b.srv.ComponentDomain)
		}, "the component's probe refused")
		alice := b.client("alice", "r")
		b.join(alice, "Alice", "maxstanzas='0'")
		bob := b.client("bob", "r")
		b.join(bob, "Bob", "maxstanzas='0'")
		if _, err := b.chat.Send(context.Background(), "carol", b.roomID, "w", "per occupant"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*xmpptest.Client{alice, bob} {
			c.Expect(wait, "the message", groupchatWithBody("per occupant"))
		}
		if svc, n := b.comp.MulticastService(), b.comp.Multicasts(); svc != "" || n != 0 {
			t.Errorf("multicast through %q (%d stanzas) though the server refuses it", svc, n)
		}
	})
	t.Run("over the cap", func(t *testing.T) {
		t.Parallel()
		b := startBridgeWith(t, bridgeSetup{prosody: prosodytest.Options{Multicast: true, MulticastMax: 2}, multicast: true})
		ctx := context.Background()
		var clients []*xmpptest.Client
		for _, u := range []string{"alice", "bob", "carol"} {
			c := b.client(u, "r")
			b.join(c, strings.ToUpper(u[:1])+u[1:], "maxstanzas='0'")
			clients = append(clients, c)
		}
		// Three addresses where the module takes two: refused, and the
		// component goes back to one stanza per occupant.
		if _, err := b.chat.Send(ctx, "carol", b.roomID, "w1", "refused"); err != nil {
			t.Fatal(err)
		}
		testutil.Eventually(t, wait, func() bool { return b.comp.MulticastService() == "" }, "multicast given up")
		if _, err := b.chat.Send(ctx, "carol", b.roomID, "w2", "after the refusal"); err != nil {
			t.Fatal(err)
		}
		for _, c := range clients {
			c.Expect(wait, "the message after the refusal", groupchatWithBody("after the refusal"))
		}
		// A new connection tries again.
		connects := b.comp.Connects()
		b.comp.DropConnection()
		testutil.Eventually(t, wait, func() bool { return b.comp.Connects() > connects }, "reconnected")
		b.waitMulticast()
	})
}

// TestMulticastModuleDelivers drives the module from a client it allows
// (its domain listed): one copy per distinct address, without the address
// list, in order; bounces go back to the sender; the cap and a malformed
// address refuse the whole stanza.
func TestMulticastModuleDelivers(t *testing.T) {
	t.Parallel()
	srv := prosodytest.Start(t, prosodytest.Options{Accounts: accounts, Multicast: true, MulticastSenders: []string{"localhost"}, MulticastMax: 3})
	alice := xmpptest.Dial(t, srv.C2SAddr, srv.JID("alice")+"/r", accounts["alice"])
	bob := xmpptest.Dial(t, srv.C2SAddr, srv.JID("bob")+"/r", accounts["bob"])
	eve := xmpptest.Dial(t, srv.C2SAddr, srv.JID("eve")+"/r", accounts["eve"])
	address := func(typ, j string) string { return fmt.Sprintf(`<address type='%s' jid='%s'/>`, typ, j) }
	send := func(id, body string, addrs ...string) {
		eve.Send(`<message to='%s' id='%s' type='chat'><body>%s</body><addresses xmlns='%s'>%s</addresses></message>`,
			srv.Domain, id, body, nsAddress, strings.Join(addrs, ""))
	}
	chatWithBody := func(body string) func(*xmpptest.Stanza) bool {
		return func(s *xmpptest.Stanza) bool {
			return s.XMLName.Local == "message" && s.Child("", "body") != nil && s.Child("", "body").Text == body
		}
	}

	// alice twice (to and bcc), bob as cc, a replyto that is not a
	// recipient, and a user who does not exist.
	for i := 1; i <= 3; i++ {
		send(fmt.Sprint("m", i), fmt.Sprint("copy ", i),
			address("to", alice.JID.String()), address("cc", bob.JID.String()),
			address("bcc", alice.JID.String()), address("replyto", srv.JID("carol")),
			address("bcc", "nobody@"+srv.Domain+"/x"))
	}
	for _, c := range []*xmpptest.Client{alice, bob} {
		c.Expect(wait, "the last copy", chatWithBody("copy 3"))
		got := c.All(func(s *xmpptest.Stanza) bool { return strings.HasPrefix(s.Attr("from"), srv.JID("eve")) })
		if len(got) != 3 {
			t.Fatalf("%s got %d copies, want 3:\n%s", c.JID, len(got), c.Dump())
		}
		for i, s := range got {
			if body := s.Child("", "body").Text; body != fmt.Sprint("copy ", i+1) {
				t.Errorf("%s copy %d is %q (order)", c.JID, i, body)
			}
			if s.Attr("to") != c.JID.String() || s.Child(nsAddress, "addresses") != nil || s.Attr("id") != fmt.Sprint("m", i+1) {
				t.Errorf("%s copy %d: %s", c.JID, i, s.Raw)
			}
		}
	}
	for i := 1; i <= 3; i++ {
		bounce := eve.Expect(wait, "the bounce from the missing user", func(s *xmpptest.Stanza) bool {
			return s.Attr("id") == fmt.Sprint("m", i) && s.Attr("type") == "error"
		})
		if bounce.Attr("from") != "nobody@"+srv.Domain+"/x" {
			t.Errorf("bounce from %q, want the missing recipient", bounce.Attr("from"))
		}
	}

	// Over the cap of three, and a malformed address: refused whole.
	send("big", "too many", address("bcc", alice.JID.String()), address("bcc", bob.JID.String()),
		address("bcc", srv.JID("carol")+"/r"), address("bcc", srv.JID("eve")+"/x"))
	if s := eve.Expect(wait, "the refusal over the cap", func(s *xmpptest.Stanza) bool { return s.Attr("id") == "big" }); !isError("not-acceptable")(s) {
		t.Errorf("over the cap: %s", s.Raw)
	}
	// Twice: the module keeps prepared addresses, the refusals too.
	for _, id := range []string{"bad", "bad-again"} {
		send(id, "malformed", address("bcc", alice.JID.String()), address("bcc", "a@b@c"))
		if s := eve.Expect(wait, "the refusal of a malformed address", func(s *xmpptest.Stanza) bool { return s.Attr("id") == id }); !isError("jid-malformed")(s) {
			t.Errorf("malformed address (%s): %s", id, s.Raw)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for _, body := range []string{"too many", "malformed"} {
		if n := len(alice.All(chatWithBody(body))) + len(bob.All(chatWithBody(body))); n != 0 {
			t.Errorf("a refused multicast (%s) was delivered %d times", body, n)
		}
	}
}
