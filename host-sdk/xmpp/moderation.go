package xmpp

import (
	"context"
	"strconv"
	"strings"
	"time"

	"mellium.im/xmpp/jid"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

// Moderation from XMPP clients: corrections (XEP-0308), retractions
// (XEP-0424), moderated retractions (XEP-0425), kicks, bans and the ban
// list (XEP-0045 admin requests) and subject changes all become the
// plugin's own calls, made as the linked user, so the plugin's rules (edit
// window, authorship, moderate permission, bans) decide, and every refusal
// is answered with an error stanza carrying the plugin's sentence.

const (
	nsMUCAdmin = "http://jabber.org/protocol/muc#admin"
	// The pre-2023 forms of XEP-0424 and XEP-0425, wrapped in a XEP-0422
	// <apply-to/>, which some clients still send.
	nsFasten    = "urn:xmpp:fasten:0"
	nsRetract0  = "urn:xmpp:message-retract:0"
	nsModerate0 = "urn:xmpp:message-moderate:0"

	// recentSeqs bounds the memory of which client id got which sequence.
	recentSeqs = 4096
	// scanPages and scanPage bound the history searched for a client id
	// the memory no longer holds (after a restart, or in a busy room).
	scanPages = 5
	scanPage  = 100
)

// UserJIDs is implemented by a Users that can also name a user's linked
// address. With it the ban list a moderator asks for over XMPP carries
// each banned user's JID; without it, their user id as the item's nick.
type UserJIDs interface {
	// UserJID returns the bare JID userID linked and verified.
	UserJID(ctx context.Context, userID string) (bareJID string, ok bool, err error)
}

// roleOf is the MUC role and affiliation a user's presence shows: the
// page's moderators are moderators and admins, so clients offer them
// their moderation tools; everyone else is a participant and member.
func (r *room) roleOf(userID string) (role, affiliation string) {
	if r.moderators[userID] {
		return "moderator", "admin"
	}
	return "participant", "member"
}

// remember records which sequence a message sent through the bridge got,
// under its sender and client id. A correction's id stands for the
// message it corrected, since some clients correct a correction by naming
// the last one.
func (r *room) remember(m hostsdk.Message) {
	if originID(m) == "" {
		return
	}
	key := m.UserID + "\x00" + m.ClientID
	if _, ok := r.seqOf[key]; ok {
		return
	}
	seq := m.Seq
	if m.Kind == hostsdk.KindEdit {
		seq = m.Target
	}
	// Also under the client id alone: a client naming another user's
	// message by the id it was relayed with is then told it is not theirs.
	for _, k := range []string{key, "\x00" + m.ClientID} {
		if _, ok := r.seqOf[k]; !ok {
			r.seqOrder = append(r.seqOrder, k)
		}
		r.seqOf[k] = seq
	}
	for len(r.seqOrder) > recentSeqs {
		delete(r.seqOf, r.seqOrder[0])
		r.seqOrder = r.seqOrder[1:]
	}
}

// retractionOf returns the id a XEP-0424 retraction names, in its current
// form or the older one wrapped in <apply-to/>.
func retractionOf(e *elem) (string, bool) {
	if x := e.child(nsRetract, "retract"); x != nil {
		return x.attr("id"), true
	}
	if a := e.child(nsFasten, "apply-to"); a != nil && a.child(nsRetract0, "retract") != nil {
		return a.attr("id"), true
	}
	return "", false
}

// seqFromStanzaID reads the sequence out of an id the bridge gave a
// message: its stanza-id (the sequence) or "pagechat-SEQ".
func seqFromStanzaID(id string) uint64 {
	id = strings.TrimPrefix(id, "pagechat-")
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// find resolves the id a client used for a message to that message, as
// userID sees it. A client names a message by the id the bridge sent it
// with: "pagechat-SEQ" for messages from elsewhere, its own origin-id (or
// stanza id) for its user's messages, which the bridge stored as the
// client id; or by the room's stanza-id, the sequence. found is false when
// no message matches.
func (r *room) find(ctx context.Context, userID, id string) (m hostsdk.Message, found bool, err error) {
	if id == "" {
		return hostsdk.Message{}, false, nil
	}
	clientID := clientIDFor(id)
	var seq uint64
	if strings.HasPrefix(id, "pagechat-") {
		seq = seqFromStanzaID(id)
	}
	if seq == 0 {
		seq = r.seqOf[userID+"\x00"+clientID]
	}
	if seq == 0 {
		seq = r.seqOf["\x00"+clientID]
	}
	if seq == 0 {
		seq = seqFromStanzaID(id)
	}
	if seq != 0 {
		return r.messageAt(ctx, userID, seq)
	}
	// Not remembered: search the recent messages for the client id, the
	// user's own first. A message whose Send is still in flight (a client
	// may correct at once) is waited for first; only this goroutine adds
	// sends, so the wait is bounded by their RPCs.
	r.sends.Wait()
	var before uint64
	var other hostsdk.Message
	for range scanPages {
		page, err := r.c.cfg.Chat.History(ctx, userID, r.id, before, scanPage)
		if err != nil {
			return hostsdk.Message{}, false, err
		}
		for i := len(page.Messages) - 1; i >= 0; i-- {
			m := page.Messages[i]
			if m.ClientID != clientID {
				continue
			}
			if m.UserID != userID {
				if other.Seq == 0 && isPlain(m) {
					other = m
				}
				continue
			}
			if m.Kind == hostsdk.KindEdit {
				return r.messageAt(ctx, userID, m.Target)
			}
			if isPlain(m) {
				return m, true, nil
			}
		}
		if !page.HasMore || len(page.Messages) == 0 {
			break
		}
		before = page.Messages[0].Seq
	}
	return other, other.Seq != 0, nil
}

// messageAt reads the plain message at seq as userID; an edit's sequence
// (the id its correction was relayed with) stands for the message it
// edited.
func (r *room) messageAt(ctx context.Context, userID string, seq uint64) (hostsdk.Message, bool, error) {
	for range 2 {
		page, err := r.c.cfg.Chat.History(ctx, userID, r.id, seq+1, 1)
		if err != nil {
			return hostsdk.Message{}, false, err
		}
		if len(page.Messages) != 1 || page.Messages[0].Seq != seq {
			break
		}
		m := page.Messages[0]
		if isPlain(m) {
			return m, true, nil
		}
		if m.Kind != hostsdk.KindEdit || m.Target == 0 {
			break
		}
		seq = m.Target
	}
	return hostsdk.Message{}, false, nil
}

// refuse answers in with the error that err maps to.
func (r *room) refuse(in *elem, err error, action string) {
	typ, cond, text := r.errorFor(err, action)
	r.c.reply(stanzaError(in, typ, cond, text))
}

// correct makes an occupant's XEP-0308 correction an edit of the message
// it replaces. The plugin checks authorship and the edit window; the
// bridge checks authorship first too, so a correction of someone else's
// message gets a sentence about that rather than about a window.
func (r *room) correct(s stanzaIn, o *occupant, replaced, body string) {
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	m, found, err := r.find(ctx, o.userID, replaced)
	switch {
	case err != nil:
		r.refuse(s.e, err, "edit")
		return
	case !found:
		r.c.reply(stanzaError(s.e, "cancel", "item-not-found", "the message this corrects is not in the room's recent history, so it cannot be edited"))
		return
	case m.Erased:
		r.c.reply(stanzaError(s.e, "cancel", "item-not-found", "the message this corrects was deleted"))
		return
	case m.UserID != o.userID:
		r.c.reply(stanzaError(s.e, "auth", "forbidden", "you can only correct your own messages"))
		return
	}
	id := s.e.child(nsSID, "origin-id").attr("id")
	if id == "" {
		id = s.e.attr("id")
	}
	if _, err := r.c.cfg.Chat.EditMessage(ctx, o.userID, r.id, m.Seq, body, clientIDFor(id)); err != nil {
		r.refuse(s.e, err, "edit")
	}
	// The edit comes back through the feed as a correction to everyone.
}

// retractOwn makes an occupant's XEP-0424 retraction of their own message
// a delete. Retracting someone else's message is a moderator's action,
// which XEP-0425 asks for with an IQ to the room.
func (r *room) retractOwn(s stanzaIn, o *occupant, id string) {
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	m, found, err := r.find(ctx, o.userID, id)
	switch {
	case err != nil:
		r.refuse(s.e, err, "delete")
		return
	case !found:
		r.c.reply(stanzaError(s.e, "cancel", "item-not-found", "the message this retracts is not in the room's recent history, so it cannot be deleted"))
		return
	case m.UserID != o.userID:
		r.c.reply(stanzaError(s.e, "auth", "forbidden", "you can only retract your own messages; moderators remove others' with a moderation request"))
		return
	}
	if _, err := r.c.cfg.Chat.DeleteMessage(ctx, o.userID, r.id, m.Seq, ""); err != nil {
		r.refuse(s.e, err, "delete")
	}
}

// setSubject makes an occupant's subject change the room's topic; the
// plugin lets only moderators set it.
func (r *room) setSubject(s stanzaIn, o *occupant, subject string) {
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	if _, err := r.c.cfg.Chat.SetTopic(ctx, o.userID, r.id, subject); err != nil {
		r.refuse(s.e, err, "set the subject")
	}
}

// moderator maps an IQ's sender to a user who moderates the room,
// answering with an error if they are not one.
func (r *room) moderator(ctx context.Context, s stanzaIn) (string, bool) {
	userID, ok := r.linkedUser(ctx, s)
	if !ok {
		return "", false
	}
	info, rights, err := r.c.cfg.Chat.RoomWithRights(ctx, userID, r.id)
	if err != nil {
		r.refuse(s.e, err, "join")
		return "", false
	}
	r.name = info.Name
	if !rights.CanModerate {
		r.c.reply(stanzaError(s.e, "auth", "forbidden", "only the page's moderators may do this in its chat room"))
		return "", false
	}
	return userID, true
}

// moderate answers a XEP-0425 request to retract a message as a
// moderator: the current form (<moderate xmlns='urn:xmpp:message-moderate:1'
// id=STANZA-ID>) or the older one wrapped in <apply-to/>.
func (r *room) moderate(s stanzaIn) {
	e := s.e
	var id, reason string
	retract := false
	if m := e.child(nsModerate, "moderate"); m != nil {
		id, reason = m.attr("id"), m.childText(nsModerate, "reason")
		retract = m.child(nsRetract, "retract") != nil
	} else {
		a := e.child(nsFasten, "apply-to")
		m := a.child(nsModerate0, "moderate")
		id, reason = a.attr("id"), m.childText(nsModerate0, "reason")
		retract = m.child(nsRetract0, "retract") != nil
	}
	if !retract {
		r.c.reply(stanzaError(e, "cancel", "feature-not-implemented", "only retraction is supported as a moderation action"))
		return
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	userID, ok := r.moderator(ctx, s)
	if !ok {
		return
	}
	seq := seqFromStanzaID(id)
	if seq == 0 {
		r.c.reply(stanzaError(e, "cancel", "item-not-found", "name the message by the stanza-id the room gave it"))
		return
	}
	if _, err := r.c.cfg.Chat.DeleteMessage(ctx, userID, r.id, seq, reason); err != nil {
		r.refuse(e, err, "delete")
		return
	}
	r.c.reply(iqResult(e))
}

// admin answers XEP-0045 admin requests: kick (role none), ban
// (affiliation outcast, with a reason), unban (affiliation none) and the
// ban list. Other roles and affiliations are the page's permissions on the
// wiki and cannot be changed here.
func (r *room) admin(s stanzaIn) {
	e := s.e
	q := e.child(nsMUCAdmin, "query")
	var items []*elem
	for _, c := range q.Children {
		if c.Name.Local == "item" && c.Name.Space == nsMUCAdmin {
			items = append(items, c)
		}
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	if e.attr("type") == "get" {
		if len(items) != 1 || items[0].attr("affiliation") != "outcast" {
			r.c.reply(stanzaError(e, "cancel", "feature-not-implemented", "only the ban list (affiliation outcast) can be listed; other roles and affiliations follow the page's permissions on the wiki"))
			return
		}
		if userID, ok := r.moderator(ctx, s); ok {
			r.banList(ctx, s, userID)
		}
		return
	}
	if len(items) == 0 {
		r.c.reply(stanzaError(e, "modify", "bad-request", "the request names no occupant or address"))
		return
	}
	userID, ok := r.moderator(ctx, s)
	if !ok {
		return
	}
	for _, it := range items {
		role, aff := it.attr("role"), it.attr("affiliation")
		reason := it.childText(nsMUCAdmin, "reason")
		var err error
		switch {
		case role == "none" && aff == "":
			target, ok := r.targetOf(ctx, s, it, false)
			if !ok {
				return
			}
			_, err = r.c.cfg.Chat.Kick(ctx, userID, r.id, target, reason)
		case aff == "outcast" && role == "":
			target, ok := r.targetOf(ctx, s, it, false)
			if !ok {
				return
			}
			_, err = r.c.cfg.Chat.Ban(ctx, userID, r.id, target, reason, time.Time{})
		case aff == "none" && role == "":
			target, ok := r.targetOf(ctx, s, it, true)
			if !ok {
				return
			}
			_, err = r.c.cfg.Chat.Unban(ctx, userID, r.id, target)
		default:
			r.c.reply(stanzaError(e, "cancel", "not-allowed", "only kicks (role none), bans (affiliation outcast) and unbans (affiliation none) can be made here; other roles and affiliations follow the page's permissions on the wiki"))
			return
		}
		if err != nil {
			r.refuse(e, err, "moderate")
			return
		}
	}
	r.c.reply(iqResult(e))
}

// targetOf maps an admin item to the user it names: by jid (the user who
// linked that address) or by nick (an occupant, in XMPP or the browser).
// For an unban, a nick that is no occupant is taken as the user id the
// ban list showed.
func (r *room) targetOf(ctx context.Context, s stanzaIn, it *elem, unban bool) (string, bool) {
	if a := it.attr("jid"); a != "" {
		j, err := jid.Parse(a)
		if err != nil {
			r.c.reply(stanzaError(s.e, "modify", "jid-malformed", "that is not an XMPP address"))
			return "", false
		}
		userID, ok, err := r.c.lookupUser(ctx, j)
		switch {
		case err != nil:
			r.c.reply(stanzaError(s.e, "wait", "internal-server-error", "cannot look up that address's account right now"))
			return "", false
		case !ok:
			r.c.reply(stanzaError(s.e, "cancel", "item-not-found", j.Bare().String()+" is not linked to a wiki account"))
			return "", false
		}
		return userID, true
	}
	nick := it.attr("nick")
	if nick == "" {
		r.c.reply(stanzaError(s.e, "modify", "bad-request", "name the occupant by nick or jid"))
		return "", false
	}
	if u, ok := r.nicks[nick]; ok {
		return u, true
	}
	for u, n := range r.web {
		if n == nick {
			return u, true
		}
	}
	if unban {
		return nick, true
	}
	r.c.reply(stanzaError(s.e, "cancel", "item-not-found", "nobody in this room has the nick "+nick))
	return "", false
}

// banList answers the ban list: an outcast item per ban, with the banned
// user's JID when the host can name it (UserJIDs), else their user id as
// the nick, and the ban's reason and end.
func (r *room) banList(ctx context.Context, s stanzaIn, userID string) {
	bans, err := r.c.cfg.Chat.Bans(ctx, userID, r.id)
	if err != nil {
		r.refuse(s.e, err, "moderate")
		return
	}
	jids, _ := r.c.cfg.Users.(UserJIDs)
	q := el(nsMUCAdmin, "query")
	for _, b := range bans {
		it := el("", "item", "affiliation", "outcast")
		known := false
		if jids != nil {
			if j, ok, err := jids.UserJID(ctx, b.UserID); err == nil && ok {
				it.setAttr("jid", j)
				known = true
			}
		}
		if !known {
			it.setAttr("nick", b.UserID)
		}
		reason := b.Reason
		if !b.ExpiresAt.IsZero() {
			if reason != "" {
				reason += "; "
			}
			reason += "until " + b.ExpiresAt.UTC().Format(time.RFC3339)
		}
		if reason != "" {
			it.add(el("", "reason").text(reason))
		}
		q.add(it)
	}
	r.c.reply(iqResult(s.e).add(q))
}

// removeUser shows a kick or ban event: the subject's occupants leave with
// 307 (kicked) or 301 (banned), the moderator as actor and the reason,
// and a browser user shown as an occupant leaves the same way.
func (r *room) removeUser(m hostsdk.Message) {
	rm := removal{codes: []string{"307"}, actor: r.nickOf(m), reason: m.Reason}
	if m.Kind == hostsdk.KindBan {
		rm.codes, rm.banned = []string{"301"}, true
	}
	for _, o := range r.occupants {
		if o.userID == m.Subject {
			r.c.log.Info("XMPP occupant removed by a moderator", "room", r.id, "user", o.userID, "jid", o.full.String(), "by", m.UserID, "kind", m.Kind)
			r.kick(o, rm)
		}
	}
	if nick, ok := r.web[m.Subject]; ok {
		delete(r.web, m.Subject)
		r.broadcast(r.unavailable(nick, "", jid.JID{}, false, rm), r.everyone())
	}
}
