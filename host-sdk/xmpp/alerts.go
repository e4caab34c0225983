package xmpp

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"mellium.im/xmpp/jid"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

const (
	// alertQueueLen bounds the alerts waiting for the bot: while the
	// component is disconnected they wait here, and past this bound new
	// ones are dropped (the host's own list still has them).
	alertQueueLen = 1024
	// alertMaxAge is how long an alert may wait for the connection; an
	// older one is dropped rather than sent hours late.
	alertMaxAge = time.Hour
	// alertPoll is how often a waiting alert looks at the connection.
	alertPoll = 200 * time.Millisecond
	// alertSeen bounds the notification ids remembered to send each
	// notification once even if the host hands it over twice.
	alertSeen = 4096
	// maxAlertText bounds one alert's body.
	maxAlertText = 4000
)

// AlertPrefs is an optional capability of Users: a Users that implements it
// lets the bot deliver notifications (Component.Alert) and lets users turn
// them off and on with the bot's mute and unmute commands.
type AlertPrefs interface {
	// AlertJID returns the bare JID userID's alerts go to: their verified
	// JID, unless they turned alerts off. ok is false when there is none.
	AlertJID(ctx context.Context, userID string) (bareJID string, ok bool, err error)
	// SetAlerts turns userID's alerts on or off.
	SetAlerts(ctx context.Context, userID string, on bool) error
}

// alertQueue holds the alerts waiting for the bot and the ids already
// taken, so a notification handed over twice is sent once.
type alertQueue struct {
	mu    sync.Mutex
	ch    chan queuedAlert
	seen  map[string]struct{}
	order []string
}

type queuedAlert struct {
	n  hostsdk.Notification
	at time.Time
}

// queue returns the channel, made on first use.
func (q *alertQueue) queue() chan queuedAlert {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.ch == nil {
		q.ch = make(chan queuedAlert, alertQueueLen)
	}
	return q.ch
}

