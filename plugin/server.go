package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/pagechat/pagechat/internal/handshake"
	"github.com/pagechat/pagechat/internal/limits"
	"github.com/pagechat/pagechat/macro"
	"github.com/pagechat/pagechat/plugin/internal/hub"
	"github.com/pagechat/pagechat/plugin/internal/render"
	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/transcript"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// Version is the plugin's version string, reported by Health and Configure.
// Release builds set it with -ldflags "-X github.com/pagechat/pagechat/plugin.Version=...".
var Version = "dev"

// Limits of the plugin's own. The limits host-sdk also relies on live in
// internal/limits.
const (
	// replayPage is how many stored messages a Subscribe reads per
	// transaction while replaying; small enough not to hold a read
	// transaction (and bbolt's remap lock) for long.
	replayPage = 256
	// hostCallTimeout bounds each HostAPI call, so a hung host fails a
	// request instead of hanging it.
	hostCallTimeout = 5 * time.Second
	// dbFileName is the plugin's database inside the configured data dir.
	dbFileName = "pagechat.db"
)

// errNotConfigured answers calls that arrive before Configure.
var errNotConfigured = status.Error(codes.FailedPrecondition, "plugin is not configured yet: the host must call Configure first")

// Server implements the ChatPlugin gRPC service.
type Server struct {
	chatv1.UnimplementedChatPluginServer

	logger hclog.Logger
	now    func() time.Time
	// dialHost connects to the host's callback API by broker id; set by
	// GRPCPlugin.GRPCServer, or by tests.
	dialHost func(id uint32) (*grpc.ClientConn, error)

	mu     sync.Mutex
	rt     *runtime // nil until Configure
	closed bool
}

var _ chatv1.ChatPluginServer = (*Server)(nil)

// NewServer returns an unconfigured chat service. now may be nil for
// time.Now.
func NewServer(logger hclog.Logger, now func() time.Time) *Server {
	if logger == nil {
		logger = hclog.NewNullLogger()
	}
	if now == nil {
		now = time.Now
	}
	return &Server{logger: logger, now: now}
}

// runtime is everything Configure sets up; it lives until Shutdown.
type runtime struct {
	logger          hclog.Logger
	now             func() time.Time
	maxMessageBytes int
	maxUploadBytes  int64
	permTTL         time.Duration
	// chatPrefix is where the host mounts the browser API, for links.
	chatPrefix string
	// location decides transcript day boundaries and how absolute times
	// read in the macro table (ConfigureRequest.time_zone).
	location *time.Location

	store    store.Store
	hub      *hub.Hub
	host     hostv1.HostAPIClient
	hostConn *grpc.ClientConn
	perms    *permCache
	users    *userCache
	presence *presence
	limiter  *rateLimiter // nil when disabled
	epochs   sync.Map     // room id -> epoch, see epoch
	renderer *render.Renderer
	done     chan struct{} // closed by shutdown: ends open streams

	transcripts *transcripts // daily transcript pages; see transcripts.go
}

