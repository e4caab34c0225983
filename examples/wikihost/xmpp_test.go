package main

import (
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil/prosodytest"
	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

func TestXMPPFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-plugin", "x", "-xmpp-server", "127.0.0.1:5347"}, "-xmpp-domain"},
		{[]string{"-plugin", "x", "-xmpp-domain", "chat.example.org"}, "-xmpp-server"},
	} {
		if _, err := parseFlags(tt.args, nil); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q): %v, want an error mentioning %q", tt.args, err, tt.want)
		}
	}
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

// TestXMPPBridge runs the wiki with the bridge against a real Prosody and
// goes through what a user does: link a JID (code by the bot, verified in
// the wiki or by answering the bot), join the demo room from an XMPP
// client, chat both ways with the browser API, see the room's XMPP link on
// the page, and lose access on unlinking.
func TestXMPPBridge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary and Prosody")
	}
	t.Parallel()
	srv := prosodytest.Start(t, prosodytest.Options{Accounts: map[string]string{"alice": "pa", "bob": "pb"}})
	plugin := buildPlugin(t)
	data := t.TempDir()
	secret := filepath.Join(data, "xmpp-secret")
	if err := os.WriteFile(secret, []byte(srv.Secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wh := start(t, []string{"-addr", "127.0.0.1:0", "-data", data, "-plugin", plugin,
		"-xmpp-server", srv.ComponentAddr, "-xmpp-domain", srv.ComponentDomain, "-xmpp-secret-file", secret})
	const wait = 20 * time.Second
	bot := "bot@" + srv.ComponentDomain
	fromBot := func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "message" && strings.HasPrefix(s.Attr("from"), bot) && s.Child("", "body") != nil
	}

	// alice links in the wiki with the code the bot sent.
	alice := xmpptest.Dial(t, srv.C2SAddr, srv.JID("alice")+"/test", "pa")
	wh.eventually("bridge connected", func() bool {
		code, _ := wh.request("PUT", "/api/me/xmpp", "alice", map[string]string{"jid": srv.JID("alice")})
		return code == http.StatusAccepted
	})
	m := codeRE.FindStringSubmatch(alice.Expect(wait, "code from the bot", fromBot).Child("", "body").Text)
	if m == nil {
		t.Fatal("the bot's message has no code")
	}
	if got := wh.do("GET", "/api/me/xmpp", "alice", nil, http.StatusOK); !strings.Contains(got, `"verified":false`) {
		t.Errorf("before verifying: %s", got)
	}
	wh.do("POST", "/api/me/xmpp/verify", "alice", map[string]string{"code": "12345x"}, http.StatusBadRequest)
	if got := wh.do("POST", "/api/me/xmpp/verify", "alice", map[string]string{"code": m[1]}, http.StatusOK); !strings.Contains(got, `"verified":true`) {
		t.Errorf("verify: %s", got)
	}
	// Nobody else can take alice's JID.
	wh.do("PUT", "/api/me/xmpp", "carol", map[string]string{"jid": srv.JID("alice")}, http.StatusConflict)

	// bob links by answering the bot.
	bobc := xmpptest.Dial(t, srv.C2SAddr, srv.JID("bob")+"/test", "pb")
	wh.do("PUT", "/api/me/xmpp", "bob", map[string]string{"jid": srv.JID("bob")}, http.StatusAccepted)
	m = codeRE.FindStringSubmatch(bobc.Expect(wait, "bob's code", fromBot).Child("", "body").Text)
	bobc.Send(`<message to='%s' type='chat' id='c'><body>%s</body></message>`, bot, m[1])
	bobc.Expect(wait, "linked", func(s *xmpptest.Stanza) bool {
		return fromBot(s) && strings.Contains(s.Child("", "body").Text, "now linked")
	})
	if got := wh.do("GET", "/api/me/xmpp", "bob", nil, http.StatusOK); !strings.Contains(got, `"verified":true`) {
		t.Errorf("bob after answering the bot: %s", got)
	}

	// The demo room, from XMPP and the browser together.
	roomJID := "1.team-room@" + srv.ComponentDomain
	page := wh.do("GET", "/pages/1", "alice", nil, http.StatusOK)
	if !strings.Contains(page, "xmpp:"+roomJID+"?join") {
		t.Errorf("the demo page does not offer the room's XMPP link")
	}
	alice.Send(`<presence to='%s/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, roomJID)
	alice.Expect(wait, "subject", func(s *xmpptest.Stanza) bool { return s.Child("", "subject") != nil })
	msgs := "/chat/api/rooms/1.team-room/messages"
	wh.do("POST", msgs, "carol", map[string]string{"text": "hello <script>alert(1)</script> see [Welcome to pagechat]", "client_id": "w1"}, http.StatusOK)
	got := alice.Expect(wait, "browser message", func(s *xmpptest.Stanza) bool {
		return s.Attr("type") == "groupchat" && s.Child("", "body") != nil && strings.Contains(s.Child("", "body").Text, "hello")
	})
	// Plain text, the wiki link as its title and URL (relative: the wiki
	// listens on port 0, so it has no fixed public address).
	if body := got.Child("", "body").Text; body != "hello <script>alert(1)</script> see Welcome to pagechat (/pages/1)" {
		t.Errorf("body: %q", body)
	}
	if strings.Contains(got.Raw, "<script>") || got.Child("http://jabber.org/protocol/xhtml-im", "html") != nil {
		t.Errorf("markup reached the XMPP client: %s", got.Raw)
	}
	alice.Send(`<message to='%s' type='groupchat' id='x1'><body>hello from xmpp</body></message>`, roomJID)
	alice.Expect(wait, "reflection", func(s *xmpptest.Stanza) bool {
		return s.Attr("type") == "groupchat" && s.Child("", "body") != nil && s.Child("", "body").Text == "hello from xmpp"
	})
	if h := wh.do("GET", msgs, "carol", nil, http.StatusOK); !strings.Contains(h, "hello from xmpp") || !strings.Contains(h, `"user_id":"alice"`) {
		t.Errorf("browser history lacks the XMPP message: %s", h)
	}

	// Unlinked: the JID no longer maps to alice.
	wh.do("DELETE", "/api/me/xmpp", "alice", nil, http.StatusNoContent)
	alice2 := xmpptest.Dial(t, srv.C2SAddr, srv.JID("alice")+"/second", "pa")
	alice2.Send(`<presence to='%s/alice2'><x xmlns='http://jabber.org/protocol/muc'/></presence>`, roomJID)
	alice2.Expect(wait, "forbidden after unlinking", func(s *xmpptest.Stanza) bool {
		return s.Attr("type") == "error" && strings.Contains(s.Raw, "forbidden") && strings.Contains(s.Raw, "/me/xmpp")
	})

	// The settings page.
	if p := wh.do("GET", "/me/xmpp", "bob", nil, http.StatusOK); !strings.Contains(p, srv.JID("bob")) || !strings.Contains(p, "verified") {
		t.Errorf("settings page: %s", p)
	}
}
