package xmpp

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"mellium.im/xmpp/jid"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

// prefUsers is a Users with AlertPrefs: links are verified JIDs, to is
// where AlertJID says alerts go (which may disagree with links).
type prefUsers struct {
	mu    sync.Mutex
	links map[string]string // bare JID -> user
	to    map[string]string // user -> alert JID
}

func (p *prefUsers) LinkedUser(_ context.Context, bare string) (string, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	u, ok := p.links[bare]
	return u, ok, nil
}

func (*prefUsers) ConfirmLink(context.Context, string, string) (bool, error) { return false, nil }

func (p *prefUsers) AlertJID(_ context.Context, user string) (string, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	j, ok := p.to[user]
	return j, ok, nil
}

func (p *prefUsers) SetAlerts(_ context.Context, user string, on bool) error { return nil }

// alertComponent is a component that is not connected to any server; the
// test flips its connected flag.
func alertComponent(t *testing.T, users Users) *Component {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	base, _ := url.Parse("https://wiki.example.org/w/")
	c := &Component{
		cfg:      Config{Users: users, BotName: "bot"},
		domain:   jid.MustParse("chat.example"),
		bot:      jid.MustParse("bot@chat.example"),
		log:      hclog.NewNullLogger(),
		out:      make(chan *elem, 64),
		ctx:      ctx,
		cancel:   cancel,
		rooms:    make(map[string]*room),
		baseURL:  base,
		botSlots: make(chan struct{}, botWorkers),
	}
	t.Cleanup(func() {
		cancel()
		c.roomWG.Wait()
	})
	return c
}

func TestAlertQueueIsBoundedAndNeverBlocks(t *testing.T) {
	t.Parallel()
	c := alertComponent(t, &prefUsers{})
	// Nothing drains the queue (no Run): Alert must still return at once.
	for i := range alertQueueLen {
		if !c.Alert(hostsdk.Notification{ID: fmt.Sprint(i), UserID: "alice"}) {
			t.Fatalf("alert %d not queued", i)
		}
	}
	if c.Alert(hostsdk.Notification{ID: "one more", UserID: "alice"}) {
		t.Error("an alert past the bound was queued")
	}
	if c.Alert(hostsdk.Notification{ID: "0", UserID: "alice"}) {
		t.Error("a notification id already taken was queued again")
	}
	if c.Alert(hostsdk.Notification{ID: "x"}) {
		t.Error("an alert without a user was queued")
	}
	if alertComponent(t, noUsers{}).Alert(hostsdk.Notification{ID: "1", UserID: "alice"}) {
		t.Error("a host without AlertPrefs had an alert queued")
	}
}

// TestAlertsWaitForTheConnection queues alerts while the component is
// disconnected; once it connects they go out, only to verified JIDs.
func TestAlertsWaitForTheConnection(t *testing.T) {
	t.Parallel()
	users := &prefUsers{
		links: map[string]string{"alice@example.org": "alice", "bob@example.org": "bob"},
		to: map[string]string{
			"alice": "alice@example.org/phone", // sent to the bare JID
			"bob":   "mallory@example.org",     // not bob's verified JID
			"carol": "carol@example.org",       // not verified at all
		},
	}
	c := alertComponent(t, users)
	c.roomWG.Add(1)
	go c.alertLoop()
	for _, u := range []string{"carol", "bob", "dave", "alice"} {
		if !c.Alert(hostsdk.Notification{ID: u, UserID: u, Subject: "Bob mentioned you in Room", Body: "look", URL: "/chat/rooms/1.room#m-7"}) {
			t.Fatalf("alert for %s not queued", u)
		}
	}
	if len(c.out) != 0 {
		t.Fatalf("%d stanzas queued while disconnected", len(c.out))
	}
	c.mu.Lock()
	c.connected = true
	c.mu.Unlock()
	st := <-c.out
	if st.attr("to") != "alice@example.org" || st.attr("from") != "bot@chat.example" || st.attr("type") != "chat" {
		t.Errorf("alert stanza %s", st)
	}
	if got, want := st.childText("", "body"), "Bob mentioned you in Room\nlook\nhttps://wiki.example.org/chat/rooms/1.room#m-7"; got != want {
		t.Errorf("body %q, want %q", got, want)
	}
	if len(c.out) != 0 {
		t.Errorf("alerts to JIDs that are not the user's verified one went out: %s", <-c.out)
	}
}

func TestAlertText(t *testing.T) {
	t.Parallel()
	c := alertComponent(t, &prefUsers{})
	long := strings.Repeat("é", maxAlertText)
	for _, tc := range []struct {
		name string
		n    hostsdk.Notification
		want string
	}{
		{"all", hostsdk.Notification{Subject: "S", Body: "B", URL: "/chat/rooms/r#m-1"}, "S\nB\nhttps://wiki.example.org/chat/rooms/r#m-1"},
		{"relative path", hostsdk.Notification{Subject: "S", URL: "rooms/r#m-2"}, "S\nhttps://wiki.example.org/w/rooms/r#m-2"},
		{"absolute https", hostsdk.Notification{Subject: "S", URL: "https://other.example/x"}, "S\nhttps://other.example/x"},
		{"javascript", hostsdk.Notification{Subject: "S", URL: "javascript:alert(1)"}, "S"},
		{"scheme-relative", hostsdk.Notification{Subject: "S", URL: "//evil.example/x"}, "S"},
		{"empty parts", hostsdk.Notification{Subject: " ", Body: "B"}, "B"},
		{"invalid UTF-8", hostsdk.Notification{Subject: "a\xffb"}, "a\uFFFDb"},
	} {
		if got := c.alertText(tc.n); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	got := c.alertText(hostsdk.Notification{Subject: long})
	if len(got) > maxAlertText+len("…") || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
		t.Errorf("long alert: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}