// Configure opens storage and connects to the host.
func (s *Server) Configure(ctx context.Context, req *chatv1.ConfigureRequest) (*chatv1.ConfigureResponse, error) {
	maxMsg := int(req.GetMaxMessageBytes())
	switch {
	case maxMsg == 0:
		maxMsg = limits.DefaultMessageBytes
	case maxMsg < 0 || maxMsg > limits.MaxMessageBytes:
		return nil, status.Errorf(codes.InvalidArgument, "max_message_bytes %d out of range 1..%d", maxMsg, limits.MaxMessageBytes)
	}
	// Range-check the milliseconds before converting: a huge value would
	// overflow time.Duration and wrap into an accepted one.
	permMS := req.GetPermissionCacheMs()
	if permMS < 0 || permMS > limits.MaxPermissionCache.Milliseconds() {
		return nil, status.Errorf(codes.InvalidArgument, "permission_cache_ms %d out of range 1..%d", permMS, limits.MaxPermissionCache.Milliseconds())
	}
	permTTL := time.Duration(permMS) * time.Millisecond
	if permTTL == 0 {
		permTTL = limits.DefaultPermissionCache
	}
	maxUpload := req.GetMaxUploadBytes()
	switch {
	case maxUpload == 0:
		maxUpload = limits.DefaultUploadBytes
	case maxUpload < 0 || maxUpload > limits.MaxUploadBytes:
		return nil, status.Errorf(codes.InvalidArgument, "max_upload_bytes %d out of range 1..%d", maxUpload, limits.MaxUploadBytes)
	}
	perMinute := int(req.GetMaxMessagesPerMinute())
	switch {
	case perMinute == 0:
		perMinute = limits.DefaultMessagesPerMinute
	case perMinute < -1:
		return nil, status.Errorf(codes.InvalidArgument, "max_messages_per_minute %d: use a positive limit, 0 for the default or -1 for none", perMinute)
	}
	maxRooms := int(req.GetMaxRoomsPerPage())
	switch {
	case maxRooms == 0:
		maxRooms = limits.DefaultRoomsPerPage
	case maxRooms < 0:
		return nil, status.Errorf(codes.InvalidArgument, "max_rooms_per_page %d must be positive (0 for the default)", maxRooms)
	}
	location, err := time.LoadLocation(req.GetTimeZone())
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "time_zone %q is not an IANA time zone: %v", req.GetTimeZone(), err)
	}
	tset, err := transcriptSettingsFrom(req)
	if err != nil {
		return nil, err
	}
	if req.GetSubscriberBuffer() < 0 {
		return nil, status.Errorf(codes.InvalidArgument, "subscriber_buffer %d must not be negative", req.GetSubscriberBuffer())
	}
	if req.GetDataDir() == "" {
		return nil, status.Error(codes.InvalidArgument, "data_dir is required")
	}
	if s.dialHost == nil {
		return nil, status.Error(codes.FailedPrecondition, "plugin has no broker to reach the host")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "plugin is shutting down")
	}
	if s.rt != nil {
		return nil, status.Error(codes.FailedPrecondition, "plugin is already configured; restart it to change settings")
	}

	conn, err := s.dialHost(req.GetHostBrokerId())
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "connect to host callback API (broker id %d): %v", req.GetHostBrokerId(), err)
	}
	h := hub.New(int(req.GetSubscriberBuffer()))
	dbPath := filepath.Join(req.GetDataDir(), dbFileName)
	tr := newTranscripts(s.logger)
	st, err := store.Open(dbPath, store.Options{
		OnCommit:        tr.onCommit(h.PublishMessages),
		Now:             s.now,
		DayOf:           transcript.DayFunc(location),
		MaxRoomsPerPage: maxRooms,
	})
	if err != nil {
		_ = conn.Close()
		code := codes.Internal
		if errors.Is(err, store.ErrLocked) {
			code = codes.FailedPrecondition
		}
		return nil, status.Errorf(code, "open storage: %v", err)
	}
	host := hostv1.NewHostAPIClient(conn)
	if err := tr.start(st, host, location, tset, s.now); err != nil {
		_ = st.Close()
		_ = conn.Close()
		return nil, status.Errorf(codes.Internal, "start transcripts: %v", err)
	}
	s.rt = &runtime{
		logger:          s.logger,
		now:             s.now,
		maxMessageBytes: maxMsg,
		maxUploadBytes:  maxUpload,
		permTTL:         permTTL,
		location:        location,
		chatPrefix:      tset.chatPrefix,
		store:           st,
		hub:             h,
		host:            host,
		hostConn:        conn,
		perms:           newPermCache(host, permTTL, s.now),
		users:           newUserCache(host, s.now),
		presence:        newPresence(),
		limiter:         newRateLimiter(perMinute, s.now),
		renderer:        &render.Renderer{Resolver: hostLinks{host: host}},
		done:            make(chan struct{}),
		transcripts:     tr,
	}
	s.logger.Info("configured", "db", dbPath, "pid", os.Getpid(), "max_message_bytes", maxMsg, "permission_cache", permTTL.String())
	return &chatv1.ConfigureResponse{PluginVersion: Version}, nil
}

// runtime returns the configured runtime or a status error.
func (s *Server) runtime() (*runtime, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, status.Error(codes.Unavailable, "plugin is shutting down")
	}
	if s.rt == nil {
		return nil, errNotConfigured
	}
	return s.rt, nil
}

