package main

import (
	"fmt"
	"io"
	"testing"
	"time"
)

// bridgeMsg is a groupchat message as the bridge relays it: the room's
// sequence in the stanza-id, the tool's payload in the body.
func bridgeMsg(room string, seq int64, clientID string, sent int64) []byte {
	return fmt.Appendf(nil, `<message from='%s/bob' to='u@localhost/o1' type='groupchat' id='x'>`+
		`<body>%s</body><stanza-id xmlns='urn:xmpp:sid:0' by='%s' id='%d'/><origin-id xmlns='urn:xmpp:sid:0' id='y'/></message>`,
		room, formatPayload(clientID, sent, 0), room, seq)
}

// mucMsg is a groupchat message as Prosody's MUC relays it: no sequence
// but the one its sender put in the client id.
func mucMsg(room string, seq int64, sent int64) []byte {
	cid := laneClientID("lg-run-r1", seq)
	return fmt.Appendf(nil, `<message from='%s/o1' to='u@localhost/o2' type='groupchat' id='%s'><body>%s</body></message>`,
		room, cid, formatPayload(cid, sent, 0))
}

func TestOccupantCountsWhatItReceives(t *testing.T) {
	t.Parallel()
	const roomJID = "1.r@chat.localhost"
	type delivery struct {
		seq      int64
		clientID string // bridge mode; "" = "c<seq>"
	}
	tests := []struct {
		name       string
		prosody    bool // Prosody MUC mode, with lanes senders per room
		lanes      int
		acked      []int64
		got        []delivery
		lost       int64
		duplicated int64
		outOfOrder int64
	}{
		{name: "bridge: every message once, in order",
			acked: []int64{1, 2, 3}, got: []delivery{{1, ""}, {2, ""}, {3, ""}}},
		{name: "bridge: a stanza-id seen twice is a duplicate",
			acked: []int64{1, 2, 3}, got: []delivery{{1, ""}, {2, ""}, {2, ""}, {3, ""}}, duplicated: 1},
		{name: "bridge: one message stored twice under two stanza-ids",
			acked: []int64{1, 2}, got: []delivery{{1, ""}, {2, "c1"}}, duplicated: 1, lost: 0},
		{name: "bridge: a gap is lost",
			acked: []int64{1, 2, 3, 4}, got: []delivery{{1, ""}, {2, ""}, {4, ""}}, lost: 1},
		{name: "bridge: out of order",
			acked: []int64{1, 2, 3}, got: []delivery{{1, ""}, {3, ""}, {2, ""}}, outOfOrder: 1},
		{name: "Prosody MUC: senders interleave freely",
			prosody: true, lanes: 2,
			acked: []int64{1, 2, 3, 4}, got: []delivery{{2, ""}, {1, ""}, {4, ""}, {3, ""}}},
		{name: "Prosody MUC: another sender's later message first is in order",
			prosody: true, lanes: 2,
			acked: []int64{1, 2, 3, 4}, got: []delivery{{1, ""}, {2, ""}, {4, ""}, {3, ""}, {5, ""}}, outOfOrder: 0},
		{name: "Prosody MUC: out of order within a lane",
			prosody: true, lanes: 2,
			acked: []int64{1, 2, 3, 4}, got: []delivery{{3, ""}, {2, ""}, {1, ""}, {4, ""}}, outOfOrder: 1},
		{name: "Prosody MUC: a duplicate and a gap",
			prosody: true, lanes: 3,
			acked: []int64{1, 2, 3, 4, 5, 6}, got: []delivery{{1, ""}, {2, ""}, {2, ""}, {3, ""}, {5, ""}, {6, ""}}, duplicated: 1, lost: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRoom(0, "p", "1.r")
			c := &counters{}
			o := &occupant{
				room: r, roomJID: roomJID, bridge: !tc.prosody, lanes: max(tc.lanes, 1), lane: -1,
				clock: newClock(), c: c, errs: newErrorLog(io.Discard, 10), ready: make(chan struct{}),
			}
			if tc.prosody {
				o.ledger.laneLast = make([]int64, tc.lanes)
			}
			for _, seq := range tc.acked {
				cid := fmt.Sprintf("c%d", seq)
				if tc.prosody {
					cid = laneClientID("lg-run-r1", seq)
				}
				r.ack(cid, seq)
			}
			sent := o.clock.Now() - int64(time.Millisecond)
			for _, dl := range tc.got {
				if tc.prosody {
					o.onMessage(mucMsg(roomJID, dl.seq, sent))
					continue
				}
				cid := dl.clientID
				if cid == "" {
					cid = fmt.Sprintf("c%d", dl.seq)
				}
				o.onMessage(bridgeMsg(roomJID, dl.seq, cid, sent))
			}
			// Stanzas that are not the tool's messages change nothing.
			o.onMessage([]byte(`<message from='1.r@chat.localhost' type='groupchat'><subject>Load Room</subject></message>`))
			o.onMessage([]byte(`<message from='bot@chat.localhost' type='chat'><body>lg|c9|1</body></message>`))
			o.onMessage([]byte(`<message from='1.r@chat.localhost/carol' type='groupchat'><body>hello</body></message>`))

			res := tally(tallyInput{
				cfg:      Config{Rooms: 1, Subs: 1, XMPPServer: "x:1", XMPPShare: 1, ProsodyMUC: tc.prosody},
				counters: c, occs: []*occupant{o},
			})
			x := res.XMPP
			if x == nil {
				t.Fatalf("no XMPP path in %+v", res)
			}
			if x.Lost != tc.lost || x.Duplicated != tc.duplicated || x.OutOfOrder != tc.outOfOrder {
				t.Errorf("xmpp lost=%d duplicated=%d out_of_order=%d, want %d %d %d",
					x.Lost, x.Duplicated, x.OutOfOrder, tc.lost, tc.duplicated, tc.outOfOrder)
			}
			if res.Lost != x.Lost || res.Duplicated != x.Duplicated || res.OutOfOrder != x.OutOfOrder {
				t.Errorf("totals %d/%d/%d differ from the only path's", res.Lost, res.Duplicated, res.OutOfOrder)
			}
			if x.Delivered > 0 && !(x.P50Ms >= 1 && x.MaxMs >= x.P99Ms) {
				t.Errorf("latency p50=%v p99=%v max=%v: want at least the 1 ms the message was old", x.P50Ms, x.P99Ms, x.MaxMs)
			}
			if n := c.badEvents.Load(); n != 0 {
				t.Errorf("%d bad events from well-formed stanzas", n)
			}
		})
	}
}

