package xmpp

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"sync"
	"time"

	"mellium.im/xmpp/jid"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

const (
	// rpcTimeout bounds each plugin call a room makes.
	rpcTimeout = 10 * time.Second
	// roomIdle is how long a room without occupants keeps its actor.
	roomIdle = 30 * time.Second
	// defaultHistory is how many messages a join replays when the client
	// does not say; maxHistory caps what it may ask for.
	defaultHistory = 20
	maxHistory     = 500
	// maxSendsInFlight bounds a room's concurrent Send calls.
	maxSendsInFlight = 32
	// recentClientIDs bounds the memory of which nick sent which client
	// id, used to label a reflected message with the resource's nick.
	recentClientIDs = 1024
	// clientIDPrefix marks messages sent through the bridge; what follows
	// is the stanza's origin-id (or id).
	clientIDPrefix = "xmpp:"
)

// stanzaIn is an incoming stanza with its parsed addresses.
type stanzaIn struct {
	e        *elem
	from, to jid.JID
}

// occupant is one XMPP resource in a room.
type occupant struct {
	full   jid.JID
	nick   string
	userID string
}

// roomEvent is what a room's feed goroutine hands to the room.
type roomEvent struct {
	ev  hostsdk.Event
	err error // the feed ended with err (it reconnects unless the room's log is gone)
	// restarted says the feed is back after the plugin went away: the
	// new plugin process has lost its presence.
	restarted bool
}

// room is the actor that owns one room's MUC state. Everything about the
// room happens in its run goroutine, in order: stanzas, feed events,
// permission re-checks. Sends run beside it, bounded.
type room struct {
	c     *Component
	id    string
	jid   jid.JID
	inbox chan stanzaIn
	feed  chan roomEvent

	// State below is owned by run.
	loaded    bool
	name      string
	topic     string // the moderators' topic, sent as the subject ("" = the name)
	epoch     string
	head      uint64               // last sequence delivered to occupants
	occupants map[string]*occupant // by full JID
	nicks     map[string]string    // nick -> user id holding it (XMPP occupants)
	users     map[string]int       // user id -> occupants, for Join/Leave
	web       map[string]string    // users online in the browser only -> their nick
	unjoined  map[string]bool      // users whose plugin Join a restart lost, to redo
	sentNick  map[string]string    // user+client id -> nick, recent sends
	sentOrder []string
	// moderators are the users with occupants whose moderate permission
	// the join found: their presence shows role moderator, affiliation
	// admin, so clients offer them their moderation tools.
	moderators map[string]bool
	// seqOf maps user+client id to the sequence of recent messages sent
	// through the bridge, so a correction or retraction naming the
	// client's own id finds the message without a history scan.
	seqOf    map[string]uint64
	seqOrder []string
	stopFeed context.CancelFunc
	feedDone chan struct{}

	sends sync.WaitGroup
	slots chan struct{}
	marks markers // XEP-0333 read markers (markers.go)
}

func newRoom(c *Component, id string) *room {
	j, _ := jid.New(id, c.domain.Domainpart(), "")
	return &room{
		c:         c,
		id:        id,
		jid:       j,
		inbox:     make(chan stanzaIn, roomInbox),
		feed:      make(chan roomEvent, 64),
		occupants: make(map[string]*occupant),
		nicks:     make(map[string]string),
		users:     make(map[string]int),
		web:       make(map[string]string),
		unjoined:  make(map[string]bool),
		sentNick:  make(map[string]string),
		slots:     make(chan struct{}, maxSendsInFlight),

		moderators: make(map[string]bool),
		seqOf:      make(map[string]uint64),
	}
}

// post hands a stanza to the room without blocking.
func (r *room) post(s stanzaIn) bool {
	select {
	case r.inbox <- s:
		return true
	default:
		return false
	}
}

