package wiki

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/macro"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// Notification limits: what the plugin sends is short, but the wiki stores
// it, so it bounds it itself.
const (
	maxNotifySubject = 300
	maxNotifyBody    = 2000
	maxNotifyURL     = 2000
)

var (
	_ hostsdk.Notifier     = (*Host)(nil)
	_ hostsdk.UserSearcher = (*Host)(nil)
)

// Alerter delivers a notification the wiki has stored through another
// channel: the XMPP bridge's bot (xmpp.Component.Alert). It must not block.
type Alerter interface {
	Alert(n hostsdk.Notification) bool
}

// SetAlerter makes Notify hand every notification it stores to a as well;
// nil stops that.
func (w *Wiki) SetAlerter(a Alerter) {
	w.alertMu.Lock()
	defer w.alertMu.Unlock()
	w.alerter = a
}

func (w *Wiki) currentAlerter() Alerter {
	w.alertMu.Lock()
	defer w.alertMu.Unlock()
	return w.alerter
}

// Notify stores a notification in the user's list (the bell in the
// header). The plugin checked view permission when it decided and again
// before it sent; the wiki checks a third time, since the notification
// names a room of a page: a user who cannot view the page gets nothing.
// A repeated n.ID (after a plugin crash) is kept once.
//
// A notification stored for the first time also goes to the Alerter (the
// bot sends it to the user's XMPP address, if they linked one and did
// not mute alerts). That never blocks or fails Notify: the list has it
// whatever happens to the alert.
func (h *Host) Notify(_ context.Context, n hostsdk.Notification) error {
	if n.UserID == "" {
		return fmt.Errorf("notification without a user: %w", hostsdk.ErrNotFound)
	}
	if n.RoomID != "" {
		pageID, _, err := macro.SplitRoomID(n.RoomID)
		if err != nil {
			return fmt.Errorf("notification for room %q: %w", n.RoomID, err)
		}
		ok, err := h.w.CanView(n.UserID, pageID)
		if err != nil {
			return err
		}
		if !ok {
			return nil // dropped: delivered as far as the plugin is concerned
		}
	}
	stored := store.Notification{
		Source:  n.ID,
		Subject: clip(n.Subject, maxNotifySubject),
		Body:    clip(n.Body, maxNotifyBody),
		URL:     safeNotifyURL(n.URL),
		Created: time.Now().UTC(),
	}
	added, err := h.w.store.AddNotification(n.UserID, stored)
	if err != nil || !added {
		return err
	}
	if a := h.w.currentAlerter(); a != nil {
		// What the list shows, not what the plugin sent.
		n.Subject, n.Body, n.URL = stored.Subject, stored.Body, stored.URL
		a.Alert(n)
	}
	return nil
}

// safeNotifyURL keeps only a path on this site: the link is shown to the
// user, and nothing the plugin sends may point elsewhere.
func safeNotifyURL(u string) string {
	if len(u) > maxNotifyURL || !strings.HasPrefix(u, "/") || strings.HasPrefix(u, "//") || strings.ContainsAny(u, "\\\x00\r\n") {
		return ""
	}
	return u
}

func clip(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// SearchUsers lists users who may view pageID whose id or display name
// starts with prefix, ordered by id: the names @ completes in the chat.
func (h *Host) SearchUsers(_ context.Context, pageID, prefix string, limit int) ([]hostsdk.User, error) {
	p := strings.ToLower(prefix)
	var out []hostsdk.User
	err := h.w.store.EachUser(func(u store.User) error {
		if !strings.HasPrefix(strings.ToLower(u.ID), p) && !strings.HasPrefix(strings.ToLower(u.DisplayName), p) {
			return nil
		}
		ok, err := h.w.CanView(u.ID, pageID)
		if err != nil || !ok {
			return err
		}
		out = append(out, hostsdk.User{ID: u.ID, DisplayName: u.DisplayName})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b hostsdk.User) int { return strings.Compare(a.ID, b.ID) })
	return out[:min(limit, len(out))], nil
}

// Notifications returns userID's newest notifications (at most limit)
// and how many are unread.
func (w *Wiki) Notifications(userID string, limit int) ([]store.Notification, int, error) {
	return w.store.Notifications(userID, limit)
}

// MarkNotificationsRead marks ids of userID's notifications read, or all.
func (w *Wiki) MarkNotificationsRead(userID string, ids []string, all bool) error {
	return w.store.MarkNotificationsRead(userID, ids, all)
}