// Health reports configuration state.
func (s *Server) Health(ctx context.Context, _ *chatv1.HealthRequest) (*chatv1.HealthResponse, error) {
	s.mu.Lock()
	rt := s.rt
	s.mu.Unlock()
	resp := &chatv1.HealthResponse{PluginVersion: Version, Configured: rt != nil}
	if rt != nil {
		n, err := rt.store.RoomCount(ctx)
		if err != nil {
			return nil, storeStatus(err, "")
		}
		resp.Rooms = int64(n)
	}
	return resp, nil
}

// Shutdown closes storage so the process can be stopped safely.
func (s *Server) Shutdown(context.Context, *chatv1.ShutdownRequest) (*chatv1.ShutdownResponse, error) {
	if err := s.close(); err != nil {
		return nil, status.Errorf(codes.Internal, "close storage: %v", err)
	}
	return &chatv1.ShutdownResponse{}, nil
}

// close ends streams, waits for in-flight commits and closes storage. It is
// idempotent.
func (s *Server) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	rt := s.rt
	if rt == nil {
		return nil
	}
	close(rt.done)
	rt.hub.Close()
	rt.transcripts.stop() // before the store and the host connection close
	err := rt.store.Close()
	rt.perms.close() // before the host connection it asks over closes
	_ = rt.hostConn.Close()
	s.logger.Info("storage closed")
	return err
}

// OpenRoom creates or returns a room.
func (s *Server) OpenRoom(ctx context.Context, req *chatv1.OpenRoomRequest) (*chatv1.OpenRoomResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	room, err := rt.openRoom(ctx, req.GetUserId(), req.GetPageId(), req.GetName())
	if err != nil {
		return nil, err
	}
	return &chatv1.OpenRoomResponse{Room: rt.roomToProto(room)}, nil
}

func (rt *runtime) openRoom(ctx context.Context, userID, pageID, name string) (store.Room, error) {
	if err := checkUserID(userID); err != nil {
		return store.Room{}, err
	}
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) || !utf8.ValidString(pageID) {
		return store.Room{}, status.Error(codes.InvalidArgument, "page id and room name must be valid UTF-8")
	}
	roomID, err := macro.RoomID(pageID, name)
	if err != nil {
		return store.Room{}, status.Errorf(codes.InvalidArgument, "room %q on page %q: %v", name, pageID, err)
	}
	if err := rt.authorize(ctx, userID, pageID, hostv1.Permission_PERMISSION_VIEW); err != nil {
		return store.Room{}, err
	}
	room, err := rt.store.CreateRoom(ctx, store.Room{ID: roomID, PageID: pageID, Name: name, Slug: macro.Slug(name)})
	if err != nil {
		return store.Room{}, storeStatus(err, roomID)
	}
	return room, nil
}

// RoomInfo returns a room's metadata with presence.
func (s *Server) RoomInfo(ctx context.Context, req *chatv1.RoomInfoRequest) (*chatv1.RoomInfoResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	room, err := rt.viewRoom(ctx, req.GetUserId(), req.GetRoomId())
	if err != nil {
		return nil, err
	}
	return &chatv1.RoomInfoResponse{Room: rt.roomToProto(room)}, nil
}

// viewRoom checks view permission and loads the room. Permission comes
// before existence so that a user who cannot see a page cannot probe which
// rooms it has.
func (rt *runtime) viewRoom(ctx context.Context, userID, roomID string) (store.Room, error) {
	pageID, err := checkRoomRequest(userID, roomID)
	if err != nil {
		return store.Room{}, err
	}
	if err := rt.authorize(ctx, userID, pageID, hostv1.Permission_PERMISSION_VIEW); err != nil {
		return store.Room{}, err
	}
	room, err := rt.store.Room(ctx, roomID)
	if err != nil {
		return store.Room{}, storeStatus(err, roomID)
	}
	return room, nil
}

