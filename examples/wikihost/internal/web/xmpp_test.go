package web

import (
	"context"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/pagechat/pagechat/examples/wikihost/internal/xmpplink"
)

// codeBox stands in for the bridge's bot: it keeps the last message sent
// to each JID.
type codeBox struct {
	mu   sync.Mutex
	last map[string]string
}

func (b *codeBox) SendChat(_ context.Context, to, text string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.last[to] = text
	return nil
}

var sixDigits = regexp.MustCompile(`\b\d{6}\b`)

func (b *codeBox) code(t *testing.T, to string) string {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	c := sixDigits.FindString(b.last[to])
	if c == "" {
		t.Fatalf("no code sent to %s", to)
	}
	return c
}

// newXMPPServer is a test server with a link store, as with the bridge on.
func newXMPPServer(t *testing.T) (*testServer, *codeBox, *xmpplink.Links) {
	t.Helper()
	links, err := xmpplink.Open(filepath.Join(t.TempDir(), "xmpp-links.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = links.Close() })
	box := &codeBox{last: map[string]string{}}
	links.SetSender(box, "the test wiki")
	return newTestServer(t, Config{XMPPLinks: links, XMPPBot: "bot@chat.example.org"}), box, links
}

type xmppLinkJSON struct {
	JID      string `json:"jid"`
	Verified bool   `json:"verified"`
	Alerts   bool   `json:"alerts"`
}

func TestXMPPAlertSettingAPI(t *testing.T) {
	t.Parallel()
	ts, box, links := newXMPPServer(t)
	ctx := context.Background()

	// Nothing linked yet: nothing to switch.
	if e := decode[apiErr](t, ts.do("PUT", "/api/me/xmpp/alerts", "bob", map[string]bool{"enabled": false}), http.StatusConflict); e.Code != "no_link" {
		t.Errorf("without a link: %+v", e)
	}
	decode[xmppLinkJSON](t, ts.do("PUT", "/api/me/xmpp", "bob", map[string]string{"jid": "bob@example.org"}), http.StatusAccepted)
	got := decode[xmppLinkJSON](t, ts.do("POST", "/api/me/xmpp/verify", "bob", map[string]string{"code": box.code(t, "bob@example.org")}), http.StatusOK)
	if got != (xmppLinkJSON{JID: "bob@example.org", Verified: true, Alerts: true}) {
		t.Errorf("after verifying: %+v, want alerts on by default", got)
	}

	for _, tc := range []struct {
		name string
		body any
		want int
	}{
		{"no field", map[string]any{}, http.StatusBadRequest},
		{"not a bool", `{"enabled":"no"}`, http.StatusBadRequest},
		{"not JSON", `enabled=false`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if rec := ts.do("PUT", "/api/me/xmpp/alerts", "bob", tc.body, "Content-Type", "application/json"); rec.Code != tc.want {
				t.Errorf("status %d, want %d: %s", rec.Code, tc.want, rec.Body)
			}
		})
	}
	if to, ok, _ := links.AlertJID(ctx, "bob"); !ok || to != "bob@example.org" {
		t.Fatalf("a refused request changed the setting: %q %v", to, ok)
	}

	got = decode[xmppLinkJSON](t, ts.do("PUT", "/api/me/xmpp/alerts", "bob", map[string]bool{"enabled": false}), http.StatusOK)
	if got.Alerts || !got.Verified {
		t.Errorf("after turning alerts off: %+v", got)
	}
	if got := decode[xmppLinkJSON](t, ts.do("GET", "/api/me/xmpp", "bob", nil), http.StatusOK); got.Alerts {
		t.Errorf("GET after turning alerts off: %+v", got)
	}
	if _, ok, _ := links.AlertJID(ctx, "bob"); ok {
		t.Error("the bridge would still alert bob")
	}
	// Another user's setting is theirs.
	if got := decode[xmppLinkJSON](t, ts.do("GET", "/api/me/xmpp", "carol", nil), http.StatusOK); got != (xmppLinkJSON{}) {
		t.Errorf("carol: %+v", got)
	}
	if rec := ts.do("PUT", "/api/me/xmpp/alerts", "", map[string]bool{"enabled": true}); rec.Code != http.StatusUnauthorized {
		t.Errorf("anonymous: %d", rec.Code)
	}
	got = decode[xmppLinkJSON](t, ts.do("PUT", "/api/me/xmpp/alerts", "bob", map[string]bool{"enabled": true}), http.StatusOK)
	if !got.Alerts {
		t.Errorf("after turning alerts on: %+v", got)
	}
}

func TestXMPPAlertSettingAPIWithoutBridge(t *testing.T) {
	t.Parallel()
	ts := newTestServer(t, Config{})
	if e := decode[apiErr](t, ts.do("PUT", "/api/me/xmpp/alerts", "bob", map[string]bool{"enabled": false}), http.StatusServiceUnavailable); e.Code != "xmpp_disabled" {
		t.Errorf("without the bridge: %+v", e)
	}
}

func TestXMPPAlertSettingForm(t *testing.T) {
	t.Parallel()
	ts, box, links := newXMPPServer(t)
	ctx := context.Background()
	same := []string{"Sec-Fetch-Site", "same-origin", "Content-Type", "application/x-www-form-urlencoded"}

	// No link: no checkbox.
	if page := ts.do("GET", "/me/xmpp", "bob", nil).Body.String(); strings.Contains(page, `name="alerts"`) {
		t.Error("the alert setting is offered without a link")
	}
	ts.do("POST", "/me/xmpp", "bob", "action=link&jid=bob%40example.org", same...)
	ts.do("POST", "/me/xmpp", "bob", "action=verify&code="+box.code(t, "bob@example.org"), same...)
	checkbox := regexp.MustCompile(`<input type="checkbox" name="alerts" value="on"( checked)?>`)
	m := checkbox.FindStringSubmatch(ts.do("GET", "/me/xmpp", "bob", nil).Body.String())
	if m == nil || m[1] == "" {
		t.Fatalf("verified link: checkbox %q, want it checked", m)
	}

	// Unchecked: the browser sends no "alerts" field.
	rec := ts.do("POST", "/me/xmpp", "bob", "action=alerts", same...)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Alerts over XMPP are off") {
		t.Fatalf("turning alerts off: %d %s", rec.Code, rec.Body)
	}
	if m := checkbox.FindStringSubmatch(rec.Body.String()); m == nil || m[1] != "" {
		t.Errorf("after turning alerts off the checkbox is %q", m)
	}
	if _, ok, _ := links.AlertJID(ctx, "bob"); ok {
		t.Error("alerts still on after the form turned them off")
	}

	// A cross-site form post changes nothing.
	cross := []string{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example", "Content-Type", "application/x-www-form-urlencoded"}
	if rec := ts.do("POST", "/me/xmpp", "bob", "action=alerts&alerts=on", cross...); rec.Code != http.StatusForbidden {
		t.Errorf("cross-site form post: %d, want 403", rec.Code)
	}
	if _, ok, _ := links.AlertJID(ctx, "bob"); ok {
		t.Error("a cross-site post turned alerts on")
	}

	rec = ts.do("POST", "/me/xmpp", "bob", "action=alerts&alerts=on", same...)
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "Alerts over XMPP are on") {
		t.Fatalf("turning alerts on: %d %s", rec.Code, rec.Body)
	}
	if to, ok, _ := links.AlertJID(ctx, "bob"); !ok || to != "bob@example.org" {
		t.Errorf("alerts after the form turned them on: %q %v", to, ok)
	}
}
