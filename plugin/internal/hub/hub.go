// Package hub fans committed messages and presence changes out to the open
// room streams of one plugin process.
//
// The hub never blocks a publisher: each subscription has a bounded buffer,
// and a subscriber that lets it fill is cut (its Done channel closes with
// ErrSlowConsumer) so that one stuck browser cannot hold memory or delay the
// room. A cut subscriber resumes from storage at its last sequence, so being
// cut loses nothing. The hub holds no history; package store does.
package hub

import (
	"errors"
	"sync"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

// DefaultBuffer is how many events a subscriber may fall behind before it is
// cut. At the ~300k msgs/s a gRPC stream delivers, 1024 events is a few
// milliseconds of a healthy stream but minutes of a busy room's traffic, so
// only a subscriber that has really stalled reaches it.
const DefaultBuffer = 1024

var (
	// ErrSlowConsumer ends a subscription whose buffer overflowed.
	ErrSlowConsumer = errors.New("subscriber fell behind and was cut")
	// ErrClosed ends every subscription when the hub shuts down.
	ErrClosed = errors.New("hub closed")
)

// Presence tells that a user's online state in a room changed.
type Presence struct {
	UserID      string
	DisplayName string
	Online      bool
	At          time.Time
}

// Typing tells that a user is typing in a room. It is never stored and
// has no sequence: only the streams open now see it.
type Typing struct {
	UserID      string
	DisplayName string
	At          time.Time
}

// Event is one thing that happened in a room: exactly one field is set.
type Event struct {
	Message  *store.Message
	Presence *Presence
	Typing   *Typing
}

// Hub routes events to subscriptions by room id. The zero value is not
// usable; call New.
type Hub struct {
	buffer int

	mu     sync.Mutex
	rooms  map[string]map[*Subscription]struct{}
	closed bool
}

// New returns a hub whose subscriptions buffer up to buffer events;
// buffer <= 0 means DefaultBuffer.
func New(buffer int) *Hub {
	if buffer <= 0 {
		buffer = DefaultBuffer
	}
	return &Hub{buffer: buffer, rooms: make(map[string]map[*Subscription]struct{})}
}

// Subscription receives one room's events until it is closed or cut.
type Subscription struct {
	hub    *Hub
	roomID string
	// queue holds the events not taken yet, from head on. It grows as
	// events come and is let go once taken: a channel of the whole buffer
	// cost every open room its full size (24 KiB) while idle.
	mu    sync.Mutex
	queue []Event
	head  int
	ready chan struct{} // one slot: signalled when an event is queued
	done  chan struct{}
	err   error // set before done is closed
}

// idleQueueCap is the queue capacity a subscription keeps once drained;
// a burst's larger array is let go.
const idleQueueCap = 16

// Subscribe starts receiving roomID's events. Events published before the
// call are not delivered; callers replay those from storage after
// subscribing, which is what makes the hand-over gap-free.
func (h *Hub) Subscribe(roomID string) *Subscription {
	s := &Subscription{
		hub:    h,
		roomID: roomID,
		ready:  make(chan struct{}, 1),
		done:   make(chan struct{}),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		s.err = ErrClosed
		close(s.done)
		return s
	}
	subs := h.rooms[roomID]
	if subs == nil {
		subs = make(map[*Subscription]struct{})
		h.rooms[roomID] = subs
	}
	subs[s] = struct{}{}
	return s
}

// Ready is signalled when events are waiting; Next then takes them one by
// one, in publication order, until it reports none.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Next takes the oldest waiting event, or reports false if none waits.
func (s *Subscription) Next() (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.queue) {
		return Event{}, false
	}
	ev := s.queue[s.head]
	s.queue[s.head] = Event{} // let the message go
	s.head++
	if s.head == len(s.queue) {
		s.head = 0
		if cap(s.queue) > idleQueueCap {
			s.queue = nil
		} else {
			s.queue = s.queue[:0]
		}
	}
	return ev, true
}

// Done is closed when the subscription ends; Err then says why.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended: ErrSlowConsumer, ErrClosed, or nil
// if the subscriber closed it itself or it is still open.
func (s *Subscription) Err() error {
	select {
	case <-s.done:
		return s.err
	default:
		return nil
	}
}

// Close stops the subscription. It is safe to call more than once and
// concurrently with publishing.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.endLocked(s, nil)
}

// endLocked removes s and closes done once; h.mu must be held.
func (h *Hub) endLocked(s *Subscription, err error) {
	subs, ok := h.rooms[s.roomID]
	if !ok {
		return
	}
	if _, ok := subs[s]; !ok {
		return
	}
	delete(subs, s)
	if len(subs) == 0 {
		delete(h.rooms, s.roomID)
	}
	s.err = err
	close(s.done)
}

// Publish delivers ev to every subscription of roomID without blocking,
// cutting those whose buffer is full.
func (h *Hub) Publish(roomID string, ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.publishLocked(roomID, ev)
}

// PublishMessages delivers committed messages in the order given. The store
// calls it once per commit, so every room's messages arrive in sequence.
func (h *Hub) PublishMessages(msgs []store.Message) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range msgs {
		h.publishLocked(msgs[i].RoomID, Event{Message: &msgs[i]})
	}
}

func (h *Hub) publishLocked(roomID string, ev Event) {
	for s := range h.rooms[roomID] {
		s.mu.Lock()
		full := len(s.queue)-s.head >= h.buffer
		if !full {
			s.queue = append(s.queue, ev)
		}
		s.mu.Unlock()
		if full {
			h.endLocked(s, ErrSlowConsumer)
			continue
		}
		select {
		case s.ready <- struct{}{}:
		default: // already signalled
		}
	}
}

// Subscribers returns how many subscriptions roomID has.
func (h *Hub) Subscribers(roomID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.rooms[roomID])
}

// Close ends every subscription with ErrClosed; later subscriptions start
// ended.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for _, subs := range h.rooms {
		for s := range subs {
			h.endLocked(s, ErrClosed)
		}
	}
}
