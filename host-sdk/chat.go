package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// Room is a chat room's metadata.
type Room struct {
	ID           string // "<pageID>.<slug>"
	PageID       string
	Name         string
	Slug         string
	Epoch        string // resume positions are valid only within one epoch
	LastSeq      uint64 // 0 if the room has no messages
	CreatedAt    time.Time
	LastActivity time.Time // zero if the room has no messages
	Participants []Participant
	Files        []File       // uploaded files, oldest first
	Transcripts  []Transcript // daily transcript pages, newest first
}

// File is a file uploaded to a room.
type File struct {
	ID          string // the host's id
	Name        string // sanitised by the plugin
	URL         string
	ContentType string // sniffed by the plugin
	Size        int64
	UserID      string
	UploadedAt  time.Time
	Seq         uint64 // the message that announced it
}

// Transcript is one day's transcript page of a room.
type Transcript struct {
	Date  string // "YYYY-MM-DD" in the configured time zone
	Title string
	URL   string // empty until first written
}

// Participant is a user who joined or posted in a room.
type Participant struct {
	UserID      string
	DisplayName string
	Online      bool
	LastSeen    time.Time
}

// Message is a stored chat message.
type Message struct {
	RoomID   string
	Seq      uint64 // per room, from 1, without gaps
	Epoch    string
	ClientID string
	UserID   string
	UserName string
	Text     string
	// HTML is Text rendered by the plugin to safe HTML (escaped, with wiki
	// links, URLs and <pre> pastes); insert it as is.
	HTML   string
	File   *File // set if the message announces an upload
	SentAt time.Time
}

func timeOf(ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	return ts.AsTime()
}

func messageFromProto(m *chatv1.Message) Message {
	return Message{
		RoomID:   m.GetRoomId(),
		Seq:      m.GetSeq(),
		Epoch:    m.GetEpoch(),
		ClientID: m.GetClientId(),
		UserID:   m.GetUserId(),
		UserName: m.GetUserName(),
		Text:     m.GetText(),
		HTML:     m.GetHtml(),
		File:     fileFromProto(m.GetFile()),
		SentAt:   timeOf(m.GetSentAt()),
	}
}

func fileFromProto(f *chatv1.File) *File {
	if f == nil {
		return nil
	}
	return &File{
		ID:          f.GetId(),
		Name:        f.GetName(),
		URL:         f.GetUrl(),
		ContentType: f.GetContentType(),
		Size:        f.GetSize(),
		UserID:      f.GetUserId(),
		UploadedAt:  timeOf(f.GetUploadedAt()),
		Seq:         f.GetSeq(),
	}
}

func participantFromProto(p *chatv1.Participant) Participant {
	return Participant{UserID: p.GetUserId(), DisplayName: p.GetDisplayName(), Online: p.GetOnline(), LastSeen: timeOf(p.GetLastSeen())}
}

func participantsFromProto(ps []*chatv1.Participant) []Participant {
	out := make([]Participant, len(ps))
	for i, p := range ps {
		out[i] = participantFromProto(p)
	}
	return out
}

func roomFromProto(r *chatv1.Room) Room {
	return Room{
		ID:           r.GetId(),
		PageID:       r.GetPageId(),
		Name:         r.GetName(),
		Slug:         r.GetSlug(),
		Epoch:        r.GetEpoch(),
		LastSeq:      r.GetLastSeq(),
		CreatedAt:    timeOf(r.GetCreatedAt()),
		LastActivity: timeOf(r.GetLastActivity()),
		Participants: participantsFromProto(r.GetParticipants()),
		Files:        filesFromProto(r.GetFiles()),
		Transcripts:  transcriptsFromProto(r.GetTranscripts()),
	}
}

func filesFromProto(fs []*chatv1.File) []File {
	out := make([]File, len(fs))
	for i, f := range fs {
		out[i] = *fileFromProto(f)
	}
	return out
}

func transcriptsFromProto(ts []*chatv1.Transcript) []Transcript {
	out := make([]Transcript, len(ts))
	for i, t := range ts {
		out[i] = Transcript{Date: t.GetDate(), Title: t.GetTitle(), URL: t.GetUrl()}
	}
	return out
}

// Health is the plugin's self-report.
type Health struct {
	Configured    bool
	PluginVersion string
	Rooms         int64
}

// Health asks the plugin whether it is configured and how many rooms it
// has.
func (c *Client) Health(ctx context.Context) (Health, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.HealthResponse, error) {
		return p.Health(ctx, &chatv1.HealthRequest{})
	})
	if err != nil {
		return Health{}, err
	}
	return Health{Configured: resp.GetConfigured(), PluginVersion: resp.GetPluginVersion(), Rooms: resp.GetRooms()}, nil
}

// OpenRoom creates the room name on pageID, or returns it if it exists.
// userID needs view permission on the page.
func (c *Client) OpenRoom(ctx context.Context, userID, pageID, name string) (Room, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.OpenRoomResponse, error) {
		return p.OpenRoom(ctx, &chatv1.OpenRoomRequest{UserId: userID, PageId: pageID, Name: name})
	})
	if err != nil {
		return Room{}, err
	}
	return roomFromProto(resp.GetRoom()), nil
}

// RoomInfo returns a room with its participants' current presence.
func (c *Client) RoomInfo(ctx context.Context, userID, roomID string) (Room, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.RoomInfoResponse, error) {
		return p.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: userID, RoomId: roomID})
	})
	if err != nil {
		return Room{}, err
	}
	return roomFromProto(resp.GetRoom()), nil
}

// RenderedMacro is a macro rendered for one viewer.
type RenderedMacro struct {
	HTML   string // safe to insert into the page as is
	RoomID string // empty if the macro was invalid or the viewer may not see it
}