// Send validates, authorises and durably stores a message.
func (s *Server) Send(ctx context.Context, req *chatv1.SendRequest) (*chatv1.SendResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	pageID, err := checkRoomRequest(req.GetUserId(), req.GetRoomId())
	if err != nil {
		return nil, err
	}
	if err := rt.checkText(req.GetText()); err != nil {
		return nil, err
	}
	if n := len(req.GetClientId()); n == 0 || n > limits.ClientIDBytes {
		return nil, status.Errorf(codes.InvalidArgument, "client_id must be 1 to %d bytes, got %d", limits.ClientIDBytes, n)
	}
	if err := rt.authorize(ctx, req.GetUserId(), pageID, hostv1.Permission_PERMISSION_POST); err != nil {
		return nil, err
	}
	if err := rt.rateLimit(req.GetUserId(), req.GetRoomId()); err != nil {
		return nil, err
	}
	name, err := rt.users.displayName(ctx, req.GetUserId())
	if err != nil {
		return nil, err
	}
	html, err := rt.renderer.Render(ctx, pageID, req.GetText())
	if err != nil {
		return nil, status.FromContextError(err).Err()
	}
	msg, dup, err := rt.store.Append(ctx, req.GetRoomId(), store.NewMessage{
		ClientID: req.GetClientId(),
		UserID:   req.GetUserId(),
		UserName: name,
		Text:     req.GetText(),
		HTML:     string(html),
	})
	if err != nil {
		return nil, storeStatus(err, req.GetRoomId())
	}
	epoch, err := rt.epoch(ctx, req.GetRoomId())
	if err != nil {
		return nil, storeStatus(err, req.GetRoomId())
	}
	return &chatv1.SendResponse{Message: messageToProto(msg, epoch), Duplicate: dup}, nil
}

// epoch returns a room's epoch. It never changes for a room id, so it is
// read from storage once; a send then costs no extra read transaction.
func (rt *runtime) epoch(ctx context.Context, roomID string) (string, error) {
	if e, ok := rt.epochs.Load(roomID); ok {
		return e.(string), nil
	}
	room, err := rt.store.Room(ctx, roomID)
	if err != nil {
		return "", err
	}
	rt.epochs.Store(roomID, room.Epoch)
	return room.Epoch, nil
}

// rateLimit refuses a send beyond the user's per-room rate, with a
// RetryInfo detail so host-sdk can tell the browser when to try again.
func (rt *runtime) rateLimit(userID, roomID string) error {
	ok, wait := rt.limiter.allow(userID, roomID)
	if ok {
		return nil
	}
	st := status.Newf(codes.ResourceExhausted, "user %q is sending to room %q too fast; retry in %v", userID, roomID, wait.Round(time.Second))
	if detailed, err := st.WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(wait)}); err == nil {
		st = detailed
	}
	return st.Err()
}

func (rt *runtime) checkText(text string) error {
	switch {
	case !utf8.ValidString(text):
		return status.Error(codes.InvalidArgument, "message text must be valid UTF-8")
	case strings.TrimSpace(text) == "":
		return status.Error(codes.InvalidArgument, "message text is empty")
	case len(text) > rt.maxMessageBytes:
		return status.Errorf(codes.InvalidArgument, "message text is %d bytes; the limit is %d", len(text), rt.maxMessageBytes)
	}
	return nil
}

// History returns a page of older messages.
func (s *Server) History(ctx context.Context, req *chatv1.HistoryRequest) (*chatv1.HistoryResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	switch {
	case limit == 0:
		limit = limits.DefaultHistoryPage
	case limit < 0 || limit > limits.MaxHistoryPage:
		return nil, status.Errorf(codes.InvalidArgument, "limit %d out of range 1..%d", limit, limits.MaxHistoryPage)
	}
	room, err := rt.viewRoom(ctx, req.GetUserId(), req.GetRoomId())
	if err != nil {
		return nil, err
	}
	msgs, more, err := rt.store.Before(ctx, room.ID, req.GetBeforeSeq(), limit)
	if err != nil {
		return nil, storeStatus(err, room.ID)
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
		return err
	}
	ctx := stream.Context()
	room, err := rt.viewRoom(ctx, req.GetUserId(), req.GetRoomId())
	if err != nil {
		return err
	}
	userID := req.GetUserId()
	// A refused resume must not show the user as having come online.
	if err := checkResume(room, req.GetAfterSeq(), req.GetEpoch()); err != nil {
		return err
	}
	if err := rt.join(ctx, room.ID, userID); err != nil {
		return err
	}
	defer rt.leave(room.ID, userID)
	return streamRoom(ctx, rt, room, req.GetAfterSeq(), req.GetEpoch(), roomStream{
		stream: stream,
		recheck: func(ctx context.Context) error {
			err := rt.authorize(ctx, userID, room.PageID, hostv1.Permission_PERMISSION_VIEW)
			if status.Code(err) == codes.PermissionDenied {
				rt.logger.Info("stream closed: view permission revoked", "room", room.ID, "user", userID)
			}
			return err
		},
		who: userID,
	})
}