func (r *room) run() {
	defer r.c.roomWG.Done()
	defer r.stop()
	if r.jid.Localpart() == "" {
		// Not a valid room address; answer what comes and go.
		r.loaded = false
	}
	recheck := time.NewTicker(max(r.c.cfg.PermissionWindow/2, 100*time.Millisecond))
	defer recheck.Stop()
	idle := time.NewTimer(roomIdle)
	defer idle.Stop()
	for {
		select {
		case <-r.c.ctx.Done():
			return
		case s := <-r.inbox:
			r.handle(s)
		case ev := <-r.feed:
			r.onFeed(ev)
		case <-recheck.C:
			r.recheck()
		case <-idle.C:
			if len(r.occupants) == 0 && r.c.retire(r) {
				return
			}
		}
		if len(r.occupants) > 0 {
			idle.Reset(roomIdle)
		}
	}
}

// stop ends the feed and leaves the plugin's presence for every user.
func (r *room) stop() {
	if r.stopFeed != nil {
		r.stopFeed()
		<-r.feedDone
	}
	r.sends.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for u := range r.users {
		_ = r.c.cfg.Chat.Leave(ctx, u, r.id)
	}
}

// send queues a stanza for the server, waiting while the queue is full so
// nothing is lost; it gives up only when the component stops.
func (r *room) send(e *elem) {
	_ = r.c.enqueue(r.c.ctx, e)
}

func (r *room) handle(s stanzaIn) {
	e := s.e
	typ := e.attr("type")
	switch e.Name.Local {
	case "presence":
		switch typ {
		case "":
			r.join(s)
		case "unavailable":
			r.leave(s.from, false)
		case "error":
			// The occupant's server bounced a presence: the client is
			// gone.
			r.leave(s.from, true)
		}
	case "message":
		switch typ {
		case "groupchat":
			r.groupchat(s)
		case "error":
			r.leave(s.from, true)
		default:
			if s.to.Resourcepart() != "" {
				r.c.reply(stanzaError(e, "cancel", "feature-not-implemented", "private messages are not supported in wiki chat rooms"))
			}
		}
	case "iq":
		r.iq(s)
	}
}

// errorFor maps a plugin error to an XMPP error type and condition, with
// a sentence for the user. Refusals the plugin explains (a ban with its
// reason and end, an edit window that passed, a message that is not
// theirs) carry the plugin's own sentence.
func (r *room) errorFor(err error, action string) (typ, cond, text string) {
	var pe *hostsdk.Error
	explained := errors.As(err, &pe) && pe.Message != ""
	switch {
	case errors.Is(err, hostsdk.ErrBanned):
		// XEP-0045 §7.2.8: a banned user's join gets auth/forbidden.
		if explained {
			return "auth", "forbidden", pe.Message
		}
		return "auth", "forbidden", "you are banned from this room"
	case errors.Is(err, hostsdk.ErrPermissionDenied):
		if explained && pe.Reason != "" {
			return "auth", "forbidden", pe.Message
		}
		return "auth", "forbidden", "you may not " + action + " in this room"
	case errors.Is(err, hostsdk.ErrMessageNotFound):
		return "cancel", "item-not-found", "there is no such message in this room"
	case errors.Is(err, hostsdk.ErrMessageDeleted):
		return "cancel", "item-not-found", "that message was deleted"
	case errors.Is(err, hostsdk.ErrRoomNotFound):
		return "cancel", "item-not-found", "no such chat room"
	case errors.Is(err, hostsdk.ErrRateLimited):
		return "wait", "resource-constraint", "too many messages; slow down"
	case errors.Is(err, hostsdk.ErrTooLarge):
		return "modify", "not-acceptable", "message too long"
	case errors.Is(err, hostsdk.ErrInvalidArgument):
		if action == "join" {
			return "cancel", "item-not-found", "no such chat room"
		}
		if explained {
			return "modify", "bad-request", action + " refused: " + pe.Message
		}
		return "modify", "bad-request", action + " refused: " + err.Error()
	case errors.Is(err, hostsdk.ErrStorageFull):
		return "wait", "resource-constraint", "the chat's storage is full"
	}
	return "wait", "internal-server-error", "the chat is unavailable right now; try again"
}

// load fetches the room's metadata for a user who may view it (and whether
// they moderate it) and starts the feed with the first occupant.
func (r *room) load(userID string) error {
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	info, rights, err := r.c.cfg.Chat.RoomWithRights(ctx, userID, r.id)
	if err != nil {
		return err
	}
	r.moderators[userID] = rights.CanModerate
	if !r.loaded {
		r.loaded = true
		r.epoch = info.Epoch
		r.head = info.LastSeq
	}
	r.name = info.Name
	r.topic = info.Topic
	if r.stopFeed == nil {
		r.startFeed()
		for _, p := range info.Participants {
			if p.Online && r.users[p.UserID] == 0 {
				r.web[p.UserID] = r.webNick(p)
			}
		}
	}
	return nil
}