// firstTime records id and reports whether it is new; "" is always new.
func (q *alertQueue) firstTime(id string) bool {
	if id == "" {
		return true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.seen == nil {
		q.seen = make(map[string]struct{})
	}
	if _, ok := q.seen[id]; ok {
		return false
	}
	q.seen[id] = struct{}{}
	q.order = append(q.order, id)
	if len(q.order) > alertSeen {
		delete(q.seen, q.order[0])
		q.order = q.order[1:]
	}
	return true
}

// Alert hands a notification to the bot, which sends it to n.UserID's
// verified JID as a 1:1 chat message: the subject, the body and the link
// to the message (made absolute with Config.BaseURL). It never blocks: a
// host calls it from its Notifier after storing the notification in its
// own list, and a slow or absent XMPP server must not hold that up.
//
// Where the alert goes is asked of Users (AlertPrefs) when it is sent,
// and the JID must still map to the user through LinkedUser: a user who
// muted alerts, never verified a JID or unlinked it gets nothing. A Users
// without AlertPrefs gets no alerts at all.
//
// While the component is disconnected alerts wait in a bounded queue
// (1024) and go out once it is back, unless they waited longer than an
// hour; past the bound, and when the component stops, waiting alerts are
// dropped (logged). Alert reports whether it queued n; a notification
// whose ID it already took is not queued again.
func (c *Component) Alert(n hostsdk.Notification) bool {
	if n.UserID == "" {
		return false
	}
	if _, ok := c.cfg.Users.(AlertPrefs); !ok {
		return false
	}
	if !c.alerts.firstTime(n.ID) {
		return false
	}
	select {
	case c.alerts.queue() <- queuedAlert{n: n, at: time.Now()}:
		return true
	default:
		c.log.Warn("XMPP alert queue full; dropped an alert (it is still in the host's notifications)", "user", n.UserID, "id", n.ID)
		return false
	}
}

// alertLoop sends queued alerts, one at a time, while the component runs.
func (c *Component) alertLoop() {
	defer c.roomWG.Done()
	ch := c.alerts.queue()
	for {
		var a queuedAlert
		select {
		case <-c.ctx.Done():
			if n := len(ch); n > 0 {
				c.log.Info("XMPP bridge stopping; dropped waiting alerts", "count", n)
			}
			return
		case a = <-ch:
		}
		if !c.waitConnected() {
			return
		}
		if time.Since(a.at) > alertMaxAge {
			c.log.Info("dropped an XMPP alert that waited too long for the connection", "user", a.n.UserID, "id", a.n.ID)
			continue
		}
		c.sendAlert(a.n)
	}
}

// waitConnected waits until the component is connected; false if it
// stopped first.
func (c *Component) waitConnected() bool {
	if c.Connected() {
		return true
	}
	t := time.NewTicker(alertPoll)
	defer t.Stop()
	for !c.Connected() {
		select {
		case <-c.ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// sendAlert looks up where n goes and queues the bot's message.
func (c *Component) sendAlert(n hostsdk.Notification) {
	prefs, ok := c.cfg.Users.(AlertPrefs)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, rpcTimeout)
	defer cancel()
	to, ok, err := prefs.AlertJID(ctx, n.UserID)
	if err != nil {
		c.log.Warn("cannot look up where to send an XMPP alert; dropped it", "user", n.UserID, "error", err)
		return
	}
	if !ok {
		return // no verified JID, or alerts muted
	}
	j, err := jid.Parse(to)
	if err != nil {
		c.log.Warn("alert address is not a JID; dropped the alert", "user", n.UserID, "error", err)
		return
	}
	j = j.Bare()
	// Only a JID verified as this user's receives their alerts, whatever
	// AlertJID said.
	owner, ok, err := c.cfg.Users.LinkedUser(ctx, j.String())
	if err != nil || !ok || owner != n.UserID {
		c.log.Warn("alert address is not this user's verified JID; dropped the alert", "user", n.UserID, "error", err)
		return
	}
	if err := c.enqueue(ctx, c.botMessage(j, c.alertText(n))); err != nil {
		c.log.Warn("could not queue an XMPP alert", "user", n.UserID, "error", err)
	}
}

// alertText is the alert's plain-text body: subject, body, link.
func (c *Component) alertText(n hostsdk.Notification) string {
	var parts []string
	for _, s := range []string{n.Subject, n.Body, c.absoluteURL(n.URL)} {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	text := strings.ToValidUTF8(strings.Join(parts, "\n"), "\uFFFD")
	if len(text) > maxAlertText {
		text = clipUTF8(text, maxAlertText) + "…"
	}
	return text
}

// absoluteURL makes a link absolute with the base URL; only http(s) links
// and paths are kept.
func (c *Component) absoluteURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if u.IsAbs() {
		if u.Scheme != "http" && u.Scheme != "https" {
			return ""
		}
		return u.String()
	}
	if u.Host != "" { // "//host/…": not a path on this site
		return ""
	}
	if c.baseURL == nil {
		return u.String()
	}
	return c.baseURL.ResolveReference(u).String()
}

// clipUTF8 cuts s to at most n bytes on a rune boundary.
func clipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// setAlerts is the bot's mute and unmute.
func (c *Component) setAlerts(ctx context.Context, from jid.JID, on bool) string {
	prefs, ok := c.cfg.Users.(AlertPrefs)
	if !ok {
		return "This site does not send alerts over XMPP."
	}
	userID, msg := c.botUser(ctx, from)
	if userID == "" {
		return msg
	}
	if err := prefs.SetAlerts(ctx, userID, on); err != nil {
		return "Could not change your alerts right now; try again."
	}
	if on {
		return "Alerts are on: I will send you mentions and news from the rooms you watch. Send mute to stop them."
	}
	return "Alerts are off: I will not send you mentions or news from watched rooms (the wiki's notifications still list them). Send unmute to turn them back on."
}
