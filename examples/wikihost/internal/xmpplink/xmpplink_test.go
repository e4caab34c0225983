package xmpplink

import (
	"context"
	"errors"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pagechat/pagechat/internal/testutil"
)

type sentBox struct {
	mu   sync.Mutex
	msgs map[string]string
}

func (s *sentBox) SendChat(_ context.Context, to, text string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs[to] = text
	return nil
}

var codeRE = regexp.MustCompile(`\b(\d{6})\b`)

func (s *sentBox) code(t *testing.T, to string) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := codeRE.FindStringSubmatch(s.msgs[to])
	if m == nil {
		t.Fatalf("no code sent to %s: %q", to, s.msgs[to])
	}
	return m[1]
}

func open(t *testing.T) (*Links, *sentBox, *testutil.Clock) {
	t.Helper()
	l, err := Open(filepath.Join(t.TempDir(), "links.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	clock := testutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	l.now = clock.Now
	box := &sentBox{msgs: map[string]string{}}
	l.SetSender(box, "the wiki")
	return l, box, clock
}

func TestLinkVerifyInWikiAndByBot(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, box, clock := open(t)
	if _, err := l.Start(ctx, "alice", "Alice@Example.org/phone"); err != nil {
		t.Fatal(err)
	}
	if u, ok, _ := l.LinkedUser(ctx, "alice@example.org"); ok {
		t.Fatalf("unverified link maps to %s", u)
	}
	if j, ok, _ := l.UserJID(ctx, "alice"); ok {
		t.Fatalf("unverified link names the address %s", j)
	}
	if _, err := l.Verify(ctx, "alice", "000000x"); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("wrong code: %v", err)
	}
	link, err := l.Verify(ctx, "alice", box.code(t, "alice@example.org"))
	if err != nil || !link.Verified || link.JID != "alice@example.org" {
		t.Fatalf("verify: %+v %v", link, err)
	}
	if u, ok, _ := l.LinkedUser(ctx, "alice@example.org/other"); !ok || u != "alice" {
		t.Fatalf("LinkedUser after verify: %q %v", u, ok)
	}
	if j, ok, err := l.UserJID(ctx, "alice"); !ok || err != nil || j != "alice@example.org" {
		t.Fatalf("UserJID after verify: %q %v %v", j, ok, err)
	}
	// Another user cannot take a verified JID.
	if _, err := l.Start(ctx, "mallory", "alice@example.org"); !errors.Is(err, ErrTaken) {
		t.Fatalf("taking a verified JID: %v", err)
	}
	// Bob verifies by answering the bot.
	if _, err := l.Start(ctx, "bob", "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := l.ConfirmLink(ctx, "carol@example.org", box.code(t, "bob@example.org")); ok {
		t.Fatal("another JID confirmed bob's code")
	}
	if ok, err := l.ConfirmLink(ctx, "bob@example.org", box.code(t, "bob@example.org")); !ok || err != nil {
		t.Fatalf("confirm by bot: %v %v", ok, err)
	}
	if u, ok, _ := l.LinkedUser(ctx, "bob@example.org"); !ok || u != "bob" {
		t.Fatal("bob not linked after answering the bot")
	}
	// Unlink.
	if err := l.Delete("bob"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := l.LinkedUser(ctx, "bob@example.org"); ok {
		t.Fatal("still linked after delete")
	}
	if _, ok, _ := l.UserJID(ctx, "bob"); ok {
		t.Fatal("still names bob's address after delete")
	}
	// Codes expire, and too many wrong codes end the attempt.
	clock.Advance(time.Minute)
	if _, err := l.Start(ctx, "carol", "carol@example.org"); err != nil {
		t.Fatal(err)
	}
	code := box.code(t, "carol@example.org")
	clock.Advance(CodeTTL + time.Second)
	if _, err := l.Verify(ctx, "carol", code); !errors.Is(err, ErrWrongCode) {
		t.Fatalf("expired code: %v", err)
	}
	if _, err := l.Start(ctx, "carol", "carol@example.org"); err != nil {
		t.Fatal(err)
	}
	code = box.code(t, "carol@example.org")
	for range MaxAttempts {
		_, _ = l.Verify(ctx, "carol", "999999x")
	}
	if _, err := l.Verify(ctx, "carol", code); err == nil {
		t.Fatal("right code accepted after too many wrong ones")
	}
	// A new code too soon is refused.
	if _, err := l.Start(ctx, "carol", "carol@example.org"); !errors.Is(err, ErrTooSoon) {
		t.Fatalf("resend too soon: %v", err)
	}
}

func TestNormalizeJID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"alice@example.org", "alice@example.org", true},
		{" xmpp:Alice@Example.ORG/res ", "alice@example.org", true},
		{"alice@localhost", "alice@localhost", true},
		{"example.org", "", false},
		{"", "", false},
		{"a b@example.org", "", false},
		{"alice@", "", false},
	} {
		got, err := NormalizeJID(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("NormalizeJID(%q) = %q, %v", tc.in, got, err)
		}
	}
}