// webNick is the nick a browser participant is shown with.
func (r *room) webNick(p hostsdk.Participant) string {
	n := p.DisplayName
	if n == "" {
		n = p.UserID
	}
	if owner, ok := r.nicks[n]; ok && owner != p.UserID {
		n += " (web)"
	}
	return n
}

func (r *room) startFeed() {
	ctx, cancel := context.WithCancel(r.c.ctx)
	r.stopFeed = cancel
	r.feedDone = make(chan struct{})
	head, epoch := r.head, r.epoch
	go r.readFeed(ctx, head, epoch)
}

// readFeed follows the room from after, reconnecting with back-off. It
// hands events to run; positions are tracked by run (r.head) but this
// goroutine resumes from what it delivered, which run consumes in order.
func (r *room) readFeed(ctx context.Context, after uint64, epoch string) {
	defer close(r.feedDone)
	delay := 100 * time.Millisecond
	pluginLost := false
	for {
		sub, err := r.c.cfg.Chat.Feed(ctx, r.id, after, epoch)
		if err == nil && pluginLost {
			pluginLost = false
			select {
			case r.feed <- roomEvent{restarted: true}:
			case <-ctx.Done():
				sub.Close()
				return
			}
		}
		if err == nil {
			delay = 100 * time.Millisecond
			for {
				ev, e := sub.Next()
				if e != nil {
					err = e
					break
				}
				if ev.Message != nil {
					after = ev.Message.Seq
				}
				select {
				case r.feed <- roomEvent{ev: ev}:
				case <-ctx.Done():
					sub.Close()
					return
				}
			}
			sub.Close()
		}
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, hostsdk.ErrEpochChanged) || errors.Is(err, hostsdk.ErrRoomNotFound) {
			select {
			case r.feed <- roomEvent{err: err}:
			case <-ctx.Done():
			}
			return
		}
		if errors.Is(err, hostsdk.ErrPluginUnavailable) {
			pluginLost = true
		}
		if !errors.Is(err, hostsdk.ErrSlowConsumer) {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			delay = min(delay*2, 5*time.Second)
		}
	}
}

// onFeed handles one feed event in order.
func (r *room) onFeed(ev roomEvent) {
	switch {
	case ev.restarted:
		// The plugin restarted and lost its in-memory presence: join
		// our users again.
		r.rejoinPlugin()
	case ev.err != nil:
		// The room's log was replaced or removed: nobody can be served
		// across it. Remove everyone; clients rejoin.
		r.c.log.Warn("room log changed under the XMPP bridge; removing occupants", "room", r.id, "error", ev.err)
		for _, o := range r.occupants {
			r.kick(o, removal{codes: []string{"332"}})
		}
		r.stopFeed() // its reader has returned already
		<-r.feedDone
		r.stopFeed = nil
		r.loaded = false
	case ev.ev.Message != nil:
		m := ev.ev.Message
		if m.Seq <= r.head {
			return
		}
		r.head = m.Seq
		r.rememberOrigin(*m)
		r.relay(*m)
	case ev.ev.Presence != nil:
		r.onPresence(*ev.ev.Presence)
	}
}

// rejoinPlugin repeats the Join of every user with occupants; the ones
// that fail are retried on the next permission re-check.
func (r *room) rejoinPlugin() {
	for u := range r.users {
		r.unjoined[u] = true
	}
	r.retryJoins()
}

// retryJoins joins the users whose Join the plugin has lost.
func (r *room) retryJoins() {
	if len(r.unjoined) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	for u := range r.unjoined {
		if r.users[u] == 0 {
			delete(r.unjoined, u)
			continue
		}
		if _, err := r.c.cfg.Chat.Join(ctx, u, r.id); err != nil {
			r.c.log.Debug("rejoin after plugin restart failed; retrying", "room", r.id, "user", u, "error", err)
			continue
		}
		delete(r.unjoined, u)
	}
}

