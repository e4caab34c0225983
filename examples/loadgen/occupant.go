package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// occupant is one XMPP occupant of a room: one client-to-server
// connection, logged in as one resource of an XMPP user, joined to the
// room's JID for the whole run. It counts every groupchat message of the
// tool in the same kind of ledger as an SSE subscriber.
//
// Against the bridge, a message's sequence is its stanza-id (the bridge
// sets it to the room's sequence number); against Prosody's own MUC,
// which numbers nothing in a way the tool can check, the senders number
// their own messages and the sequence rides in the message's client id
// (see laneSeq).
//
// In Prosody MUC mode the first senders-per-room occupants of a room also
// send: to post in a MUC room one must be in it, so the senders are
// occupants, and each message reaches every occupant once, its sender
// included, as in bridge mode where the senders are browsers outside the
// count. An occupant has no reconnect: a connection that breaks is
// counted in stream_errors and what it misses afterwards as lost.
type occupant struct {
	room     *room
	roomJID  string // room@muc-domain
	nick     string
	acct     xmppAccount
	resource string
	bridge   bool // sequence from the bridge's stanza-id, else from the client id
	clock    clock
	c        *counters
	errs     *errorLog

	conn *xmppConn

	ledger subLedger    // written only by run's goroutine; read after it ends
	last   atomic.Int64 // ledger.last, for the settle check
	held   atomic.Int64 // ledger.held, for the settle check

	ready     chan struct{} // closed once the room has sent the self-presence
	readyOnce sync.Once

	// Sending, in Prosody MUC mode only.
	lane      int        // this occupant's sender lane in its room, or -1
	lanes     int        // senders in the room
	reflected chan int64 // sequences of its own messages as the room reflects them
	idPrefix  string
	timeout   time.Duration // longest wait for a reflection before the next send

	ackLatency []uint32 // µs from send to reflection; read after run ends
}

// run joins the room and reads the stream until ctx ends or it breaks.
func (o *occupant) run(ctx context.Context) {
	// Closing the connection is what ends a blocked read at the end of
	// the run.
	stop := context.AfterFunc(ctx, o.conn.close)
	defer stop()
	defer o.conn.close()
	if err := o.conn.write(joinPresence(o.roomJID, o.nick)); err != nil {
		o.fail(ctx, err)
		return
	}
	for {
		el, err := o.conn.r.next()
		if err != nil {
			o.fail(ctx, err)
			return
		}
		switch string(elemName(el)) {
		case "message":
			o.onMessage(el)
		case "presence":
			o.onPresence(el)
		case "stream:error":
			o.fail(ctx, fmt.Errorf("stream error: %s", clip(el, 300)))
			return
		}
	}
}

// fail accounts for a broken connection unless the run is over.
func (o *occupant) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	o.c.streamErrors.Add(1)
	o.errs.report(fmt.Errorf("XMPP occupant %s in %s: %w", o.conn.jid, o.roomJID, err))
}

// onPresence notes the self-presence (status 110), which ends the join,
// and reports the room refusing or removing this occupant.
func (o *occupant) onPresence(el []byte) {
	if !isFrom(attr(el, "from"), o.roomJID) {
		return
	}
	switch string(attr(el, "type")) {
	case "error":
		o.c.streamErrors.Add(1)
		o.errs.report(fmt.Errorf("XMPP join of %s as %s refused: %s", o.roomJID, o.acct.bare(), clip(el, 400)))
		return
	case "unavailable":
		if hasStatus(el, "110") {
			o.c.streamErrors.Add(1)
			o.errs.report(fmt.Errorf("XMPP occupant %s removed from %s: %s", o.acct.bare(), o.roomJID, clip(el, 400)))
		}
		return
	}
	if hasStatus(el, "110") {
		o.readyOnce.Do(func() { close(o.ready) })
	}
}

// hasStatus reports whether a MUC presence carries the status code.
func hasStatus(el []byte, code string) bool {
	for i := 0; i < len(el); {
		tag := findTag(el[i:], "status")
		if tag == nil {
			return false
		}
		if string(attr(tag, "code")) == code {
			return true
		}
		i += offsetOf(el[i:], tag) + len(tag)
	}
	return false
}