// Feed streams a room for the host's own fan-out; see the proto for why it
// names no user.
func (s *Server) Feed(req *chatv1.FeedRequest, stream grpc.ServerStreamingServer[chatv1.RoomEvent]) error {
	rt, err := s.runtime()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	if _, _, err := macro.SplitRoomID(req.GetRoomId()); err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}
	room, err := rt.store.Room(ctx, req.GetRoomId())
	if err != nil {
		return storeStatus(err, req.GetRoomId())
	}
	return streamRoom(ctx, rt, room, req.GetAfterSeq(), req.GetEpoch(), roomStream{
		stream: stream,
		who:    "host feed",
	})
}

// AuthorizeViewers checks view permission for several users.
func (s *Server) AuthorizeViewers(ctx context.Context, req *chatv1.AuthorizeViewersRequest) (*chatv1.AuthorizeViewersResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	pageID, _, err := macro.SplitRoomID(req.GetRoomId())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	if n := len(req.GetUserIds()); n > limits.ViewersPerCheck {
		return nil, status.Errorf(codes.InvalidArgument, "%d user ids; at most %d per call", n, limits.ViewersPerCheck)
	}
	keys := make([]permKey, len(req.GetUserIds()))
	for i, userID := range req.GetUserIds() {
		if err := checkUserID(userID); err != nil {
			return nil, err
		}
		keys[i] = permKey{userID, pageID, hostv1.Permission_PERMISSION_VIEW}
	}
	// One question to the host for all the viewers the cache cannot
	// answer, rather than a round trip each.
	allowed, err := rt.perms.checkMany(ctx, keys)
	if err != nil {
		return nil, rt.permCheckFailed(ctx, err, "room", req.GetRoomId(), "viewers", len(keys))
	}
	resp := &chatv1.AuthorizeViewersResponse{}
	for i, ok := range allowed {
		if ok {
			resp.AllowedUserIds = append(resp.AllowedUserIds, keys[i].user)
		}
	}
	return resp, nil
}

// checkResume refuses a resume position that does not belong to room.
func checkResume(room store.Room, after uint64, epoch string) error {
	if epoch != "" && epoch != room.Epoch {
		return status.Errorf(codes.Aborted, "room %s has epoch %s, not %s: its log was recreated; reload history instead of resuming", room.ID, room.Epoch, epoch)
	}
	if after > room.LastSeq {
		return status.Errorf(codes.InvalidArgument, "after_seq %d is beyond the room's last sequence %d", after, room.LastSeq)
	}
	return nil
}

// roomStream adapts Subscribe's and Feed's streams to streamRoom.
type roomStream struct {
	stream grpc.ServerStreamingServer[chatv1.RoomEvent]
	// recheck, if set, runs every half permission window and ends the
	// stream when it fails.
	recheck func(context.Context) error
	who     string // for logs
}