// onPresence shows browser users arriving and leaving as occupants.
func (r *room) onPresence(p hostsdk.Participant) {
	if r.users[p.UserID] > 0 {
		return // shown by their XMPP occupant(s)
	}
	nick, shown := r.web[p.UserID]
	switch {
	case p.Online && !shown:
		nick = r.webNick(p)
		r.web[p.UserID] = nick
		r.broadcast(r.presence(nick, p.UserID, "", jid.JID{}, false), r.everyone())
	case !p.Online && shown:
		delete(r.web, p.UserID)
		r.broadcast(r.presence(nick, p.UserID, "", jid.JID{}, true), r.everyone())
	}
}

// nickOf is the nick a message of userID is shown with.
func (r *room) nickOf(m hostsdk.Message) string {
	if n, ok := r.sentNick[m.UserID+"\x00"+m.ClientID]; ok {
		return n
	}
	for _, o := range r.occupants {
		if o.userID == m.UserID {
			return o.nick
		}
	}
	if n, ok := r.web[m.UserID]; ok {
		return n
	}
	if m.UserName != "" {
		return m.UserName
	}
	return m.UserID
}

// messageStanza renders a stored message for one occupant. Only the
// message's plain text goes into the body, built as character data, so no
// markup can reach the client; uploads become readable text with the URL.
func (r *room) messageStanza(m hostsdk.Message, to jid.JID, delayed bool) *elem {
	nick := r.nickOf(m)
	id := originID(m)
	msgID := stanzaID(m)
	st := el("", "message", "from", r.jid.String()+"/"+nick, "to", to.String(), "type", "groupchat", "id", msgID).
		add(el("", "body").text(bodyOf(m, r.c.baseURL)))
	st.add(el(nsSID, "stanza-id", "by", r.jid.String(), "id", strconv.FormatUint(m.Seq, 10)))
	if id != "" {
		st.add(el(nsSID, "origin-id", "id", id))
	}
	st.add(el(nsMarkers, "markable"))
	if delayed {
		st.add(el(nsDelay, "delay", "from", r.jid.String(), "stamp", m.SentAt.UTC().Format(time.RFC3339Nano)))
	}
	return st
}

// presence builds an occupant's presence in the room as sent to to.
func (r *room) presence(nick, userID, full string, to jid.JID, gone bool, codes ...string) *elem {
	p := el("", "presence", "from", r.jid.String()+"/"+nick, "to", to.String())
	if gone {
		p.setAttr("type", "unavailable")
	}
	role, aff := r.roleOf(userID)
	if gone {
		role = "none"
	}
	x := el(nsMUCUser, "x").add(el("", "item", "affiliation", aff, "role", role, "jid", full))
	for _, c := range codes {
		x.add(el("", "status", "code", c))
	}
	return p.add(x)
}

