package xmpp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil/prosodytest"
	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

const nsAddress = "http://jabber.org/protocol/address"

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