// streamRoom replays a room from after, then streams it live, with no gap
// and no duplicate at the hand-over.
func streamRoom(ctx context.Context, rt *runtime, room store.Room, after uint64, epoch string, rs roomStream) error {
	if err := checkResume(room, after, epoch); err != nil {
		return err
	}

	// Subscribe to live events before reading storage: anything committed
	// after this point is in the subscription, anything before it is in
	// storage, and sequence numbers weed out what is in both.
	sub := rt.hub.Subscribe(room.ID)
	defer sub.Close()
	// The header tells the client the stream is authorised and open
	// before any message, even in an empty room.
	if err := rs.stream.SendHeader(metadata.Pairs("pagechat-epoch", room.Epoch)); err != nil {
		return err
	}

	last := after
	send := func(m store.Message) error {
		if err := rs.stream.Send(&chatv1.RoomEvent{Event: &chatv1.RoomEvent_Message{Message: messageToProto(m, room.Epoch)}}); err != nil {
			return err
		}
		last = m.Seq
		return nil
	}
	// catchUp sends everything stored after last up to and including upTo
	// (0 = all). It serves the initial replay and also fills a hole should
	// a live event ever arrive ahead of last+1.
	catchUp := func(upTo uint64) error {
		for {
			msgs, err := rt.store.After(ctx, room.ID, last, replayPage)
			if err != nil {
				return storeStatus(err, room.ID)
			}
			for _, m := range msgs {
				if upTo != 0 && m.Seq > upTo {
					return nil
				}
				if err := send(m); err != nil {
					return err
				}
			}
			if len(msgs) < replayPage {
				return nil
			}
		}
	}
	if err := catchUp(0); err != nil {
		return err
	}
	if err := rs.stream.Send(&chatv1.RoomEvent{Event: &chatv1.RoomEvent_CaughtUp{CaughtUp: last}}); err != nil {
		return err
	}

	var recheck <-chan time.Time
	if rs.recheck != nil {
		t := time.NewTicker(rt.permTTL / 2)
		defer t.Stop()
		recheck = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-rt.done:
			return status.Error(codes.Unavailable, "plugin is shutting down; resume after the restart")
		case <-sub.Done():
			if errors.Is(sub.Err(), hub.ErrSlowConsumer) {
				rt.logger.Warn("cut slow subscriber", "room", room.ID, "subscriber", rs.who, "last_seq", last)
				return status.Errorf(codes.ResourceExhausted, "subscriber fell too far behind; resume after sequence %d", last)
			}
			return status.Error(codes.Unavailable, "plugin is shutting down; resume after the restart")
		case <-recheck:
			if err := rs.recheck(ctx); err != nil {
				return err
			}
		case ev := <-sub.Events():
			switch {
			case ev.Message != nil:
				m := *ev.Message
				if m.Seq <= last {
					continue // already replayed from storage
				}
				if m.Seq > last+1 {
					if err := catchUp(m.Seq - 1); err != nil {
						return err
					}
				}
				if err := send(m); err != nil {
					return err
				}
			case ev.Presence != nil:
				if err := rs.stream.Send(&chatv1.RoomEvent{Event: &chatv1.RoomEvent_Presence{Presence: &chatv1.PresenceChange{Participant: presenceToProto(*ev.Presence)}}}); err != nil {
					return err
				}
			}
		}
	}
}

// Join marks a user present and records them as a participant.
func (s *Server) Join(ctx context.Context, req *chatv1.JoinRequest) (*chatv1.JoinResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	room, err := rt.viewRoom(ctx, req.GetUserId(), req.GetRoomId())
	if err != nil {
		return nil, err
	}
	if err := rt.join(ctx, room.ID, req.GetUserId()); err != nil {
		return nil, err
	}
	room, err = rt.store.Room(ctx, room.ID)
	if err != nil {
		return nil, storeStatus(err, room.ID)
	}
	return &chatv1.JoinResponse{Participants: rt.participants(room)}, nil
}

// Leave undoes one Join. It needs no permission: leaving only ever
// reduces what the user is shown as doing.
func (s *Server) Leave(ctx context.Context, req *chatv1.LeaveRequest) (*chatv1.LeaveResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	if _, err := checkRoomRequest(req.GetUserId(), req.GetRoomId()); err != nil {
		return nil, err
	}
	rt.leave(req.GetRoomId(), req.GetUserId())
	return &chatv1.LeaveResponse{}, nil
}

// Presence lists participants with their online state.
func (s *Server) Presence(ctx context.Context, req *chatv1.PresenceRequest) (*chatv1.PresenceResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	room, err := rt.viewRoom(ctx, req.GetUserId(), req.GetRoomId())
	if err != nil {
		return nil, err
	}
	return &chatv1.PresenceResponse{Participants: rt.participants(room)}, nil
}

