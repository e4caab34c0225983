package xmpp

import (
	"context"
	"strconv"
	"strings"
	"sync"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

// XEP-0333 chat markers: a displayed marker an occupant sends to the room
// moves their user's read marker (Client.MarkRead, which never moves a
// marker back), so reading in an XMPP client clears the unread counts the
// wiki shows.

const (
	nsMarkers = "urn:xmpp:chat-markers:0"
	// markerOrigins bounds the origin-ids a room remembers to map a
	// marker that names a message by it.
	markerOrigins = 1024
)

// markers is a room's marker state.
type markers struct {
	// origins maps the origin-id of recent messages sent over XMPP to
	// their sequence; owned by the room's run goroutine.
	origins map[string]uint64
	order   []string

	// pending holds, per user, the highest sequence waiting for MarkRead;
	// one goroutine per room (running) drains it, so a burst of markers
	// costs one call per user.
	mu      sync.Mutex
	pending map[string]uint64
	running bool
}

// displayed handles a chat marker in a groupchat message from occupant
// o: <displayed id=…/> names a message by its stanza-id (the sequence,
// what groupchat markers use), by the id the bridge gave it
// ("pagechat-SEQ") or by its origin-id, and moves o's read marker there.
// Other markers (received, acknowledged) say nothing about reading.
func (r *room) displayed(o *occupant, e *elem) {
	d := e.child(nsMarkers, "displayed")
	if d == nil {
		return
	}
	seq, ok := r.markerSeq(d.attr("id"))
	if !ok || seq == 0 || seq > r.head {
		return // not a message this room delivered
	}
	r.queueMark(o.userID, seq)
}

// markerSeq maps a marker's id to a sequence.
func (r *room) markerSeq(id string) (uint64, bool) {
	if n, err := strconv.ParseUint(id, 10, 64); err == nil {
		return n, true
	}
	if rest, ok := strings.CutPrefix(id, "pagechat-"); ok {
		if n, err := strconv.ParseUint(rest, 10, 64); err == nil {
			return n, true
		}
	}
	seq, ok := r.marks.origins[id]
	return seq, ok
}

// rememberOrigin records the origin-id of a message relayed to the room.
func (r *room) rememberOrigin(m hostsdk.Message) {
	id := originID(m)
	if id == "" || !isPlain(m) {
		return
	}
	if r.marks.origins == nil {
		r.marks.origins = make(map[string]uint64)
	}
	if _, ok := r.marks.origins[id]; !ok {
		r.marks.order = append(r.marks.order, id)
		if len(r.marks.order) > markerOrigins {
			delete(r.marks.origins, r.marks.order[0])
			r.marks.order = r.marks.order[1:]
		}
	}
	r.marks.origins[id] = m.Seq
}

// queueMark asks for userID's marker to move to seq, without waiting.
func (r *room) queueMark(userID string, seq uint64) {
	mk := &r.marks
	mk.mu.Lock()
	defer mk.mu.Unlock()
	if mk.pending == nil {
		mk.pending = make(map[string]uint64)
	}
	if seq > mk.pending[userID] {
		mk.pending[userID] = seq
	}
	if mk.running {
		return
	}
	mk.running = true
	r.sends.Add(1)
	go r.flushMarks()
}

// flushMarks moves the pending markers until none are left.
func (r *room) flushMarks() {
	defer r.sends.Done()
	mk := &r.marks
	for {
		mk.mu.Lock()
		batch := mk.pending
		mk.pending = nil
		if len(batch) == 0 || r.c.ctx.Err() != nil {
			mk.running = false
			mk.mu.Unlock()
			return
		}
		mk.mu.Unlock()
		for userID, seq := range batch {
			ctx, cancel := context.WithTimeout(r.c.ctx, rpcTimeout)
			_, err := r.c.cfg.Chat.MarkRead(ctx, userID, r.id, seq)
			cancel()
			if err != nil {
				r.c.log.Debug("chat marker: cannot move the read marker", "room", r.id, "user", userID, "seq", seq, "error", err)
			}
		}
	}
}
