package main

import (
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// maxTrackedSeq bounds the sequence numbers a subscriber records. Rooms are
// fresh pages, so their sequences start at 1 and stay near the number of
// messages sent; a wildly larger seq is a broken server and is rejected
// instead of growing the table to match.
const maxTrackedSeq = 1 << 26

// latencyUnknown marks a received seq whose text carried no send time.
const latencyUnknown = math.MaxUint32

// crossNode marks, in a subscriber's latency table, a delivery that came
// through another node than the one the senders post to. Latencies are
// capped below it (at about 35 minutes), so a marked value never equals
// latencyUnknown.
const (
	crossNode    = 1 << 31
	maxLatencyUs = crossNode - 3
)

// verdict classifies one delivery to one subscriber.
type verdict int

const (
	fresh      verdict = iota // first receipt, in order
	duplicate                 // this seq again, or this client id under another seq
	outOfOrder                // a new seq not above the previous highest
	rejected                  // seq out of range: not recorded
)

// subLedger is what one subscriber received. It is owned by the
// subscriber's goroutine and read only after that goroutine has ended.
type subLedger struct {
	// lat is indexed by seq: 0 = not received, else latency in µs + 1
	// (capped), with crossNode set for a cross-node delivery, or
	// latencyUnknown. A dense table because sequences are dense from 1,
	// and it costs 4 bytes per message where a map costs tens.
	lat []uint32
	// cross says the stream now being read is on another node than the
	// senders': what it delivers is marked crossNode.
	cross bool
	last  int64 // highest seq received; the resume position
	// laneLast, when set, is the highest seq received per sender lane:
	// in Prosody MUC mode the server gives messages no room-wide
	// sequence, so each sender numbers its own and only the order within
	// one sender's lane can be checked (seq-1 mod lanes is the lane).
	laneLast   []int64
	received   int64 // message events accepted, duplicates included
	held       int64 // distinct seqs recorded
	duplicated int64
	outOfOrder int64
	rejected   int64
}

// observe records the delivery of seq. boundSeq is the seq the room first
// saw for the message's client id (0 when unknown): a different one means
// the server stored one send twice. latency < 0 means unknown. Each
// delivery is counted at most once: a duplicate is not also out of order.
func (l *subLedger) observe(seq, boundSeq int64, latency time.Duration) verdict {
	if seq <= 0 || seq > maxTrackedSeq {
		l.rejected++
		return rejected
	}
	l.received++
	if l.has(seq) {
		l.duplicated++
		return duplicate
	}
	l.mark(seq, latency)
	l.held++
	prev := l.last
	if n := int64(len(l.laneLast)); n > 1 {
		lane := (seq - 1) % n
		prev = l.laneLast[lane]
		l.laneLast[lane] = max(prev, seq)
	}
	v := fresh
	switch {
	case boundSeq != 0 && boundSeq != seq:
		l.duplicated++
		v = duplicate
	case seq <= prev:
		l.outOfOrder++
		v = outOfOrder
	}
	// Resume after the highest seq, duplicates included, so a reconnect
	// does not fetch again what was already counted.
	l.last = max(l.last, seq)
	return v
}

func (l *subLedger) has(seq int64) bool {
	return seq < int64(len(l.lat)) && l.lat[seq] != 0
}

func (l *subLedger) mark(seq int64, latency time.Duration) {
	if seq >= int64(len(l.lat)) {
		n := max(2*len(l.lat), int(seq)+1, 1024)
		grown := make([]uint32, n)
		copy(grown, l.lat)
		l.lat = grown
	}
	v := uint32(latencyUnknown)
	if latency >= 0 {
		us := min(latency.Microseconds(), maxLatencyUs)
		v = uint32(us) + 1
		if l.cross {
			v |= crossNode
		}
	}
	l.lat[seq] = v
}

// reconcile checks which of the acknowledged seqs arrived. It returns how
// many did, appends their latencies in µs to lats and those of the
// cross-node deliveries among them also to cross.
func (l *subLedger) reconcile(acked []int64, lats, cross []uint32) (delivered int64, _, _ []uint32) {
	for _, seq := range acked {
		if seq <= 0 || !l.has(seq) {
			continue
		}
		delivered++
		v := l.lat[seq]
		if v == latencyUnknown {
			continue
		}
		us := v&^crossNode - 1
		lats = append(lats, us)
		if v&crossNode != 0 {
			cross = append(cross, us)
		}
	}
	return delivered, lats, cross
}

// room is one chat room under load, shared by its senders and subscribers.
type room struct {
	index  int
	pageID string
	id     string

	maxAcked atomic.Int64 // highest acknowledged seq; subscribers are done when they reach it
	nAcked   atomic.Int64 // acknowledged messages; lane-ordered occupants are done when they hold as many

	mu    sync.Mutex
	acked []int64          // seqs acknowledged to senders
	bound map[string]int64 // client id → the first seq seen for it (ack or delivery)
}

func newRoom(index int, pageID, id string) *room {
	return &room{index: index, pageID: pageID, id: id, bound: make(map[string]int64)}
}

// ack records an acknowledged send. It reports false when a subscriber had
// already received that client id under another seq.
func (r *room) ack(clientID string, seq int64) (consistent bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acked = append(r.acked, seq)
	r.nAcked.Add(1)
	if seq > r.maxAcked.Load() { // writers hold mu, so load-then-store is safe
		r.maxAcked.Store(seq)
	}
	prev, ok := r.bound[clientID]
	if !ok {
		r.bound[clientID] = seq
		return true
	}
	return prev == seq
}

// bind returns the seq first seen for clientID, recording seq if it is the
// first. An empty client id binds nothing.
func (r *room) bind(clientID []byte, seq int64) int64 {
	if len(clientID) == 0 {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if prev, ok := r.bound[string(clientID)]; ok {
		return prev
	}
	r.bound[string(clientID)] = seq
	return seq
}

func (r *room) ackedSeqs() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.acked...)
}
