package xmpp

import (
	"context"
	"encoding/xml"
	"strconv"
	"time"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

// maxMAMPage caps one MAM page.
const maxMAMPage = 100

// iq answers IQs addressed to the room or to an occupant's nick.
func (r *room) iq(s stanzaIn) {
	e := s.e
	typ := e.attr("type")
	if typ != "get" && typ != "set" {
		return
	}
	if s.to.Resourcepart() != "" {
		// XEP-0410 self-ping: answered by the room for its occupants,
		// so a client learns whether it is still joined.
		if typ == "get" && e.child(nsPing, "ping") != nil {
			o, ok := r.occupants[s.from.String()]
			if ok && o.nick == s.to.Resourcepart() {
				r.c.reply(iqResult(e))
				return
			}
			r.c.reply(stanzaError(e, "modify", "not-acceptable", "you are not in this room"))
			return
		}
		r.c.reply(stanzaError(e, "cancel", "feature-not-implemented", ""))
		return
	}
	switch {
	case typ == "get" && e.child(nsDiscoInfo, "query") != nil:
		r.discoInfo(s)
	case typ == "get" && e.child(nsDiscoItem, "query") != nil:
		if _, ok := r.authorize(s); ok {
			// Occupants are announced by presence, not listed.
			r.c.reply(iqResult(e).add(el(nsDiscoItem, "query")))
		}
	case typ == "get" && e.child(nsPing, "ping") != nil:
		r.c.reply(iqResult(e))
	case typ == "set" && e.child(nsMAM, "query") != nil:
		r.mam(s)
	case typ == "get" && e.child(nsMAM, "metadata") != nil:
		r.mamMetadata(s)
	case typ == "set" && (e.child(nsModerate, "moderate") != nil || e.child(nsFasten, "apply-to").child(nsModerate0, "moderate") != nil):
		r.moderate(s)
	case e.child(nsMUCAdmin, "query") != nil:
		r.admin(s)
	default:
		r.c.reply(stanzaError(e, "cancel", "service-unavailable", ""))
	}
}

// authorize maps the sender to a user who may view the room, answering
// with an error if not. It loads the room's name on the way.
func (r *room) authorize(s stanzaIn) (string, bool) {
	userID, ok := r.linkedUser(r.c.ctx, s)
	if !ok {
		return "", false
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	info, err := r.c.cfg.Chat.RoomInfo(ctx, userID, r.id)
	if err != nil {
		typ, cond, text := r.errorFor(err, "join")
		r.c.reply(stanzaError(s.e, typ, cond, text))
		return "", false
	}
	r.name = info.Name
	return userID, true
}

func (r *room) discoInfo(s stanzaIn) {
	if _, ok := r.authorize(s); !ok {
		return
	}
	q := el(nsDiscoInfo, "query").add(
		el("", "identity", "category", "conference", "type", "text", "name", r.name),
		el("", "feature", "var", nsMUC),
		el("", "feature", "var", "muc_persistent"),
		el("", "feature", "var", "muc_public"),
		el("", "feature", "var", "muc_nonanonymous"),
		el("", "feature", "var", "muc_unmoderated"),
		el("", "feature", "var", "muc_open"),
		el("", "feature", "var", "muc_unsecured"),
		el("", "feature", "var", nsMAM),
		el("", "feature", "var", nsSID),
		el("", "feature", "var", nsMarkers),
		el("", "feature", "var", nsRetract),
		el("", "feature", "var", nsModerate),
		el("", "feature", "var", nsPing),
		el("", "feature", "var", nsDiscoInfo),
	)
	q.add(el(nsDataForm, "x", "type", "result").add(
		el("", "field", "var", "FORM_TYPE", "type", "hidden").add(el("", "value").text("http://jabber.org/protocol/muc#roominfo")),
		el("", "field", "var", "muc#roomconfig_roomname").add(el("", "value").text(r.name)),
	))
	r.c.reply(iqResult(s.e).add(q))
}

// mam answers a XEP-0313 query on the room: the archive is the room's
// log, and archive ids are sequence numbers, so <after/> and <before/>
// page by sequence.
func (r *room) mam(s stanzaIn) {
	e := s.e
	userID, ok := r.authorize(s)
	if !ok {
		return
	}
	q := e.child(nsMAM, "query")
	set := q.child(nsRSM, "set")
	limit := 50
	if v := set.childText(nsRSM, "max"); v != "" {
		k, err := strconv.Atoi(v)
		if err != nil || k < 0 {
			r.c.reply(stanzaError(e, "modify", "bad-request", "bad <max/>"))
			return
		}
		limit = min(k, maxMAMPage)
	}
	var start, end time.Time
	var with string
	if x := q.child(nsDataForm, "x"); x != nil {
		for _, f := range x.Children {
			v := f.childText(nsDataForm, "value")
			switch f.attr("var") {
			case "start":
				start, _ = time.Parse(time.RFC3339Nano, v)
			case "end":
				end, _ = time.Parse(time.RFC3339Nano, v)
			case "with":
				with = v
			}
		}
	}
	_ = with // filtering by sender is not supported; the whole room is returned
	var after, before uint64
	var err error
	afterEl, beforeEl := set.child(nsRSM, "after"), set.child(nsRSM, "before")
	if afterEl != nil && afterEl.Text != "" {
		if after, err = strconv.ParseUint(afterEl.Text, 10, 64); err != nil {
			r.c.reply(stanzaError(e, "cancel", "item-not-found", "unknown archive id"))
			return
		}
	}
	if beforeEl != nil && beforeEl.Text != "" {
		if before, err = strconv.ParseUint(beforeEl.Text, 10, 64); err != nil {
			r.c.reply(stanzaError(e, "cancel", "item-not-found", "unknown archive id"))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	var msgs []hostsdk.Message
	complete := true
	if limit > 0 {
		switch {
		case afterEl != nil || (beforeEl == nil && !start.IsZero()):
			// Forward from after (or from the start time).
			cursor := after
			for len(msgs) < limit {
				n := limit - len(msgs)
				page, err := r.c.cfg.Chat.History(ctx, userID, r.id, cursor+uint64(n)+1, n)
				if err != nil {
					typ, cond, text := r.errorFor(err, "read")
					r.c.reply(stanzaError(e, typ, cond, text))
					return
				}
				got := 0
				for _, m := range page.Messages {
					if m.Seq <= cursor {
						continue
					}
					cursor = m.Seq
					got++
					if !isPlain(m) || (!start.IsZero() && m.SentAt.Before(start)) {
						continue
					}
					if !end.IsZero() && m.SentAt.After(end) {
						continue
					}
					msgs = append(msgs, m)
				}
				if got == 0 {
					break
				}
			}
			info, err := r.c.cfg.Chat.RoomInfo(ctx, userID, r.id)
			if err == nil {
				complete = cursor >= info.LastSeq
			}
		default:
			// Backward from before (or from the newest).
			page, err := r.c.cfg.Chat.History(ctx, userID, r.id, before, limit)
			if err != nil {
				typ, cond, text := r.errorFor(err, "read")
				r.c.reply(stanzaError(e, typ, cond, text))
				return
			}
			for _, m := range page.Messages {
				if !isPlain(m) || (!start.IsZero() && m.SentAt.Before(start)) || (!end.IsZero() && m.SentAt.After(end)) {
					continue
				}
				msgs = append(msgs, m)
			}
			complete = !page.HasMore
		}
	}
	qid := q.attr("queryid")
	for _, m := range msgs {
		inner := r.messageStanza(m, s.from, false)
		inner.Attrs = dropAttr(inner.Attrs, "to")
		// Forwarded stanzas carry the client namespace explicitly.
		inner.Name.Space = nsClient
		res := el("", "message", "from", r.jid.String(), "to", s.from.String(), "id", newID()).add(
			el(nsMAM, "result", "queryid", qid, "id", strconv.FormatUint(m.Seq, 10)).add(
				el(nsForward, "forwarded").add(
					el(nsDelay, "delay", "stamp", m.SentAt.UTC().Format(time.RFC3339Nano)),
					inner,
				)))
		r.send(res)
	}
	fin := el(nsMAM, "fin")
	if complete {
		fin.setAttr("complete", "true")
	}
	rsm := el(nsRSM, "set")
	if len(msgs) > 0 {
		rsm.add(el(nsRSM, "first", "index", "0").text(strconv.FormatUint(msgs[0].Seq, 10)))
		rsm.add(el(nsRSM, "last").text(strconv.FormatUint(msgs[len(msgs)-1].Seq, 10)))
	}
	r.send(iqResult(e).add(fin.add(rsm)))
}

// mamMetadata answers XEP-0313's metadata query: first and last ids.
func (r *room) mamMetadata(s stanzaIn) {
	userID, ok := r.authorize(s)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
	defer cancel()
	md := el(nsMAM, "metadata")
	info, err := r.c.cfg.Chat.RoomInfo(ctx, userID, r.id)
	if err == nil && info.LastSeq > 0 {
		first, _ := r.c.cfg.Chat.History(ctx, userID, r.id, 2, 1)
		if len(first.Messages) == 1 {
			m := first.Messages[0]
			md.add(el("", "start", "id", "1", "timestamp", m.SentAt.UTC().Format(time.RFC3339)))
		}
		md.add(el("", "end", "id", strconv.FormatUint(info.LastSeq, 10), "timestamp", info.LastActivity.UTC().Format(time.RFC3339)))
	}
	r.c.reply(iqResult(s.e).add(md))
}

func dropAttr(as []xml.Attr, name string) []xml.Attr {
	out := as[:0]
	for _, a := range as {
		if a.Name.Local != name {
			out = append(out, a)
		}
	}
	return out
}

// linkedUser maps an IQ's sender to the wiki user its JID is linked to,
// answering with an error stanza if it cannot or the JID is not linked.
func (r *room) linkedUser(ctx context.Context, s stanzaIn) (string, bool) {
	userID, ok, err := r.c.lookupUser(ctx, s.from)
	if err != nil {
		r.c.reply(stanzaError(s.e, "wait", "internal-server-error", "cannot look up your account right now"))
		return "", false
	}
	if !ok {
		r.c.reply(stanzaError(s.e, "auth", "forbidden", r.c.cfg.LinkHelp))
		return "", false
	}
	return userID, true
}