// MacroRequest describes one chat macro on a page being rendered.
type MacroRequest struct {
	UserID string // the viewer
	PageID string
	Name   string            // room name from the macro
	Params map[string]string // macro parameters
	// ChatPrefix is where the host mounts the chat HTTP handler; the
	// default is "/chat/".
	ChatPrefix string
}

// RenderMacro renders a chat macro as HTML for the page it sits on. An
// invalid macro, or a viewer without view permission, renders as a short
// notice rather than an error, so a page always renders.
func (c *Client) RenderMacro(ctx context.Context, req MacroRequest) (RenderedMacro, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.RenderMacroResponse, error) {
		return p.RenderMacro(ctx, &chatv1.RenderMacroRequest{
			UserId:        req.UserID,
			PageId:        req.PageID,
			Name:          req.Name,
			Params:        req.Params,
			ChatUrlPrefix: req.ChatPrefix,
		})
	})
	if err != nil {
		return RenderedMacro{}, err
	}
	return RenderedMacro{HTML: resp.GetHtml(), RoomID: resp.GetRoomId()}, nil
}

// SendResult is the outcome of Send.
type SendResult struct {
	Message Message
	// Duplicate is true when the client id had been used before: nothing
	// new was stored and Message is the original.
	Duplicate bool
}

// Send stores a message durably and returns it with its sequence number.
// clientID makes retries safe: sending the same clientID again returns the
// stored message instead of storing a second one, so on any error the
// caller may simply send again.
func (c *Client) Send(ctx context.Context, userID, roomID, clientID, text string) (SendResult, error) {
	// Protobuf refuses to encode invalid UTF-8, which would surface as an
	// opaque internal error; say what is wrong instead.
	if !utf8.ValidString(text) || !utf8.ValidString(clientID) {
		return SendResult{}, &Error{Kind: ErrInvalidArgument, Message: "message text and client id must be valid UTF-8"}
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.SendResponse, error) {
		return p.Send(ctx, &chatv1.SendRequest{UserId: userID, RoomId: roomID, ClientId: clientID, Text: text})
	})
	if err != nil {
		return SendResult{}, err
	}
	return SendResult{Message: messageFromProto(resp.GetMessage()), Duplicate: resp.GetDuplicate()}, nil
}

// HistoryPage is a page of older messages, oldest first.
type HistoryPage struct {
	Messages []Message
	HasMore  bool // older messages exist before Messages[0]
	Epoch    string
}

// History returns up to limit messages before beforeSeq (0 = the newest),
// oldest first. limit 0 means 50; at most 500.
func (c *Client) History(ctx context.Context, userID, roomID string, beforeSeq uint64, limit int) (HistoryPage, error) {
	if limit < 0 || limit > 500 {
		return HistoryPage{}, &Error{Kind: ErrInvalidArgument, Message: fmt.Sprintf("limit %d out of range 0..500", limit)}
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.HistoryResponse, error) {
		return p.History(ctx, &chatv1.HistoryRequest{UserId: userID, RoomId: roomID, BeforeSeq: beforeSeq, Limit: int32(limit)})
	})
	if err != nil {
		return HistoryPage{}, err
	}
	page := HistoryPage{HasMore: resp.GetHasMore(), Epoch: resp.GetEpoch(), Messages: make([]Message, len(resp.GetMessages()))}
	for i, m := range resp.GetMessages() {
		page.Messages[i] = messageFromProto(m)
	}
	return page, nil
}

// Join marks userID present in the room and returns its participants.
func (c *Client) Join(ctx context.Context, userID, roomID string) ([]Participant, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.JoinResponse, error) {
		return p.Join(ctx, &chatv1.JoinRequest{UserId: userID, RoomId: roomID})
	})
	if err != nil {
		return nil, err
	}
	return participantsFromProto(resp.GetParticipants()), nil
}

// Leave undoes one Join.
func (c *Client) Leave(ctx context.Context, userID, roomID string) error {
	_, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.LeaveResponse, error) {
		return p.Leave(ctx, &chatv1.LeaveRequest{UserId: userID, RoomId: roomID})
	})
	return err
}

// Presence returns the room's participants and who is online.
func (c *Client) Presence(ctx context.Context, userID, roomID string) ([]Participant, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.PresenceResponse, error) {
		return p.Presence(ctx, &chatv1.PresenceRequest{UserId: userID, RoomId: roomID})
	})
	if err != nil {
		return nil, err
	}
	return participantsFromProto(resp.GetParticipants()), nil
}

// Event is one item of a Subscription: exactly one of Message, Presence and
// CaughtUp is set.
type Event struct {
	Message  *Message
	Presence *Participant
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

// AuthorizeViewers returns those of userIDs (at most 1000) who may view
// roomID, as the plugin decides with the host.
func (c *Client) AuthorizeViewers(ctx context.Context, roomID string, userIDs []string) ([]string, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.AuthorizeViewersResponse, error) {
		return p.AuthorizeViewers(ctx, &chatv1.AuthorizeViewersRequest{RoomId: roomID, UserIds: userIDs})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetAllowedUserIds(), nil
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
	switch ev := resp.GetEvent().(type) {
	case *chatv1.RoomEvent_Message:
		m := messageFromProto(ev.Message)
		s.mu.Lock()
		s.lastSeq = m.Seq
		s.mu.Unlock()
		return Event{Message: &m}, nil
	case *chatv1.RoomEvent_Presence:
		p := participantFromProto(ev.Presence.GetParticipant())
		return Event{Presence: &p}, nil
	case *chatv1.RoomEvent_CaughtUp:
		return Event{CaughtUp: true}, nil
	}
	return Event{}, fmt.Errorf("pagechat plugin sent an unknown event %T", resp.GetEvent())
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
