package xmpp

import (
	"context"
	"net/url"
	"strconv"
	"strings"

	"mellium.im/xmpp/jid"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

const (
	nsCorrect  = "urn:xmpp:message-correct:0"
	nsRetract  = "urn:xmpp:message-retract:1"
	nsModerate = "urn:xmpp:message-moderate:1"
	nsFallback = "urn:xmpp:fallback:0"

	// retractedText is the body clients without XEP-0424 show instead.
	retractedText = "This message was deleted."
)

// originID is the origin-id an XMPP client gave message m ("" if it came
// from elsewhere).
func originID(m hostsdk.Message) string {
	if strings.HasPrefix(m.ClientID, clientIDPrefix) {
		return strings.TrimPrefix(m.ClientID, clientIDPrefix)
	}
	return ""
}

// stanzaID is the id attribute of the stanza that carries m: the client's
// own id when it came through the bridge, so its sender recognises the
// reflection, else one derived from the sequence. Corrections refer to it.
func stanzaID(m hostsdk.Message) string {
	if id := originID(m); id != "" {
		return id
	}
	return "pagechat-" + strconv.FormatUint(m.Seq, 10)
}

// isPlain tells a chat message from the events the room's log also holds
// (History returns both); only the former are replayed as messages, since
// an edit's or delete's effect is already in the message it changed.
func isPlain(m hostsdk.Message) bool {
	return m.Kind == "" || m.Kind == hostsdk.KindMessage
}

// bodyOf is the body a stored message is shown with: a deleted one (as
// history and the archive still list it, with its text gone) reads as
// deleted rather than as an empty message.
func bodyOf(m hostsdk.Message, base *url.URL) string {
	if m.Erased {
		return retractedText
	}
	return plainText(m, base)
}

// relay shows one new log entry to the occupants. Plain messages go out as
// they are; edits, deletes and topic changes become the XMPP equivalents;
// a kick or ban removes the user's occupants with the MUC status codes;
// unbans are not shown.
func (r *room) relay(m hostsdk.Message) {
	switch {
	case isPlain(m):
		r.remember(m)
		r.broadcast(r.messageStanza(m, jid.JID{}, false), r.everyone())
	case m.Kind == hostsdk.KindEdit:
		if m.Erased {
			return // a later change superseded it: that one is shown instead
		}
		r.remember(m)
		orig, ok := r.original(m.Target)
		if !ok {
			return
		}
		nick := r.nickOf(orig)
		// A correction sent over XMPP keeps its stanza's id and
		// origin-id, so its sender recognises the reflection.
		st := el("", "message", "from", r.jid.String()+"/"+nick, "type", "groupchat", "id", stanzaID(m)).
			add(el("", "body").text(plainText(m, r.c.baseURL))).
			add(el(nsCorrect, "replace", "id", stanzaID(orig))).
			add(el(nsSID, "stanza-id", "by", r.jid.String(), "id", strconv.FormatUint(m.Seq, 10)))
		if id := originID(m); id != "" {
			st.add(el(nsSID, "origin-id", "id", id))
		}
		r.broadcast(st, r.everyone())
	case m.Kind == hostsdk.KindDelete:
		r.relayDelete(m)
	case m.Kind == hostsdk.KindKick, m.Kind == hostsdk.KindBan:
		r.removeUser(m)
	case m.Kind == hostsdk.KindTopic:
		r.topic = m.Text
		subject := m.Text
		if subject == "" {
			subject = r.name
		}
		nick := r.nickOf(m)
		r.broadcast(el("", "message", "from", r.jid.String()+"/"+nick, "type", "groupchat", "id", "pagechat-"+strconv.FormatUint(m.Seq, 10)).
			add(el("", "subject").text(subject)), r.everyone())
	}
}

// relayDelete sends a XEP-0424 retraction of the deleted message. The id
// it names is the original's stanza-id (its sequence), which is what a
// groupchat retraction refers to. The author's own delete comes from their
// nick; a moderator's comes from the room, wrapped per XEP-0425.
func (r *room) relayDelete(m hostsdk.Message) {
	target := strconv.FormatUint(m.Target, 10)
	id := "pagechat-" + strconv.FormatUint(m.Seq, 10)
	orig, ok := r.original(m.Target)
	byAuthor := ok && orig.UserID == m.UserID
	if len(r.occupants) == 0 {
		return
	}
	var st *elem
	if byAuthor {
		st = el("", "message", "from", r.jid.String()+"/"+r.nickOf(orig), "type", "groupchat", "id", id).
			add(el(nsRetract, "retract", "id", target))
	} else {
		ret := el(nsRetract, "retract", "id", target).
			add(el(nsModerate, "moderated", "by", r.jid.String()+"/"+r.nickOf(m)))
		if m.Reason != "" {
			ret.add(el("", "reason").text(m.Reason))
		}
		st = el("", "message", "from", r.jid.String(), "type", "groupchat", "id", id).add(ret)
	}
	st.add(el(nsFallback, "fallback", "for", nsRetract)).
		add(el("", "body").text(retractedText)).
		add(el(nsSID, "stanza-id", "by", r.jid.String(), "id", strconv.FormatUint(m.Seq, 10)))
	r.broadcast(st, r.everyone())
}

// original fetches the plain message at seq, as one of the occupants
// (the feed itself belongs to no user), so a change can name it the way
// occupants saw it.
func (r *room) original(seq uint64) (hostsdk.Message, bool) {
	userID := ""
	for _, o := range r.occupants {
		userID = o.userID
		break
	}
	if userID == "" || seq == 0 {
		return hostsdk.Message{}, false
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	page, err := r.c.cfg.Chat.History(ctx, userID, r.id, seq+1, 1)
	if err != nil {
		r.c.log.Debug("cannot fetch the message a change refers to", "room", r.id, "seq", seq, "error", err)
		return hostsdk.Message{}, false
	}
	for _, x := range page.Messages {
		if x.Seq == seq {
			return x, true
		}
	}
	return hostsdk.Message{}, false
}