func TestOccupantReportsAMessageWithoutSequence(t *testing.T) {
	t.Parallel()
	c := &counters{}
	o := &occupant{room: newRoom(0, "p", "1.r"), roomJID: "1.r@chat.localhost", bridge: true, lanes: 1, lane: -1,
		clock: newClock(), c: c, errs: newErrorLog(io.Discard, 10)}
	// The tool's payload, but no stanza-id by the room.
	o.onMessage([]byte(`<message from='1.r@chat.localhost/bob' type='groupchat'><body>lg|c1|5</body></message>`))
	if c.badEvents.Load() != 1 || o.ledger.received != 0 {
		t.Errorf("bad_events=%d received=%d, want 1 and 0", c.badEvents.Load(), o.ledger.received)
	}
}

func TestOccupantJoinsOnSelfPresence(t *testing.T) {
	t.Parallel()
	c := &counters{}
	o := &occupant{room: newRoom(0, "p", "1.r"), roomJID: "1.r@chat.localhost", acct: xmppAccount{user: "u", domain: "localhost"},
		c: c, errs: newErrorLog(io.Discard, 10), ready: make(chan struct{})}
	o.onPresence([]byte(`<presence from='1.r@chat.localhost/bob'><x xmlns='http://jabber.org/protocol/muc#user'><item role='participant'/></x></presence>`))
	select {
	case <-o.ready:
		t.Fatal("joined on another occupant's presence")
	default:
	}
	o.onPresence([]byte(`<presence from='1.r@chat.localhost/u'><x xmlns='http://jabber.org/protocol/muc#user'><status code='110'/></x></presence>`))
	select {
	case <-o.ready:
	default:
		t.Fatal("not joined after the self-presence")
	}
	o.onPresence([]byte(`<presence from='1.r@chat.localhost/u' type='error'><error type='auth'><forbidden xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>`))
	if c.streamErrors.Load() != 1 {
		t.Errorf("stream_errors=%d after a refused join, want 1", c.streamErrors.Load())
	}
}

func TestLaneSequences(t *testing.T) {
	t.Parallel()
	// Three senders: sender k's n-th message is (n-1)*3 + k + 1, so the
	// room's sequences are dense and seq-1 mod 3 is the sender.
	seen := map[int64]bool{}
	for k := range 3 {
		for n := int64(1); n <= 4; n++ {
			seq := (n-1)*3 + int64(k) + 1
			got, ok := laneSeq([]byte(laneClientID("lg-abc-r2", seq)))
			if !ok || got != seq || int((got-1)%3) != k || seen[got] {
				t.Fatalf("sender %d message %d: seq %d, %v", k, n, got, ok)
			}
			seen[got] = true
		}
	}
	for i := int64(1); i <= 12; i++ {
		if !seen[i] {
			t.Errorf("seq %d unused", i)
		}
	}
}