// join handles a presence to room/nick from a client.
func (r *room) join(s stanzaIn) {
	e := s.e
	nick := s.to.Resourcepart()
	key := s.from.String()
	if o, ok := r.occupants[key]; ok {
		if nick == o.nick && e.child(nsMUC, "x") == nil {
			return // a status update: nothing to show in a wiki room
		}
		if nick != o.nick {
			r.c.reply(presenceError(e, "cancel", "not-acceptable", "changing nicks is not supported; leave and join again"))
			return
		}
		// A client that rejoins without having left (its server lost
		// our unavailable, or it reconnected): start over.
		r.drop(o)
	}
	if nick == "" {
		r.c.reply(presenceError(e, "modify", "jid-malformed", "choose a nickname"))
		return
	}
	userID, ok, err := r.c.lookupUser(r.c.ctx, s.from)
	if err != nil {
		r.c.reply(presenceError(e, "wait", "internal-server-error", "cannot look up your account right now"))
		return
	}
	if !ok {
		r.c.reply(presenceError(e, "auth", "forbidden", r.c.cfg.LinkHelp))
		return
	}
	if owner, taken := r.nicks[nick]; taken && owner != userID {
		r.c.reply(presenceError(e, "cancel", "conflict", "that nickname is in use in this room"))
		return
	}
	for u, n := range r.web {
		if n == nick && u != userID {
			r.c.reply(presenceError(e, "cancel", "conflict", "that nickname is in use in this room"))
			return
		}
	}
	if err := r.load(userID); err != nil {
		typ, cond, text := r.errorFor(err, "join")
		r.c.reply(presenceError(e, typ, cond, text))
		return
	}
	if r.users[userID] == 0 {
		ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
		_, err := r.c.cfg.Chat.Join(ctx, userID, r.id)
		cancel()
		if err != nil {
			typ, cond, text := r.errorFor(err, "join")
			r.c.reply(presenceError(e, typ, cond, text))
			return
		}
	}
	// History before anything changes, so a failure leaves no trace.
	hist, err := r.history(userID, e.child(nsMUC, "x").child(nsMUC, "history"))
	if err != nil {
		if r.users[userID] == 0 {
			r.leavePlugin(userID)
		}
		typ, cond, text := r.errorFor(err, "join")
		r.c.reply(presenceError(e, typ, cond, text))
		return
	}
	o := &occupant{full: s.from, nick: nick, userID: userID}
	// Existing occupants, as the newcomer sees them.
	shown := make(map[string]bool)
	for _, x := range r.occupants {
		if shown[x.nick] {
			continue
		}
		shown[x.nick] = true
		r.send(r.presence(x.nick, x.userID, x.full.String(), o.full, false))
	}
	for u, n := range r.web {
		if u != userID {
			r.send(r.presence(n, u, "", o.full, false))
		}
	}
	// The newcomer, as the others see them (once per nick).
	_, nickShown := r.nicks[nick]
	if !nickShown {
		delete(r.web, userID)
		r.broadcast(r.presence(nick, userID, o.full.String(), jid.JID{}, false), r.everyone())
	}
	r.occupants[key] = o
	r.nicks[nick] = userID
	r.users[userID]++
	delete(r.web, userID)
	r.send(r.presence(nick, userID, o.full.String(), o.full, false, "100", "110"))
	for _, m := range hist {
		r.send(r.messageStanza(m, o.full, true))
	}
	subject := r.name
	if r.topic != "" {
		subject = r.topic
	}
	r.send(el("", "message", "from", r.jid.String(), "to", o.full.String(), "type", "groupchat", "id", newID()).
		add(el("", "subject").text(subject)))
	r.c.recent.touch(userID, r.id, r.name)
}

// history fetches the messages a join replays, as asked by the client's
// <history/> element, up to the room's head.
func (r *room) history(userID string, h *elem) ([]hostsdk.Message, error) {
	n := defaultHistory
	var since time.Time
	if h != nil {
		if v := h.attr("maxstanzas"); v != "" {
			if k, err := strconv.Atoi(v); err == nil && k >= 0 {
				n = min(k, maxHistory)
			}
		}
		if v := h.attr("seconds"); v != "" {
			if k, err := strconv.Atoi(v); err == nil && k >= 0 {
				since = time.Now().Add(-time.Duration(k) * time.Second)
			}
		}
		if v := h.attr("since"); v != "" {
			if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.After(since) {
				since = t
			}
		}
		if v := h.attr("maxchars"); v == "0" {
			n = 0
		}
	}
	if n == 0 || r.head == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	page, err := r.c.cfg.Chat.History(ctx, userID, r.id, r.head+1, n)
	if err != nil {
		return nil, err
	}
	out := page.Messages[:0]
	for _, m := range page.Messages {
		if isPlain(m) && m.Seq <= r.head && (since.IsZero() || m.SentAt.After(since)) {
			out = append(out, m)
		}
	}
	return out, nil
}

// leave handles an occupant leaving (or vanishing, if bounced).
func (r *room) leave(from jid.JID, bounced bool) {
	o, ok := r.occupants[from.String()]
	if !ok {
		return
	}
	if !bounced {
		r.send(r.presence(o.nick, o.userID, o.full.String(), o.full, true, "110"))
	}
	r.drop(o)
}

