package server

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/pagechat/pagechat/macro"
	"github.com/pagechat/pagechat/plugin/internal/hub"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// Server implements the ChatPlugin gRPC service. It only converts: each
// method turns the request into plain Go values, calls the chat logic of
// the configured runtime (chat.go), converts the answer back and maps the
// error with toStatus.
type Server struct {
	chatv1.UnimplementedChatPluginServer

	logger  hclog.Logger
	now     func() time.Time
	version string
	// dialHost connects to the host's callback API by broker id; set by
	// GRPCPlugin.GRPCServer, or by tests.
	dialHost func(id uint32) (*grpc.ClientConn, error)

	mu     sync.Mutex
	rt     *runtime // nil until Configure
	closed bool
}

var _ chatv1.ChatPluginServer = (*Server)(nil)

// New returns an unconfigured chat service reporting version. logger may
// be nil to discard logs, now nil for time.Now.
func New(logger hclog.Logger, now func() time.Time, version string) *Server {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if now == nil {
		now = time.Now
	}
	return &Server{logger: logger, now: now, version: version}
}

// OpenRoom creates or returns a room.
func (s *Server) OpenRoom(ctx context.Context, req *chatv1.OpenRoomRequest) (*chatv1.OpenRoomResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	room, err := rt.openRoom(ctx, req.GetUserId(), req.GetPageId(), req.GetName())
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.OpenRoomResponse{Room: rt.roomToProto(room)}, nil
}

// RoomInfo returns a room's metadata with presence.
func (s *Server) RoomInfo(ctx context.Context, req *chatv1.RoomInfoRequest) (*chatv1.RoomInfoResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	room, err := rt.viewRoom(ctx, req.GetUserId(), req.GetRoomId())
	if err != nil {
		return nil, toStatus(err)
	}
	rs, err := rt.readState(ctx, room, req.GetUserId())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &chatv1.RoomInfoResponse{Room: rt.roomToProto(room), ReadState: rs.proto()}
	if req.GetIncludeRights() {
		r, err := rt.rightsOf(ctx, req.GetUserId(), room.PageID)
		if err != nil {
			return nil, toStatus(err)
		}
		resp.Rights = &chatv1.Rights{CanPost: r.canPost, CanModerate: r.canModerate, EditWindowSeconds: int64(r.editWindow / time.Second)}
	}
	return resp, nil
}

// MarkRead moves the user's read marker forward.
func (s *Server) MarkRead(ctx context.Context, req *chatv1.MarkReadRequest) (*chatv1.MarkReadResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	rs, err := rt.markRead(ctx, req.GetUserId(), req.GetRoomId(), req.GetSeq())
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.MarkReadResponse{ReadState: rs.proto()}, nil
}

// SetWatch watches or unwatches a room for the user.
func (s *Server) SetWatch(ctx context.Context, req *chatv1.SetWatchRequest) (*chatv1.SetWatchResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	on, err := rt.setWatch(ctx, req.GetUserId(), req.GetRoomId(), req.GetWatching())
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.SetWatchResponse{Watching: on}, nil
}

