package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil/prosodytest"
	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

// freeAddr is a loopback address with a port nothing listens on now: the
// wiki needs a fixed address to make the links in alerts absolute.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestXMPPAlertsAndMarkers runs the wiki with the bridge against a real
// Prosody: a mention posted in the browser reaches the mentioned user's
// XMPP client from the bot with the absolute link to the message; a user
// who turned alerts off, and one whose JID is not verified, get nothing
// over XMPP while the wiki's bell lists the notification; and a XEP-0333
// displayed marker sent to the room clears the unread count the wiki shows.
func TestXMPPAlertsAndMarkers(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary and Prosody")
	}
	t.Parallel()
	srv := prosodytest.Start(t, prosodytest.Options{Accounts: map[string]string{"alice": "pa", "bob": "pb", "carol": "pc"}})
	plugin := buildPlugin(t)
	data := t.TempDir()
	secret := filepath.Join(data, "xmpp-secret")
	if err := os.WriteFile(secret, []byte(srv.Secret), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	wh := start(t, []string{"-addr", addr, "-data", data, "-plugin", plugin,
		"-xmpp-server", srv.ComponentAddr, "-xmpp-domain", srv.ComponentDomain, "-xmpp-secret-file", secret})
	if wh.base != "http://"+addr {
		t.Fatalf("wiki listens on %s, want %s", wh.base, addr)
	}
	const wait = 20 * time.Second
	bot := "bot@" + srv.ComponentDomain
	fromBot := func(substr string) func(*xmpptest.Stanza) bool {
		return func(s *xmpptest.Stanza) bool {
			return s.XMLName.Local == "message" && strings.HasPrefix(s.Attr("from"), bot) && s.Attr("type") == "chat" &&
				s.Child("", "body") != nil && strings.Contains(s.Child("", "body").Text, substr)
		}
	}
	clients := map[string]*xmpptest.Client{}
	for user, pw := range map[string]string{"alice": "pa", "bob": "pb", "carol": "pc"} {
		clients[user] = xmpptest.Dial(t, srv.C2SAddr, srv.JID(user)+"/test", pw)
	}
	alice := clients["alice"]
	// alice and bob link and verify; carol links and never verifies.
	for _, user := range []string{"alice", "bob", "carol"} {
		wh.eventually("bridge connected", func() bool {
			code, _ := wh.request("PUT", "/api/me/xmpp", user, map[string]string{"jid": srv.JID(user)})
			return code == http.StatusAccepted
		})
		m := codeRE.FindStringSubmatch(clients[user].Expect(wait, user+"'s code", fromBot("code")).Child("", "body").Text)
		if m == nil {
			t.Fatalf("no code in the bot's message to %s", user)
		}
		if user != "carol" {
			wh.do("POST", "/api/me/xmpp/verify", user, map[string]string{"code": m[1]}, http.StatusOK)
		}
	}
	wh.do("GET", "/pages/1", "alice", nil, http.StatusOK) // shows the demo page's macro, which opens the room
	msgs := "/chat/api/rooms/1.team-room/messages"
	post := func(user, clientID, text string) uint64 {
		t.Helper()
		var out struct{ Seq uint64 }
		wh.decode(wh.do("POST", msgs, user, map[string]string{"text": text, "client_id": clientID}, http.StatusOK), &out)
		return out.Seq
	}
	bell := func(user string, seq uint64) {
		t.Helper()
		wh.eventually(fmt.Sprintf("%s's bell lists message %d", user, seq), func() bool {
			return strings.Contains(wh.do("GET", "/api/notifications", user, nil, http.StatusOK), fmt.Sprintf("#m-%d", seq))
		})
	}

	// A mention in the browser: alice's client gets it from the bot.
	seq := post("bob", "a1", "@alice can you look at this?")
	got := alice.Expect(wait, "alert for the mention", fromBot("mentioned you"))
	link := fmt.Sprintf("http://%s/chat/rooms/1.team-room#m-%d", addr, seq)
	if body := got.Child("", "body").Text; !strings.Contains(body, link) || !strings.Contains(body, "can you look at this?") {
		t.Errorf("alert %q lacks the text or the link %s", body, link)
	}
	bell("alice", seq)

	// carol's JID is not verified: her bell has it, her client does not.
	carolSeq := post("alice", "a2", "@carol and you?")
	bell("carol", carolSeq)
	// bob turned alerts off: the same.
	if got := wh.do("PUT", "/api/me/xmpp/alerts", "bob", map[string]bool{"enabled": false}, http.StatusOK); !strings.Contains(got, `"alerts":false`) {
		t.Errorf("turning bob's alerts off: %s", got)
	}
	bobSeq := post("alice", "a3", "@bob and you?")
	bell("bob", bobSeq)
	// Alerts go out in order, so once a later one arrives the earlier ones
	// were sent or dropped; and what the bot sends one client arrives in
	// order, so the answer to "help" comes after any earlier alert.
	last := post("carol", "a4", "@alice once more")
	alice.Expect(wait, "a later alert", fromBot(fmt.Sprintf("#m-%d", last)))
	for user, s := range map[string]uint64{"carol": carolSeq, "bob": bobSeq} {
		c := clients[user]
		c.Send(`<message to='%s' type='chat' id='h'><body>help</body></message>`, bot)
		c.Expect(wait, "help", fromBot("unmute"))
		if n := len(c.All(fromBot(fmt.Sprintf("#m-%d", s)))); n != 0 {
			t.Errorf("%s got %d alerts over XMPP:\n%s", user, n, c.Dump())
		}
	}

	// Reading over XMPP: alice joins the room; a displayed marker for the
	// last message clears her unread count in the wiki.
	roomJID := "1.team-room@" + srv.ComponentDomain
	alice.Send(`<presence to='%s/alice'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>`, roomJID)
	alice.Expect(wait, "subject", func(s *xmpptest.Stanza) bool { return s.Child("", "subject") != nil })
	unread := func() string {
		var info struct {
			Unread int `json:"unread"`
		}
		wh.decode(wh.do("GET", "/chat/api/rooms/1.team-room", "alice", nil, http.StatusOK), &info)
		page := wh.do("GET", "/pages/1", "alice", nil, http.StatusOK)
		shown := ""
		if i := strings.Index(page, `<span class="pagechat-unread">`); i >= 0 {
			shown, _, _ = strings.Cut(page[i+len(`<span class="pagechat-unread">`):], "<")
		}
		return fmt.Sprintf("%d|%s", info.Unread, shown)
	}
	// bob's and carol's messages; alice's own do not count.
	if u := unread(); u != "2|2 new" {
		t.Errorf("alice's unread before reading: %s, want 2 shown as 2 new", u)
	}
	alice.Send(`<message to='%s' type='groupchat' id='r1'><displayed xmlns='urn:xmpp:chat-markers:0' id='%d'/></message>`, roomJID, last)
	wh.eventually("the marker clears alice's unread count", func() bool { return unread() == "0|" })
}