// drop removes an occupant and tells the others.
func (r *room) drop(o *occupant) {
	delete(r.occupants, o.full.String())
	nickLeft := true
	for _, x := range r.occupants {
		if x.nick == o.nick {
			nickLeft = false
		}
	}
	if nickLeft {
		delete(r.nicks, o.nick)
		r.broadcast(r.presence(o.nick, o.userID, o.full.String(), jid.JID{}, true), r.everyone())
	}
	r.users[o.userID]--
	if r.users[o.userID] <= 0 {
		delete(r.users, o.userID)
		delete(r.moderators, o.userID)
		r.leavePlugin(o.userID)
	}
}

func (r *room) leavePlugin(userID string) {
	ctx, cancel := context.WithTimeout(r.c.ctx, 2*time.Second)
	defer cancel()
	if err := r.c.cfg.Chat.Leave(ctx, userID, r.id); err != nil {
		r.c.log.Debug("leave failed", "room", r.id, "user", userID, "error", err)
	}
}

// removal says why an occupant is removed: the status codes (307 kicked,
// 301 banned, 321 lost membership, 332 room gone) and, for a moderator's
// kick or ban, who did it and why.
type removal struct {
	codes  []string
	banned bool   // the item's affiliation is outcast
	actor  string // the moderator's nick, if known
	reason string
}

// unavailable builds the presence that shows nick leaving for rm, as sent
// to to; self adds status 110 for the removed occupant's own resource.
func (r *room) unavailable(nick, full string, to jid.JID, self bool, rm removal) *elem {
	aff := "member"
	if rm.banned {
		aff = "outcast"
	}
	item := el("", "item", "affiliation", aff, "role", "none", "jid", full)
	if rm.actor != "" {
		item.add(el("", "actor", "nick", rm.actor))
	}
	if rm.reason != "" {
		item.add(el("", "reason").text(rm.reason))
	}
	x := el(nsMUCUser, "x").add(item)
	if self {
		x.add(el("", "status", "code", "110"))
	}
	for _, c := range rm.codes {
		x.add(el("", "status", "code", c))
	}
	return el("", "presence", "from", r.jid.String()+"/"+nick, "to", to.String(), "type", "unavailable").add(x)
}

// kick removes an occupant for rm: it tells the occupant (110 and the
// codes), and the others once the nick's last resource is gone.
func (r *room) kick(o *occupant, rm removal) {
	r.send(r.unavailable(o.nick, o.full.String(), o.full, true, rm))
	delete(r.occupants, o.full.String())
	nickLeft := true
	for _, x := range r.occupants {
		if x.nick == o.nick {
			nickLeft = false
		}
	}
	if nickLeft {
		delete(r.nicks, o.nick)
		r.broadcast(r.unavailable(o.nick, o.full.String(), jid.JID{}, false, rm), r.everyone())
	}
	r.users[o.userID]--
	if r.users[o.userID] <= 0 {
		delete(r.users, o.userID)
		delete(r.moderators, o.userID)
		r.leavePlugin(o.userID)
	}
}

