package xmpp_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/host-sdk/xmpp"
	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/prosodytest"
	"github.com/pagechat/pagechat/internal/testutil/xmpptest"
)

const wait = 20 * time.Second

// bridge is a running Prosody, plugin and component, with a room.
type bridge struct {
	t       testing.TB
	srv     *prosodytest.Server
	host    *testHost
	chat    *hostsdk.Client
	comp    *xmpp.Component
	dataDir string
	roomID  string
	room    string // the room's JID
	stop    func()
	// multicast says Prosody runs the XEP-0033 module and the component
	// must be using it before the test goes on.
	multicast bool
	configure func(*xmpp.Config)
}

var accounts = map[string]string{"alice": "pw-alice", "bob": "pw-bob", "carol": "pw-carol", "eve": "pw-eve"}

// multicastByDefault runs every bridge test with the multicast module
// (PAGECHAT_XMPP_MULTICAST=1), for checking the whole suite in that mode.
var multicastByDefault = os.Getenv("PAGECHAT_XMPP_MULTICAST") == "1"

func startBridge(t testing.TB, pluginOpts ...hostsdk.Option) *bridge {
	t.Helper()
	return startBridgeMode(t, multicastByDefault, pluginOpts...)
}

// startBridgeMode starts a bridge whose Prosody offers XEP-0033 multicast
// to the component, or not.
func startBridgeMode(t testing.TB, multicast bool, pluginOpts ...hostsdk.Option) *bridge {
	t.Helper()
	return startBridgeWith(t, bridgeSetup{prosody: prosodytest.Options{Multicast: multicast}, multicast: multicast}, pluginOpts...)
}

// bridgeSetup is what a test changes in the bridge it starts.
type bridgeSetup struct {
	prosody prosodytest.Options // Accounts is filled in
	// multicast makes the start wait until the component multicasts.
	multicast bool
	// configure adjusts the component's configuration.
	configure func(*xmpp.Config)
}

func startBridgeWith(t testing.TB, setup bridgeSetup, pluginOpts ...hostsdk.Option) *bridge {
	t.Helper()
	setup.prosody.Accounts = accounts
	srv := prosodytest.Start(t, setup.prosody)
	host := newTestHost()
	dataDir := t.TempDir()
	chat := loadPlugin(t, host, dataDir, pluginOpts...)
	b := &bridge{t: t, srv: srv, host: host, chat: chat, dataDir: dataDir, multicast: setup.multicast, configure: setup.configure}
	for _, u := range []string{"alice", "bob", "carol"} {
		host.link(srv.JID(u), u)
	}
	room, err := chat.OpenRoom(context.Background(), "alice", "1", "Team Room")
	if err != nil {
		t.Fatalf("OpenRoom: %v", err)
	}
	b.roomID = room.ID
	b.startComponent()
	b.room = b.comp.RoomJID(b.roomID)
	return b
}

func (b *bridge) startComponent() {
	b.t.Helper()
	cfg := xmpp.Config{
		Server:           b.srv.ComponentAddr,
		Domain:           b.srv.ComponentDomain,
		Secret:           b.srv.Secret,
		Chat:             b.chat,
		Users:            b.host,
		LinkHelp:         "Link your XMPP address on your wiki profile page.",
		PermissionWindow: time.Second,
		BaseURL:          "http://wiki.test",
		Logger:           hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: testWriter{b.t}}),
	}
	if b.configure != nil {
		b.configure(&cfg)
	}
	comp, err := xmpp.New(cfg)
	if err != nil {
		b.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = comp.Run(ctx)
	}()
	b.comp = comp
	b.stop = func() {
		cancel()
		<-done
	}
	b.t.Cleanup(b.stop)
	deadline := time.Now().Add(wait)
	for !comp.Connected() {
		if time.Now().After(deadline) {
			b.t.Fatalf("component did not connect:\n%s", b.srv.Log())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if b.multicast {
		b.waitMulticast()
	}
}

// waitMulticast waits until the component's connection fans out through
// the server's multicast service.
func (b *bridge) waitMulticast() {
	b.t.Helper()
	testutil.Eventually(b.t, wait, func() bool { return b.comp.MulticastService() == b.srv.Domain }, "component using the server's multicast service")
}

// bothModes runs a bridge test against a Prosody without the multicast
// module and against one with it: the bridge must behave alike.
func bothModes(t *testing.T, test func(t *testing.T, b *bridge)) {
	t.Parallel()
	for _, mode := range []struct {
		name      string
		multicast bool
	}{{"per-occupant", false}, {"multicast", true}} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			test(t, startBridgeMode(t, mode.multicast))
		})
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (b *bridge) client(user, resource string) *xmpptest.Client {
	b.t.Helper()
	return xmpptest.Dial(b.t, b.srv.C2SAddr, b.srv.JID(user)+"/"+resource, accounts[user])
}

// join joins the room as nick and waits for the subject, the end of the
// join sequence; it returns the self-presence.
func (b *bridge) join(c *xmpptest.Client, nick, historyAttrs string) *xmpptest.Stanza {
	b.t.Helper()
	c.Send(`<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'><history %s/></x></presence>`, b.room, nick, historyAttrs)
	self := c.Expect(wait, "self-presence", func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "presence" && s.Attr("from") == b.room+"/"+nick && (s.HasCode("110") || s.Attr("type") == "error")
	})
	if self.Attr("type") == "error" {
		return self
	}
	c.Expect(wait, "subject", isSubject)
	return self
}