// join records the participant and counts them online, announcing the
// change when they were not online before.
func (rt *runtime) join(ctx context.Context, roomID, userID string) error {
	name, err := rt.users.displayName(ctx, userID)
	if err != nil {
		return err
	}
	now := rt.now()
	if err := rt.store.TouchParticipant(ctx, roomID, store.Participant{UserID: userID, DisplayName: name, LastSeen: now}); err != nil {
		return storeStatus(err, roomID)
	}
	if rt.presence.inc(roomID, userID) {
		rt.hub.Publish(roomID, hub.Event{Presence: &hub.Presence{UserID: userID, DisplayName: name, Online: true, At: now}})
	}
	return nil
}

func (rt *runtime) leave(roomID, userID string) {
	if rt.presence.dec(roomID, userID) {
		name := rt.users.cachedName(userID)
		rt.hub.Publish(roomID, hub.Event{Presence: &hub.Presence{UserID: userID, DisplayName: name, Online: false, At: rt.now()}})
	}
}

// authorize asks the host (through the cache) and turns the answer into a
// status error.
func (rt *runtime) authorize(ctx context.Context, userID, pageID string, perm hostv1.Permission) error {
	ok, err := rt.perms.check(ctx, userID, pageID, perm)
	if err != nil {
		return rt.permCheckFailed(ctx, err, "user", userID, "page", pageID, "permission", perm.String())
	}
	if !ok {
		verb := "view"
		if perm == hostv1.Permission_PERMISSION_POST {
			verb = "post on"
		}
		return status.Errorf(codes.PermissionDenied, "user %q may not %s page %q", userID, verb, pageID)
	}
	return nil
}

// permCheckFailed turns a failed permission lookup into the caller's
// status: the caller's own cancellation as such, anything else as the host
// being unavailable, logged with what was asked.
func (rt *runtime) permCheckFailed(ctx context.Context, err error, asked ...any) error {
	if ctx.Err() != nil {
		return status.FromContextError(ctx.Err()).Err()
	}
	rt.logger.Error("host permission check failed", append(asked, "error", err)...)
	return hostFailed("cannot check permission with the host: %v", err)
}

// hostFailed is the status for a failed HostAPI callback: UNAVAILABLE with
// the reason that tells host-sdk the plugin itself is fine.
func hostFailed(format string, args ...any) error {
	st := status.Newf(codes.Unavailable, format, args...)
	if detailed, err := st.WithDetails(&errdetails.ErrorInfo{Domain: handshake.ErrorDomain, Reason: handshake.ReasonHostCallbackFailed}); err == nil {
		st = detailed
	}
	return st.Err()
}

// checkRoomRequest validates the user and room ids every room call carries
// and returns the room's page id.
func checkRoomRequest(userID, roomID string) (pageID string, err error) {
	if err := checkUserID(userID); err != nil {
		return "", err
	}
	if !utf8.ValidString(roomID) {
		return "", status.Error(codes.InvalidArgument, "room id must be valid UTF-8")
	}
	pageID, _, err = macro.SplitRoomID(roomID)
	if err != nil {
		return "", status.Error(codes.InvalidArgument, err.Error())
	}
	return pageID, nil
}

func checkUserID(userID string) error {
	if userID == "" || len(userID) > limits.UserIDBytes || !utf8.ValidString(userID) {
		return status.Errorf(codes.InvalidArgument, "user id must be 1 to %d bytes of UTF-8", limits.UserIDBytes)
	}
	return nil
}

// storeStatus maps store errors to gRPC statuses.
func storeStatus(err error, roomID string) error {
	switch {
	case errors.Is(err, store.ErrRoomNotFound):
		return status.Errorf(codes.NotFound, "room %q not found", roomID)
	case errors.Is(err, store.ErrClosed):
		return status.Error(codes.Unavailable, "plugin is shutting down")
	case errors.Is(err, store.ErrTooManyRooms):
		st := status.New(codes.ResourceExhausted, err.Error())
		if detailed, derr := st.WithDetails(&errdetails.QuotaFailure{Violations: []*errdetails.QuotaFailure_Violation{{Subject: "rooms per page", Description: err.Error()}}}); derr == nil {
			st = detailed
		}
		return st.Err()
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	return status.Error(codes.Internal, fmt.Sprintf("storage: %v", err))
}