func TestLinkingOffWithoutBridge(t *testing.T) {
	t.Parallel()
	l, _, _ := open(t)
	l.SetSender(nil, "")
	if _, err := l.Start(context.Background(), "alice", "alice@example.org"); !errors.Is(err, ErrBridgeOff) {
		t.Fatalf("Start without the bridge: %v", err)
	}
}

func TestAlertSetting(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	l, box, clock := open(t)
	alertTo := func(user string) string {
		t.Helper()
		to, ok, err := l.AlertJID(ctx, user)
		if err != nil || ok != (to != "") {
			t.Fatalf("AlertJID(%s) = %q, %v, %v", user, to, ok, err)
		}
		return to
	}
	if err := l.SetAlerts(ctx, "alice", false); !errors.Is(err, ErrNoLink) {
		t.Fatalf("SetAlerts without a link: %v", err)
	}
	if _, err := l.Start(ctx, "alice", "alice@example.org"); err != nil {
		t.Fatal(err)
	}
	if link, _, _ := l.Get("alice"); !link.Alerts {
		t.Errorf("a new link has alerts off: %+v", link)
	}
	if to := alertTo("alice"); to != "" {
		t.Errorf("alerts go to an unverified JID %q", to)
	}
	if _, err := l.Verify(ctx, "alice", box.code(t, "alice@example.org")); err != nil {
		t.Fatal(err)
	}
	if to := alertTo("alice"); to != "alice@example.org" {
		t.Errorf("verified link: alerts go to %q", to)
	}
	if err := l.SetAlerts(ctx, "alice", false); err != nil {
		t.Fatal(err)
	}
	if link, _, _ := l.Get("alice"); link.Alerts || !link.Verified {
		t.Errorf("after muting: %+v", link)
	}
	if to := alertTo("alice"); to != "" {
		t.Errorf("muted: alerts go to %q", to)
	}
	// The setting is the user's: linking another address keeps it.
	clock.Advance(time.Minute)
	if _, err := l.Start(ctx, "alice", "alice@other.example.org"); err != nil {
		t.Fatal(err)
	}
	if link, err := l.Verify(ctx, "alice", box.code(t, "alice@other.example.org")); err != nil || link.Alerts {
		t.Errorf("after relinking: %+v, %v; want alerts still off", link, err)
	}
	if err := l.SetAlerts(ctx, "alice", true); err != nil {
		t.Fatal(err)
	}
	if to := alertTo("alice"); to != "alice@other.example.org" {
		t.Errorf("unmuted: alerts go to %q", to)
	}
	// Unlinked: nothing.
	if err := l.Delete("alice"); err != nil {
		t.Fatal(err)
	}
	if to := alertTo("alice"); to != "" {
		t.Errorf("unlinked: alerts go to %q", to)
	}
}

// TestRecordsWithoutAlertSetting reads a record written before alerts
// existed: it has alerts on.
func TestRecordsWithoutAlertSetting(t *testing.T) {
	t.Parallel()
	l, _, _ := open(t)
	err := l.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketUsers).Put([]byte("bob"), []byte(`{"jid":"bob@example.org","verified":true}`)); err != nil {
			return err
		}
		return tx.Bucket(bucketJIDs).Put([]byte("bob@example.org"), []byte("bob"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if link, ok, err := l.Get("bob"); err != nil || !ok || !link.Alerts || !link.Verified {
		t.Errorf("old record: %+v %v %v", link, ok, err)
	}
	if to, ok, err := l.AlertJID(context.Background(), "bob"); err != nil || !ok || to != "bob@example.org" {
		t.Errorf("old record's alerts: %q %v %v", to, ok, err)
	}
}