// onMessage accounts for one groupchat message. It allocates nothing for
// the tool's own messages: they are most of what an occupant reads.
func (o *occupant) onMessage(el []byte) {
	recv := o.clock.Now()
	switch string(attr(el, "type")) {
	case "groupchat":
	case "error":
		if isFrom(attr(el, "from"), o.roomJID) {
			// The room refused a message this occupant sent.
			o.c.sendErrors.Add(1)
			o.errs.report(fmt.Errorf("XMPP room %s refused a message from %s: %s", o.roomJID, o.acct.bare(), clip(el, 400)))
		}
		return
	default:
		return
	}
	body, ok := childText(el, "body")
	if !ok {
		return // a subject, a correction without body, …
	}
	clientID, sent, ok := parsePayload(body)
	if !ok {
		return // another client's message
	}
	var seq int64
	if o.bridge {
		seq, ok = atoiBytes(stanzaIDBy(el, o.roomJID))
	} else {
		seq, ok = laneSeq(clientID)
	}
	if !ok || seq <= 0 || seq > maxTrackedSeq {
		o.c.badEvents.Add(1)
		o.errs.report(fmt.Errorf("XMPP occupant in %s: message without a usable sequence: %s", o.roomJID, clip(el, 300)))
		return
	}
	latency := max(time.Duration(recv-sent), 0)
	o.c.window.add(latency)
	o.c.xwindow.add(latency)
	o.ledger.observe(seq, o.room.bind(clientID, seq), latency)
	o.c.received.Add(1)
	o.last.Store(o.ledger.last)
	o.held.Store(o.ledger.held)
	if o.reflected != nil && int((seq-1)%int64(o.lanes)) == o.lane {
		select {
		case o.reflected <- seq:
		default: // the sender stopped waiting for it
		}
	}
}

// stanzaIDBy returns the id of the message's <stanza-id/> set by the
// entity by (the room), or nil.
func stanzaIDBy(el []byte, by string) []byte {
	for i := 0; i < len(el); {
		tag := findTag(el[i:], "stanza-id")
		if tag == nil {
			return nil
		}
		if string(attr(tag, "by")) == by {
			return attr(tag, "id")
		}
		i += offsetOf(el[i:], tag) + len(tag)
	}
	return nil
}

// caughtUp reports whether the occupant has everything its room had
// acknowledged. Against the bridge messages arrive in room order, as on
// SSE; against Prosody's MUC only each sender's order is known, so it
// counts instead.
func (o *occupant) caughtUp() bool {
	if o.bridge {
		return o.last.Load() >= o.room.maxAcked.Load()
	}
	return o.held.Load() >= o.room.nAcked.Load()
}

// laneSeqSep separates a Prosody MUC message's client id from the
// sequence its sender gave it.
const laneSeqSep = '.'

// laneClientID is the client id of the message with sequence seq in
// Prosody MUC mode.
func laneClientID(prefix string, seq int64) string {
	return prefix + string(laneSeqSep) + strconv.FormatInt(seq, 10)
}

// laneSeq reads the sequence back out of a Prosody MUC mode client id.
// Sender k (from 0) of K in a room numbers its n-th message (from 1)
// (n−1)·K + k + 1, so the room's messages are dense from 1, as the
// ledger's table wants, and seq−1 mod K is the sender's lane, within
// which order is checked.
func laneSeq(clientID []byte) (int64, bool) {
	i := bytes.LastIndexByte(clientID, laneSeqSep)
	if i < 0 {
		return 0, false
	}
	return atoiBytes(clientID[i+1:])
}

// errNoReflection means the room did not send a message back to its
// sender in time.
var errNoReflection = errors.New("the room did not reflect the message to its sender")

// send posts groupchat messages to the room on its own ticker until
// sendCtx ends (Prosody MUC mode). A message counts as acknowledged once
// it is written to the connection, since a MUC has no other answer, and
// so every message written is expected at every occupant; the time until
// the room reflects it back is its ack latency. At most one message is
// in flight, as with the POST senders: the next waits for the reflection
// (or for timeout).
func (o *occupant) send(sendCtx context.Context, interval, phase time.Duration, msgBytes int) {
	// Only an occupant may post: one that has not joined yet would have
	// its messages refused, and counted lost everywhere.
	select {
	case <-o.ready:
	case <-sendCtx.Done():
		return
	}
	if !sleepCtx(sendCtx, phase) {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	wait := time.NewTimer(o.timeout)
	defer wait.Stop()
	for n := int64(1); sendCtx.Err() == nil; n++ {
		seq := (n-1)*int64(o.lanes) + int64(o.lane) + 1
		clientID := laneClientID(o.idPrefix, seq)
		sentAt := o.clock.Now()
		o.c.sent.Add(1)
		if err := o.conn.sendGroupchat(o.roomJID, clientID, formatPayload(clientID, sentAt, msgBytes)); err != nil {
			o.c.unacked.Add(1)
			o.c.sendErrors.Add(1)
			if sendCtx.Err() == nil {
				o.errs.report(err)
			}
			return
		}
		o.c.acked.Add(1)
		o.room.ack(clientID, seq)
		wait.Reset(o.timeout)
	reflect:
		for {
			select {
			case got := <-o.reflected:
				if got != seq {
					continue
				}
				o.ackLatency = append(o.ackLatency, uint32(min(time.Duration(o.clock.Now()-sentAt).Microseconds(), latencyUnknown-1)))
				break reflect
			case <-wait.C:
				o.c.sendErrors.Add(1)
				o.errs.report(fmt.Errorf("room %s: seq %d: %w within %v", o.roomJID, seq, errNoReflection, o.timeout))
				break reflect
			case <-sendCtx.Done():
				return
			}
		}
		select {
		case <-sendCtx.Done():
		case <-t.C:
		}
	}
}