// Send validates, authorises and durably stores a message.
func (s *Server) Send(ctx context.Context, req *chatv1.SendRequest) (*chatv1.SendResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	msg, epoch, dup, err := rt.send(ctx, sendRequest{
		userID: req.GetUserId(), roomID: req.GetRoomId(), clientID: req.GetClientId(), text: req.GetText(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.SendResponse{Message: messageToProto(msg, epoch), Duplicate: dup}, nil
}

// History returns a page of older messages.
func (s *Server) History(ctx context.Context, req *chatv1.HistoryRequest) (*chatv1.HistoryResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	room, msgs, more, err := rt.history(ctx, req.GetUserId(), req.GetRoomId(), req.GetBeforeSeq(), int(req.GetLimit()))
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &chatv1.HistoryResponse{HasMore: more, Epoch: room.Epoch, Messages: make([]*chatv1.Message, len(msgs))}
	for i, m := range msgs {
		resp.Messages[i] = messageToProto(m, room.Epoch)
	}
	return resp, nil
}

// Subscribe replays from storage and then streams live events.
func (s *Server) Subscribe(req *chatv1.SubscribeRequest, stream grpc.ServerStreamingServer[chatv1.RoomEvent]) error {
	rt, err := s.runtime()
	if err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	userID := req.GetUserId()
	room, err := rt.viewRoom(ctx, userID, req.GetRoomId())
	if err != nil {
		return toStatus(err)
	}
	// A refused resume must not show the user as having come online.
	if err := checkResume(room, req.GetAfterSeq(), req.GetEpoch()); err != nil {
		return toStatus(err)
	}
	if err := rt.join(ctx, room.ID, userID); err != nil {
		return toStatus(err)
	}
	defer rt.leave(room.ID, userID)
	return toStatus(rt.streamRoom(ctx, room, req.GetAfterSeq(), req.GetEpoch(), grpcSink{stream}, streamOptions{
		recheck: func(ctx context.Context) error {
			err := rt.authorize(ctx, userID, room.PageID, hostv1.Permission_PERMISSION_VIEW)
			if errors.Is(err, errDenied) {
				rt.logger.Info("stream closed: view permission revoked", "room", room.ID, "user", userID)
			}
			if err != nil {
				return err
			}
			// A ban ends the stream; a ban list the database cannot read
			// now does not: while it is down nothing new is committed to
			// leak, and the next re-check asks again.
			if err := rt.checkBan(ctx, room.ID, userID); errors.Is(err, errDenied) || ctx.Err() != nil {
				return err
			} else if err != nil {
				rt.logger.Debug("stream kept: cannot read the ban list now", "room", room.ID, "user", userID, "error", err)
			}
			return nil
		},
		who:  userID,
		user: userID,
	}))
}

// Feed streams a room for the host's own fan-out; see the proto for why it
// names no user.
func (s *Server) Feed(req *chatv1.FeedRequest, stream grpc.ServerStreamingServer[chatv1.RoomEvent]) error {
	rt, err := s.runtime()
	if err != nil {
		return toStatus(err)
	}
	ctx := stream.Context()
	if _, _, err := macro.SplitRoomID(req.GetRoomId()); err != nil {
		return toStatus(failf(errInvalid, "%v", err))
	}
	room, err := rt.store.Room(ctx, req.GetRoomId())
	if err != nil {
		return toStatus(storeErr(err, req.GetRoomId()))
	}
	return toStatus(rt.streamRoom(ctx, room, req.GetAfterSeq(), req.GetEpoch(), grpcSink{stream}, streamOptions{who: "host feed"}))
}

// grpcSink writes a room stream as RoomEvents.
type grpcSink struct {
	stream grpc.ServerStreamingServer[chatv1.RoomEvent]
}

func (g grpcSink) opened(epoch string) error {
	return g.stream.SendHeader(metadata.Pairs("pagechat-epoch", epoch))
}

func (g grpcSink) message(m store.Message, epoch string) error {
	return g.stream.Send(&chatv1.RoomEvent{Event: &chatv1.RoomEvent_Message{Message: messageToProto(m, epoch)}})
}

func (g grpcSink) presence(p hub.Presence) error {
	return g.stream.Send(&chatv1.RoomEvent{Event: &chatv1.RoomEvent_Presence{Presence: &chatv1.PresenceChange{Participant: presenceToProto(p)}}})
}

func (g grpcSink) typing(t hub.Typing) error {
	return g.stream.Send(&chatv1.RoomEvent{Event: &chatv1.RoomEvent_Typing{Typing: typingToProto(t)}})
}

func (g grpcSink) caughtUp(lastSeq uint64) error {
	return g.stream.Send(&chatv1.RoomEvent{Event: &chatv1.RoomEvent_CaughtUp{CaughtUp: lastSeq}})
}

// AuthorizeViewers checks view permission for several users.
func (s *Server) AuthorizeViewers(ctx context.Context, req *chatv1.AuthorizeViewersRequest) (*chatv1.AuthorizeViewersResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	allowed, err := rt.authorizeViewers(ctx, req.GetRoomId(), req.GetUserIds())
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.AuthorizeViewersResponse{AllowedUserIds: allowed}, nil
}

// AuthorizeRooms checks view permission for the viewers of several rooms.
func (s *Server) AuthorizeRooms(ctx context.Context, req *chatv1.AuthorizeRoomsRequest) (*chatv1.AuthorizeRoomsResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	rooms := make([]roomViewers, len(req.GetRooms()))
	for i, r := range req.GetRooms() {
		rooms[i] = roomViewers{roomID: r.GetRoomId(), users: r.GetUserIds()}
	}
	if err := rt.authorizeRooms(ctx, rooms); err != nil {
		return nil, toStatus(err)
	}
	resp := &chatv1.AuthorizeRoomsResponse{Rooms: make([]*chatv1.AuthorizeRoomsResult, len(rooms))}
	for i, r := range rooms {
		res := &chatv1.AuthorizeRoomsResult{AllowedUserIds: r.allowed}
		if r.err != nil {
			res.Error = r.err.Error()
		}
		resp.Rooms[i] = res
	}
	return resp, nil
}

// Join marks a user present and records them as a participant.
func (s *Server) Join(ctx context.Context, req *chatv1.JoinRequest) (*chatv1.JoinResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	room, err := rt.joinRoom(ctx, req.GetUserId(), req.GetRoomId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.JoinResponse{Participants: rt.participants(room)}, nil
}

// Leave undoes one Join.
func (s *Server) Leave(ctx context.Context, req *chatv1.LeaveRequest) (*chatv1.LeaveResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	if _, err := checkRoomRequest(req.GetUserId(), req.GetRoomId()); err != nil {
		return nil, toStatus(err)
	}
	rt.leave(req.GetRoomId(), req.GetUserId())
	return &chatv1.LeaveResponse{}, nil
}

// Presence lists participants with their online state.
func (s *Server) Presence(ctx context.Context, req *chatv1.PresenceRequest) (*chatv1.PresenceResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	room, err := rt.viewRoom(ctx, req.GetUserId(), req.GetRoomId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.PresenceResponse{Participants: rt.participants(room)}, nil
}

// Typing passes a typing signal to the room's open streams.
func (s *Server) Typing(ctx context.Context, req *chatv1.TypingRequest) (*chatv1.TypingResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	if err := rt.typing(ctx, req.GetUserId(), req.GetRoomId()); err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.TypingResponse{}, nil
}
