package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// Event is one item of a Subscription: exactly one of Message, Presence and
// CaughtUp is set.
type Event struct {
	Message  *Message
	Presence *Participant
	// Typing says a user is typing. It is not stored and has no sequence;
	// only streams open at the time see it.
	Typing *Typing
	// CaughtUp marks the end of the replay of stored messages; what follows
	// is live.
	CaughtUp bool
}

// Subscription follows one room. It is not safe for concurrent use; one
// goroutine calls Next.
type Subscription struct {
	// ctx is the stream's own context: once it is done, the end of the
	// stream is the caller's doing, not the plugin's.
	ctx    context.Context
	cancel context.CancelFunc
	stream interface {
		Recv() (*chatv1.RoomEvent, error)
	}
	epoch string

	mu      sync.Mutex
	lastSeq uint64
}

// Subscribe follows roomID for userID, first replaying every message after
// afterSeq, then live. epoch is the room epoch afterSeq was taken in (empty
// to skip the check). The subscription ends when ctx ends, when Close is
// called, or with an error: ErrPermissionDenied after the user loses view
// permission, ErrSlowConsumer if it falls behind, ErrPluginUnavailable if
// the plugin dies, ErrHostFailed if the host cannot answer the permission
// re-check. After the last three, subscribe again from LastSeq.
func (c *Client) Subscribe(ctx context.Context, userID, roomID string, afterSeq uint64, epoch string) (*Subscription, error) {
	return openStream(ctx, c, afterSeq, epoch, func(ctx context.Context, p chatv1.ChatPluginClient) (eventStream, error) {
		return p.Subscribe(ctx, &chatv1.SubscribeRequest{UserId: userID, RoomId: roomID, AfterSeq: afterSeq, Epoch: epoch})
	})
}

// Feed follows roomID on behalf of the host itself, for fanning one stream
// out to many viewers (the HTTP handler does this). It checks no user:
// the caller must check each viewer with AuthorizeViewers before showing
// it anything, and again within every permission cache window.
func (c *Client) Feed(ctx context.Context, roomID string, afterSeq uint64, epoch string) (*Subscription, error) {
	return openStream(ctx, c, afterSeq, epoch, func(ctx context.Context, p chatv1.ChatPluginClient) (eventStream, error) {
		return p.Feed(ctx, &chatv1.FeedRequest{RoomId: roomID, AfterSeq: afterSeq, Epoch: epoch})
	})
}

// eventStream is a Subscribe or a Feed stream: both carry RoomEvents.
type eventStream interface {
	Header() (metadata.MD, error)
	Recv() (*chatv1.RoomEvent, error)
}

func openStream(ctx context.Context, c *Client, afterSeq uint64, epoch string, open func(context.Context, chatv1.ChatPluginClient) (eventStream, error)) (*Subscription, error) {
	ctx, cancel := context.WithCancel(ctx)
	stream, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (eventStream, error) {
		s, err := open(ctx, p)
		if err != nil {
			return nil, err
		}
		// The plugin sends the header only once it has authorised the
		// stream. Waiting for it makes PermissionDenied and NotFound fail
		// Subscribe itself rather than the first Next; a stream refused
		// outright has no header, and its status comes from Recv.
		md, err := s.Header()
		if err != nil {
			return nil, err
		}
		if md == nil {
			_, err := s.Recv()
			if err == nil || errors.Is(err, io.EOF) {
				err = status.Error(codes.Unavailable, "stream ended before it started")
			}
			return nil, err
		}
		return s, nil
	})
	if err != nil {
		cancel()
		return nil, err
	}
	return &Subscription{ctx: ctx, cancel: cancel, stream: stream, lastSeq: afterSeq, epoch: epoch}, nil
}

// Next blocks for the next event. It returns io.EOF after Close.
func (s *Subscription) Next() (Event, error) {
	resp, err := s.stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Event{}, fmt.Errorf("subscription ended by the plugin: %w", ErrPluginUnavailable)
		}
		err = fromStatus(err)
		if errors.Is(err, context.Canceled) {
			if s.ctx.Err() != nil {
				return Event{}, io.EOF
			}
			// gRPC also cancels the streams of a connection that is
			// closed under them, as Client does to a plugin that died:
			// that is the plugin going away, and the caller resumes.
			return Event{}, fmt.Errorf("subscription ended by its plugin connection closing (%v): %w", err, ErrPluginUnavailable)
		}
		return Event{}, err
	}
	ev, err := eventFromProto(resp)
	if err == nil && ev.Message != nil {
		s.mu.Lock()
		s.lastSeq = ev.Message.Seq
		s.mu.Unlock()
	}
	return ev, err
}

func eventFromProto(e *chatv1.RoomEvent) (Event, error) {
	switch ev := e.GetEvent().(type) {
	case *chatv1.RoomEvent_Message:
		m := messageFromProto(ev.Message)
		return Event{Message: &m}, nil
	case *chatv1.RoomEvent_Presence:
		p := participantFromProto(ev.Presence.GetParticipant())
		return Event{Presence: &p}, nil
	case *chatv1.RoomEvent_Typing:
		t := typingFromProto(ev.Typing)
		return Event{Typing: &t}, nil
	case *chatv1.RoomEvent_CaughtUp:
		// The replayed position is already in Subscription.LastSeq.
		return Event{CaughtUp: true}, nil
	}
	return Event{}, fmt.Errorf("pagechat plugin sent an unknown event %T", e.GetEvent())
}

// LastSeq is the sequence of the last message Next returned (or the
// afterSeq it started from): the position to resume from.
func (s *Subscription) LastSeq() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastSeq
}

// Close ends the subscription. It is safe to call more than once and from
// another goroutine than Next's.
func (s *Subscription) Close() {
	s.cancel()
}