// recheck removes occupants who lost view permission; it runs twice per
// permission window, so a revocation takes effect within it.
func (r *room) recheck() {
	r.retryJoins()
	if len(r.users) == 0 {
		return
	}
	users := make([]string, 0, len(r.users))
	for u := range r.users {
		users = append(users, u)
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	allowed, err := r.c.cfg.Chat.AuthorizeViewers(ctx, r.id, users)
	cancel()
	if err != nil {
		r.c.log.Warn("cannot re-check XMPP occupants' permissions", "room", r.id, "error", err)
		return
	}
	ok := make(map[string]bool, len(allowed))
	for _, u := range allowed {
		ok[u] = true
	}
	why := make(map[string]removal)
	for _, o := range r.occupants {
		if ok[o.userID] {
			continue
		}
		rm, known := why[o.userID]
		if !known {
			rm = r.lostAccess(o.userID)
			why[o.userID] = rm
		}
		r.c.log.Info("XMPP occupant removed: no longer allowed in the room", "room", r.id, "user", o.userID, "jid", o.full.String(), "banned", rm.banned)
		r.kick(o, rm)
	}
	// Browser users who lost view: stop showing them.
	if len(r.web) > 0 && len(r.occupants) > 0 {
		r.refreshWeb()
	}
}

// lostAccess tells why a user the re-check refused may no longer be in
// the room: a ban (which AuthorizeViewers counts too) is shown as one, 301
// with the plugin's sentence as the reason, should the re-check see it
// before the ban's event; anything else is lost view permission.
func (r *room) lostAccess(userID string) removal {
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	_, err := r.c.cfg.Chat.RoomInfo(ctx, userID, r.id)
	var pe *hostsdk.Error
	if errors.Is(err, hostsdk.ErrBanned) && errors.As(err, &pe) {
		return removal{codes: []string{"301"}, banned: true, reason: pe.Message}
	}
	return removal{codes: []string{"307", "321"}}
}

// refreshWeb is a no-op hook kept for symmetry: browser presence arrives
// through the feed.
func (r *room) refreshWeb() {}

// groupchat handles a message from an occupant to the room.
func (r *room) groupchat(s stanzaIn) {
	e := s.e
	o, ok := r.occupants[s.from.String()]
	if !ok {
		r.c.reply(stanzaError(e, "modify", "not-acceptable", "join the room before sending messages"))
		return
	}
	if s.to.Resourcepart() != "" {
		r.c.reply(stanzaError(e, "modify", "bad-request", "send group messages to the room's address"))
		return
	}
	r.displayed(o, e) // a XEP-0333 read marker (markers.go)
	// A retraction carries a fallback body for old clients: it is
	// recognised before the body is taken as a message.
	if id, ok := retractionOf(e); ok {
		r.retractOwn(s, o, id)
		return
	}
	body, hasBody := childTextOK(e, "", "body")
	if !hasBody {
		if subject, ok := childTextOK(e, "", "subject"); ok {
			r.setSubject(s, o, subject)
		}
		return // chat states and receipts: nothing to store
	}
	if rep := e.child(nsCorrect, "replace"); rep != nil {
		r.correct(s, o, rep.attr("id"), body)
		return
	}
	id := e.child(nsSID, "origin-id").attr("id")
	if id == "" {
		id = e.attr("id")
	}
	clientID := clientIDFor(id)
	key := o.userID + "\x00" + clientID
	if _, seen := r.sentNick[key]; !seen {
		r.sentNick[key] = o.nick
		r.sentOrder = append(r.sentOrder, key)
		if len(r.sentOrder) > recentClientIDs {
			delete(r.sentNick, r.sentOrder[0])
			r.sentOrder = r.sentOrder[1:]
		}
	}
	select {
	case r.slots <- struct{}{}:
	default:
		r.c.reply(stanzaError(e, "wait", "resource-constraint", "too many messages in flight; slow down"))
		return
	}
	r.sends.Add(1)
	// The room's fields belong to its goroutine: the send takes copies.
	userID, roomID, roomName := o.userID, r.id, r.name
	go func() {
		defer r.sends.Done()
		defer func() { <-r.slots }()
		ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
		defer cancel()
		_, err := r.c.cfg.Chat.Send(ctx, userID, roomID, clientID, body)
		if err != nil {
			typ, cond, text := r.errorFor(err, "post")
			_ = r.c.enqueue(r.c.ctx, stanzaError(e, typ, cond, text))
			return
		}
		r.c.recent.touch(userID, roomID, roomName)
	}()
}

// childTextOK reports the text of a child and whether the child exists.
func childTextOK(e *elem, space, local string) (string, bool) {
	for _, c := range e.Children {
		if c.Name.Local == local && c.Name.Space == space {
			return c.Text, true
		}
	}
	return "", false
}

// clientIDFor derives the plugin's client id from a stanza id: a resent
// stanza (same id) stores one message. Ids too long for the plugin are
// hashed; a stanza without any id gets a random one.
func clientIDFor(id string) string {
	if id == "" {
		return clientIDPrefix + "r-" + newID()
	}
	if len(clientIDPrefix)+len(id) > 120 {
		sum := sha256.Sum256([]byte(id))
		return clientIDPrefix + "h-" + hex.EncodeToString(sum[:16])
	}
	return clientIDPrefix + id
}

// presenceError builds a presence error reply.
func presenceError(in *elem, typ, cond, text string) *elem {
	out := stanzaError(in, typ, cond, text)
	out.Children = append([]*elem{el(nsMUC, "x")}, out.Children...)
	return out
}

// newID returns a random stanza id.
func newID() string {
	var b [9]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