func isSubject(s *xmpptest.Stanza) bool {
	return s.XMLName.Local == "message" && s.Child("", "subject") != nil && s.Child("", "body") == nil
}

func groupchatWithBody(body string) func(*xmpptest.Stanza) bool {
	return func(s *xmpptest.Stanza) bool {
		return s.XMLName.Local == "message" && s.Attr("type") == "groupchat" && s.Child("", "body") != nil && s.Child("", "body").Text == body
	}
}

func TestJoinSendAndReceiveLive(t *testing.T) { bothModes(t, testJoinSendAndReceiveLive) }

func testJoinSendAndReceiveLive(t *testing.T, b *bridge) {
	ctx := context.Background()
	// One message before anyone joins: it must come as history.
	if _, err := b.chat.Send(ctx, "bob", b.roomID, "web-1", "hello from the browser"); err != nil {
		t.Fatal(err)
	}
	alice := b.client("alice", "laptop")
	self := b.join(alice, "Alice", "maxstanzas='10'")
	if self.Attr("type") == "error" {
		t.Fatalf("join refused: %s", self.Raw)
	}
	if !self.HasCode("110") || !self.HasCode("100") {
		t.Errorf("self-presence lacks status 110/100: %s", self.Raw)
	}
	hist := alice.All(groupchatWithBody("hello from the browser"))
	if len(hist) != 1 {
		t.Fatalf("history: got %d copies of the earlier message:\n%s", len(hist), alice.Dump())
	}
	if hist[0].Child("urn:xmpp:delay", "delay") == nil {
		t.Errorf("history message without <delay/>: %s", hist[0].Raw)
	}
	if sid := hist[0].Child("urn:xmpp:sid:0", "stanza-id"); sid == nil || sid.Attr("id") != "1" || sid.Attr("by") != b.room {
		t.Errorf("history stanza-id: %s", hist[0].Raw)
	}
	// Subject comes after history.
	subj := alice.All(isSubject)
	if len(subj) != 1 || subj[0].Child("", "subject").Text != "Team Room" {
		t.Errorf("subject: %v", alice.Dump())
	}

	// XMPP -> room: reflected with the sequence and the origin-id.
	alice.Send(`<message to='%s' type='groupchat' id='m1'><body>hi from xmpp &lt;b&gt;</body><origin-id xmlns='urn:xmpp:sid:0' id='orig-1'/></message>`, b.room)
	refl := alice.Expect(wait, "reflection", groupchatWithBody("hi from xmpp <b>"))
	if sid := refl.Child("urn:xmpp:sid:0", "stanza-id"); sid == nil || sid.Attr("id") != "2" {
		t.Errorf("reflection stanza-id: %s", refl.Raw)
	}
	if oid := refl.Child("urn:xmpp:sid:0", "origin-id"); oid == nil || oid.Attr("id") != "orig-1" {
		t.Errorf("reflection origin-id: %s", refl.Raw)
	}
	if refl.Attr("from") != b.room+"/Alice" {
		t.Errorf("reflection from %q", refl.Attr("from"))
	}
	if refl.Child("urn:xmpp:delay", "delay") != nil {
		t.Errorf("live message carries a delay: %s", refl.Raw)
	}
	// The plugin stored it for alice with the text as sent.
	page, err := b.chat.History(ctx, "bob", b.roomID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(page.Messages); n != 2 || page.Messages[1].UserID != "alice" || page.Messages[1].Text != "hi from xmpp <b>" {
		t.Fatalf("stored: %+v", page.Messages)
	}
	// A resend of the same stanza stores nothing new.
	alice.Send(`<message to='%s' type='groupchat' id='m1'><body>hi from xmpp &lt;b&gt;</body><origin-id xmlns='urn:xmpp:sid:0' id='orig-1'/></message>`, b.room)
	// Browser -> XMPP, live.
	if _, err := b.chat.Send(ctx, "bob", b.roomID, "web-2", "live from the browser"); err != nil {
		t.Fatal(err)
	}
	live := alice.Expect(wait, "live browser message", groupchatWithBody("live from the browser"))
	if sid := live.Child("urn:xmpp:sid:0", "stanza-id"); sid == nil || sid.Attr("id") != "3" {
		t.Errorf("resent stanza stored a second message, or the live message has the wrong sequence: %s\n%s", live.Raw, alice.Dump())
	}
	if live.Attr("from") != b.room+"/Bob" {
		t.Errorf("browser message from %q, want the display name", live.Attr("from"))
	}
}

// pluginPID finds this bridge's plugin process: the child of this test
// process that has a file open in the bridge's data directory.
func pluginPID(t *testing.T, b *bridge) int {
	t.Helper()
	var found int
	testutil.Eventually(t, wait, func() bool {
		procs, _ := filepath.Glob("/proc/[0-9]*")
		for _, p := range procs {
			fds, _ := filepath.Glob(p + "/fd/*")
			for _, fd := range fds {
				if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, b.dataDir+"/") {
					found, _ = strconv.Atoi(filepath.Base(p))
					if found != os.Getpid() {
						return true
					}
				}
			}
		}
		return false
	}, "plugin process with the data directory open")
	return found
}
