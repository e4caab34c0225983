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
	events chan Event
	done   chan struct{}
	err    error // set before done is closed
}

// Subscribe starts receiving roomID's events. Events published before the
// call are not delivered; callers replay those from storage after
// subscribing, which is what makes the hand-over gap-free.
func (h *Hub) Subscribe(roomID string) *Subscription {
	s := &Subscription{
		hub:    h,
		roomID: roomID,
		events: make(chan Event, h.buffer),
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

// Events delivers the subscription's events in publication order.
func (s *Subscription) Events() <-chan Event { return s.events }

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
		select {
		case s.events <- ev:
		default:
			h.endLocked(s, ErrSlowConsumer)
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
