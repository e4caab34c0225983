package server

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/limits"

	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// TestMain fails the package if any test leaves goroutines behind: streams,
// the store's writer, gRPC connections to the host.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// rpcCall is one call of the ChatPlugin service, for tables that expect the
// same status from every method.
type rpcCall struct {
	name string
	do   func(ctx context.Context, c chatv1.ChatPluginClient) error
}

// roomCalls lists every room-level RPC, addressed at room as alice.
func roomCalls(room string) []rpcCall {
	return []rpcCall{
		{"OpenRoom", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.OpenRoom(ctx, &chatv1.OpenRoomRequest{UserId: "alice", PageId: "p1", Name: "Lobby"})
			return err
		}},
		{"RenderMacro", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.RenderMacro(ctx, &chatv1.RenderMacroRequest{UserId: "alice", PageId: "p1", Name: "Lobby"})
			return err
		}},
		{"RoomInfo", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: "alice", RoomId: room})
			return err
		}},
		{"Send", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.Send(ctx, &chatv1.SendRequest{UserId: "alice", RoomId: room, ClientId: "c-late", Text: "hello"})
			return err
		}},
		{"History", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.History(ctx, &chatv1.HistoryRequest{UserId: "alice", RoomId: room})
			return err
		}},
		{"Subscribe", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			s, err := c.Subscribe(ctx, &chatv1.SubscribeRequest{UserId: "alice", RoomId: room})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		{"Join", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.Join(ctx, &chatv1.JoinRequest{UserId: "alice", RoomId: room})
			return err
		}},
		{"Leave", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.Leave(ctx, &chatv1.LeaveRequest{UserId: "alice", RoomId: room})
			return err
		}},
		{"Presence", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.Presence(ctx, &chatv1.PresenceRequest{UserId: "alice", RoomId: room})
			return err
		}},
		{"Feed", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			s, err := c.Feed(ctx, &chatv1.FeedRequest{RoomId: room})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		{"AuthorizeViewers", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.AuthorizeViewers(ctx, &chatv1.AuthorizeViewersRequest{RoomId: room, UserIds: []string{"alice"}})
			return err
		}},
		{"AuthorizeRooms", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.AuthorizeRooms(ctx, &chatv1.AuthorizeRoomsRequest{Rooms: []*chatv1.AuthorizeViewersRequest{{RoomId: room, UserIds: []string{"alice"}}}})
			return err
		}},
		{"Typing", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.Typing(ctx, &chatv1.TypingRequest{UserId: "alice", RoomId: room})
			return err
		}},
	}
}

func TestCallsBeforeConfigure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	h.host.allow("alice", "p1", view, post)
	for _, call := range roomCalls("p1.lobby") {
		t.Run(call.name, func(t *testing.T) {
			t.Parallel()
			wantCode(t, call.do(testCtx(t), h.c), codes.FailedPrecondition)
		})
	}
	t.Run("Health", func(t *testing.T) {
		t.Parallel()
		resp, err := h.c.Health(testCtx(t), &chatv1.HealthRequest{})
		if err != nil {
			t.Fatalf("Health before Configure: %v", err)
		}
		if resp.GetConfigured() || resp.GetRooms() != 0 || resp.GetPluginVersion() != testVersion {
			t.Fatalf("Health before Configure = %v, want unconfigured, version %q", resp, testVersion)
		}
	})
}

func TestConfigure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	c := testCtx(t)

	bad := []struct {
		name string
		edit func(*chatv1.ConfigureRequest)
		code codes.Code
	}{
		{"negative max_message_bytes", func(r *chatv1.ConfigureRequest) { r.MaxMessageBytes = -1 }, codes.InvalidArgument},
		{"max_message_bytes over the cap", func(r *chatv1.ConfigureRequest) { r.MaxMessageBytes = limits.MaxMessageBytes + 1 }, codes.InvalidArgument},
		{"permission_cache_ms 10000", func(r *chatv1.ConfigureRequest) { r.PermissionCacheMs = 10000 }, codes.InvalidArgument},
		{"negative permission_cache_ms", func(r *chatv1.ConfigureRequest) { r.PermissionCacheMs = -5 }, codes.InvalidArgument},
		{"negative subscriber_buffer", func(r *chatv1.ConfigureRequest) { r.SubscriberBuffer = -1 }, codes.InvalidArgument},
		{"empty data_dir", func(r *chatv1.ConfigureRequest) { r.DataDir = "" }, codes.InvalidArgument},
		{"unknown time zone", func(r *chatv1.ConfigureRequest) { r.TimeZone = "Mars/Olympus_Mons" }, codes.InvalidArgument},
		{"negative max_upload_bytes", func(r *chatv1.ConfigureRequest) { r.MaxUploadBytes = -1 }, codes.InvalidArgument},
		{"max_messages_per_minute below -1", func(r *chatv1.ConfigureRequest) { r.MaxMessagesPerMinute = -2 }, codes.InvalidArgument},
		{"max_upload_bytes_per_hour below -1", func(r *chatv1.ConfigureRequest) { r.MaxUploadBytesPerHour = -2 }, codes.InvalidArgument},
		{"negative transcript_delay_ms", func(r *chatv1.ConfigureRequest) { r.TranscriptDelayMs = -1 }, codes.InvalidArgument},
		// The broker id is handed to dialHost, which knows only id 1.
		{"unknown broker id", func(r *chatv1.ConfigureRequest) { r.HostBrokerId = 7 }, codes.Unavailable},
	}
	// Sequential on purpose: each failure must leave the plugin
	// unconfigured, which the valid Configure below then proves.
	for _, tc := range bad {
		req := h.configReq()
		tc.edit(req)
		_, err := h.c.Configure(c, req)
		if got := status.Code(err); got != tc.code {
			t.Errorf("%s: got %v (%v), want %v", tc.name, got, err, tc.code)
		}
		if health, err := h.c.Health(c, &chatv1.HealthRequest{}); err != nil || health.GetConfigured() {
			t.Fatalf("%s: after a failed Configure, Health = %v, %v; want unconfigured", tc.name, health, err)
		}
	}

	resp, err := h.c.Configure(c, h.configReq())
	if err != nil {
		t.Fatalf("valid Configure after failed ones: %v", err)
	}
	if resp.GetPluginVersion() != testVersion {
		t.Errorf("PluginVersion = %q, want %q", resp.GetPluginVersion(), testVersion)
	}
	h.dialMu.Lock()
	ids := append([]uint32(nil), h.dialedIDs...)
	h.dialMu.Unlock()
	if want := []uint32{7, testBrokerID}; fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("dialHost got broker ids %v, want %v (validation must come before dialing)", ids, want)
	}
	if health, err := h.c.Health(c, &chatv1.HealthRequest{}); err != nil || !health.GetConfigured() {
		t.Fatalf("Health after Configure = %v, %v", health, err)
	}

	t.Run("twice", func(t *testing.T) {
		h.host.allow("alice", "p1", view)
		_, err := h.c.Configure(c, h.configReq())
		wantCode(t, err, codes.FailedPrecondition)
		// The first configuration still works.
		if _, err := h.c.OpenRoom(c, &chatv1.OpenRoomRequest{UserId: "alice", PageId: "p1", Name: "Lobby"}); err != nil {
			t.Fatalf("OpenRoom after second Configure: %v", err)
		}
	})
}

func TestConfigureWithoutBroker(t *testing.T) {
	t.Parallel()
	srv := New(nil, nil, testVersion)
	_, err := srv.Configure(testCtx(t), &chatv1.ConfigureRequest{DataDir: t.TempDir(), HostBrokerId: 1})
	wantCode(t, err, codes.FailedPrecondition)
}

func TestConfigureLimits(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.MaxMessageBytes = 10 })
	room := h.openRoom("alice", "p1", "Short").GetId()
	h.send("alice", room, "c1", "0123456789") // exactly the limit
	_, err := h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: "alice", RoomId: room, ClientId: "c2", Text: "0123456789a"})
	wantCode(t, err, codes.InvalidArgument)
	if got := h.lastSeq(room); got != 1 {
		t.Fatalf("last seq = %d, want 1", got)
	}
}

// TestConfigureLockedDataDir runs a second plugin on the data dir of a
// running one: it must fail clearly (after the store's lock timeout, a few
// seconds), stay unconfigured, and succeed once the first has shut down.
func TestConfigureLockedDataDir(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("waits for the store's lock timeout")
	}
	dir := t.TempDir()
	first := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.DataDir = dir })
	room := first.openRoom("alice", "p1", "Shared")
	first.send("alice", room.GetId(), "c1", "kept")

	second := newHarness(t)
	second.host.allow("alice", "p1", view, post)
	req := second.configReq()
	req.DataDir = dir
	_, err := second.c.Configure(testCtx(t), req)
	wantCode(t, err, codes.FailedPrecondition)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "locked") {
		t.Errorf("error %q does not say the database is locked", msg)
	}

	if _, err := first.c.Shutdown(testCtx(t), &chatv1.ShutdownRequest{}); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := second.c.Configure(testCtx(t), req); err != nil {
		t.Fatalf("Configure after the first plugin shut down: %v", err)
	}
	// The data survived the hand-over, epoch included.
	info, err := second.c.RoomInfo(testCtx(t), &chatv1.RoomInfoRequest{UserId: "alice", RoomId: room.GetId()})
	if err != nil {
		t.Fatalf("RoomInfo on the second plugin: %v", err)
	}
	if info.GetRoom().GetEpoch() != room.GetEpoch() || info.GetRoom().GetLastSeq() != 1 {
		t.Fatalf("room on the second plugin = %v, want epoch %s and last seq 1", info.GetRoom(), room.GetEpoch())
	}
	hist := second.history("alice", room.GetId(), 0, 0)
	if len(hist.GetMessages()) != 1 || hist.GetMessages()[0].GetText() != "kept" {
		t.Fatalf("history on the second plugin = %v", hist.GetMessages())
	}
}

func TestOpenRoom(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	tests := []struct {
		name     string
		user     string
		page     string
		room     string
		code     codes.Code
		wantID   string
		wantName string
		direct   bool // call the Server in-process: invalid UTF-8 cannot be marshalled
	}{
		{name: "simple", user: "alice", page: "p1", room: "My Room Name", wantID: "p1.my-room-name", wantName: "My Room Name"},
		{name: "view is enough", user: "bob", page: "p1", room: "Bob's Corner", wantID: "p1.bob-s-corner", wantName: "Bob's Corner"},
		{name: "name is trimmed", user: "alice", page: "p1", room: "  Spaced Out \t", wantID: "p1.spaced-out", wantName: "Spaced Out"},
		{name: "page id with dots", user: "alice", page: "secret", room: "Plans 2.0", wantID: "secret.plans-2-0", wantName: "Plans 2.0"},
		{name: "empty name", user: "alice", page: "p1", room: "", code: codes.InvalidArgument},
		{name: "blank name", user: "alice", page: "p1", room: "   ", code: codes.InvalidArgument},
		{name: "punctuation only", user: "alice", page: "p1", room: "!!! ---", code: codes.InvalidArgument},
		{name: "symbols only", user: "alice", page: "p1", room: "— ★ —", code: codes.InvalidArgument},
		{name: "name too long", user: "alice", page: "p1", room: strings.Repeat("a", 201), code: codes.InvalidArgument},
		{name: "invalid utf-8 name", user: "alice", page: "p1", room: "room \xff", code: codes.InvalidArgument, direct: true},
		{name: "invalid utf-8 page", user: "alice", page: "p\xff", room: "room", code: codes.InvalidArgument, direct: true},
		{name: "invalid utf-8 user", user: "al\xffce", page: "p1", room: "room", code: codes.InvalidArgument, direct: true},
		{name: "empty page", user: "alice", page: "", room: "Lobby", code: codes.InvalidArgument},
		{name: "empty user", user: "", page: "p1", room: "Lobby", code: codes.InvalidArgument},
		{name: "no view", user: "carol", page: "p1", room: "Lobby", code: codes.PermissionDenied},
		{name: "no view on another page", user: "bob", page: "secret", room: "Lobby", code: codes.PermissionDenied},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := &chatv1.OpenRoomRequest{UserId: tc.user, PageId: tc.page, Name: tc.room}
			open := h.c.OpenRoom
			if tc.direct {
				open = func(ctx context.Context, req *chatv1.OpenRoomRequest, _ ...grpc.CallOption) (*chatv1.OpenRoomResponse, error) {
					return h.srv.OpenRoom(ctx, req)
				}
			}
			resp, err := open(testCtx(t), req)
			wantCode(t, err, tc.code)
			if tc.code != codes.OK {
				return
			}
			r := resp.GetRoom()
			if r.GetId() != tc.wantID || r.GetPageId() != tc.page || r.GetName() != tc.wantName || r.GetEpoch() == "" || r.GetLastSeq() != 0 || r.GetCreatedAt() == nil {
				t.Fatalf("room = %v, want id %s, page %s, name %q, an epoch and no messages", r, tc.wantID, tc.page, tc.wantName)
			}
			if !strings.HasSuffix(r.GetId(), "."+r.GetSlug()) {
				t.Fatalf("room id %s does not end with its slug %s", r.GetId(), r.GetSlug())
			}
		})
	}
}

func TestOpenRoomIdempotent(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	first := h.openRoom("alice", "p1", "Lobby")
	h.send("alice", first.GetId(), "c1", "hi")
	// The same room under another spelling of its name, by another user.
	again := h.openRoom("bob", "p1", "  lobby!! ")
	if again.GetId() != first.GetId() || again.GetEpoch() != first.GetEpoch() {
		t.Fatalf("reopened room %s epoch %s, want %s epoch %s", again.GetId(), again.GetEpoch(), first.GetId(), first.GetEpoch())
	}
	if again.GetName() != "Lobby" {
		t.Errorf("reopening renamed the room to %q", again.GetName())
	}
	if again.GetLastSeq() != 1 {
		t.Errorf("reopening lost messages: last seq %d", again.GetLastSeq())
	}
	if n := h.roomCount(); n != 1 {
		t.Errorf("room count = %d, want 1", n)
	}
	// The same name on another page is another room.
	other := h.openRoom("alice", "secret", "Lobby")
	if other.GetId() != "secret.lobby" || other.GetEpoch() == first.GetEpoch() {
		t.Errorf("room on another page = %s epoch %s", other.GetId(), other.GetEpoch())
	}
}

func TestSendInvalid(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	h.send("alice", room, "seed", "seed message")
	rooms := h.roomCount()

	type req = chatv1.SendRequest
	// Invalid UTF-8 cannot cross the wire (proto3 strings refuse to
	// marshal), so those cases call the Server directly: its own checks
	// are what protect the store from an in-process caller.
	tests := []struct {
		name   string
		edit   func(*req)
		direct bool
	}{
		{"empty text", func(r *req) { r.Text = "" }, false},
		{"whitespace only", func(r *req) { r.Text = " \t\n\r  " }, false},
		{"invalid utf-8", func(r *req) { r.Text = "hello \xff\xfe" }, true},
		{"oversize", func(r *req) { r.Text = strings.Repeat("a", limits.DefaultMessageBytes+1) }, false},
		{"oversize in multibyte runes", func(r *req) { r.Text = strings.Repeat("é", limits.DefaultMessageBytes/2+1) }, false},
		{"empty client id", func(r *req) { r.ClientId = "" }, false},
		{"client id over 128 bytes", func(r *req) { r.ClientId = strings.Repeat("c", limits.ClientIDBytes+1) }, false},
		{"room without slug", func(r *req) { r.RoomId = "noslug" }, false},
		{"room without page", func(r *req) { r.RoomId = ".x" }, false},
		{"room with unnormalised slug", func(r *req) { r.RoomId = "p1.Bad Slug" }, false},
		{"room with upper-case slug", func(r *req) { r.RoomId = "p1.Lobby" }, false},
		{"room with trailing dot", func(r *req) { r.RoomId = "p1." }, false},
		{"empty room id", func(r *req) { r.RoomId = "" }, false},
		{"room id invalid utf-8", func(r *req) { r.RoomId = "p\xff.lobby" }, true},
		{"empty user", func(r *req) { r.UserId = "" }, false},
		{"user id too long", func(r *req) { r.UserId = strings.Repeat("u", limits.UserIDBytes+1) }, false},
		{"user id invalid utf-8", func(r *req) { r.UserId = "al\xffce" }, true},
	}
	t.Run("cases", func(t *testing.T) {
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				r := &req{UserId: "alice", RoomId: room, ClientId: fmt.Sprint("bad-", i), Text: "valid text"}
				tc.edit(r)
				var err error
				if tc.direct {
					_, err = h.srv.Send(testCtx(t), r)
				} else {
					_, err = h.c.Send(testCtx(t), r)
				}
				wantCode(t, err, codes.InvalidArgument)
			})
		}
	})
	// After all (parallel) cases: none of them stored anything.
	if got := h.lastSeq(room); got != 1 {
		t.Errorf("last seq after invalid sends = %d, want 1", got)
	}
	hist := h.history("alice", room, 0, limits.MaxHistoryPage)
	if len(hist.GetMessages()) != 1 || hist.GetMessages()[0].GetText() != "seed message" {
		t.Errorf("history after invalid sends = %v, want only the seed", hist.GetMessages())
	}
	if got := h.roomCount(); got != rooms {
		t.Errorf("room count after invalid sends = %d, want %d", got, rooms)
	}
}

func TestSendLimitsAccepted(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	tests := []struct{ name, client, text string }{
		{"text at the byte limit", "c-max-text", strings.Repeat("a", limits.DefaultMessageBytes)},
		{"client id at 128 bytes", strings.Repeat("c", limits.ClientIDBytes), "hi"},
		{"surrounding whitespace kept", "c-ws", "  hi  \n"},
		{"unicode", "c-uni", "héllo 日本 👋"},
	}
	for _, tc := range tests {
		resp := h.send("alice", room, tc.client, tc.text)
		m := resp.GetMessage()
		if resp.GetDuplicate() || m.GetText() != tc.text || m.GetClientId() != tc.client || m.GetRoomId() != room {
			t.Errorf("%s: Send = %v", tc.name, resp)
		}
	}
	hist := h.history("alice", room, 0, 0)
	if got := seqsOf(hist.GetMessages()); !equalSeqs(got, seqRange(1, uint64(len(tests)))) {
		t.Fatalf("history seqs = %v", got)
	}
	for i, m := range hist.GetMessages() {
		if m.GetText() != tests[i].text {
			t.Errorf("stored text %d differs from what was sent", i)
		}
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	h.host.allow("dave", "p1", view, post)
	h.host.failUser("dave", status.Error(codes.Unavailable, "user directory is down"))
	h.host.failPerm("erin", status.Error(codes.Internal, "permission service exploded"))

	tests := []struct {
		name    string
		user    string
		room    string
		code    codes.Code
		mention string // the status message must contain this
	}{
		{name: "unknown room on a viewable page", user: "alice", room: "p1.nope", code: codes.NotFound, mention: "p1.nope"},
		{name: "view but no post", user: "bob", room: room, code: codes.PermissionDenied},
		{name: "no permission at all", user: "carol", room: room, code: codes.PermissionDenied},
		{name: "no post on unknown room of hidden page", user: "bob", room: "secret.nope", code: codes.PermissionDenied},
		{name: "host cannot check permission", user: "erin", room: room, code: codes.Unavailable, mention: "permission service exploded"},
		{name: "host cannot look up the user", user: "dave", room: room, code: codes.Unavailable, mention: "user directory is down"},
	}
	t.Run("cases", func(t *testing.T) {
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				_, err := h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: tc.user, RoomId: tc.room, ClientId: fmt.Sprint("c", i), Text: "hi"})
				wantCode(t, err, tc.code)
				if msg := status.Convert(err).Message(); !strings.Contains(msg, tc.mention) {
					t.Errorf("status message %q does not mention %q", msg, tc.mention)
				}
			})
		}
	})
	if got := h.lastSeq(room); got != 0 {
		t.Errorf("failed sends stored messages: last seq %d", got)
	}
	if got := h.roomCount(); got != 1 {
		t.Errorf("failed sends created rooms: %d rooms", got)
	}
}

func TestSendDuplicateClientID(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby")
	first := h.send("alice", room.GetId(), "retry-me", "original")
	if first.GetDuplicate() || first.GetMessage().GetSeq() != 1 || first.GetMessage().GetEpoch() != room.GetEpoch() {
		t.Fatalf("first send = %v", first)
	}
	h.send("alice", room.GetId(), "other", "second")
	for i := range 3 {
		again := h.send("alice", room.GetId(), "retry-me", fmt.Sprint("retry ", i))
		if !again.GetDuplicate() || again.GetMessage().GetSeq() != 1 || again.GetMessage().GetText() != "original" {
			t.Fatalf("retry %d = %v, want duplicate of seq 1 with the original text", i, again)
		}
	}
	// Concurrent retries of one client id still store one message.
	var wg sync.WaitGroup
	seqs := make([]uint64, 8)
	dups := make([]bool, 8)
	errs := make([]error, 8)
	for i := range seqs {
		wg.Go(func() {
			resp, err := h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: "alice", RoomId: room.GetId(), ClientId: "burst", Text: "burst"})
			seqs[i], dups[i], errs[i] = resp.GetMessage().GetSeq(), resp.GetDuplicate(), err
		})
	}
	wg.Wait()
	fresh := 0
	for i := range seqs {
		if errs[i] != nil {
			t.Fatalf("burst send %d: %v", i, errs[i])
		}
		if seqs[i] != 3 {
			t.Errorf("burst send %d got seq %d, want 3", i, seqs[i])
		}
		if !dups[i] {
			fresh++
		}
	}
	if fresh != 1 {
		t.Errorf("%d burst sends were reported as new, want exactly 1", fresh)
	}
	// The same client id in another room is another message.
	otherRoom := h.openRoom("alice", "p1", "Other").GetId()
	if resp := h.send("alice", otherRoom, "retry-me", "elsewhere"); resp.GetDuplicate() || resp.GetMessage().GetSeq() != 1 {
		t.Errorf("same client id in another room = %v", resp)
	}
	if got := seqsOf(h.history("alice", room.GetId(), 0, 0).GetMessages()); !equalSeqs(got, []uint64{1, 2, 3}) {
		t.Fatalf("history seqs = %v, want [1 2 3]", got)
	}
}

func TestSendDisplayName(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	h.host.addUser("nameless", "")
	h.host.allow("nameless", "p1", view, post)
	tests := []struct {
		user string
		want string
	}{
		{"alice", "Alice Liddell"}, // from GetUser
		{"ghost", "ghost"},         // GetUser says NotFound: fall back to the id
		{"nameless", "nameless"},   // GetUser has no display name
	}
	for i, tc := range tests {
		resp := h.send(tc.user, room, fmt.Sprint("c", i), "hello")
		if got := resp.GetMessage().GetUserName(); got != tc.want {
			t.Errorf("%s: user name %q, want %q", tc.user, got, tc.want)
		}
		if got := resp.GetMessage().GetUserId(); got != tc.user {
			t.Errorf("%s: user id %q", tc.user, got)
		}
	}
	hist := h.history("alice", room, 0, 0).GetMessages()
	for i, tc := range tests {
		if hist[i].GetUserName() != tc.want {
			t.Errorf("stored name of %s = %q, want %q", tc.user, hist[i].GetUserName(), tc.want)
		}
	}
	info, err := h.c.RoomInfo(testCtx(t), &chatv1.RoomInfoRequest{UserId: "alice", RoomId: room})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range info.GetRoom().GetParticipants() {
		names = append(names, p.GetUserId()+"="+p.GetDisplayName())
	}
	if got, want := strings.Join(names, ","), "alice=Alice Liddell,ghost=ghost,nameless=nameless"; got != want {
		t.Errorf("participants = %s, want %s", got, want)
	}
}

// sendMany sends n messages from user with workers concurrent senders and
// returns the text each sequence number was stored with.
func sendMany(t *testing.T, h *harness, user, room string, n, workers int) map[uint64]string {
	t.Helper()
	var (
		mu     sync.Mutex
		byseq  = make(map[uint64]string, n)
		next   atomic.Int64
		wg     sync.WaitGroup
		failed atomic.Value
	)
	for range workers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(n) || failed.Load() != nil {
					return
				}
				text := fmt.Sprint("message ", i)
				resp, err := h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: user, RoomId: room, ClientId: fmt.Sprint("many-", i), Text: text})
				if err != nil {
					failed.Store(err)
					return
				}
				mu.Lock()
				byseq[resp.GetMessage().GetSeq()] = text
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatalf("Send: %v", err)
	}
	if len(byseq) != n {
		t.Fatalf("%d sends got %d distinct seqs", n, len(byseq))
	}
	return byseq
}

func TestHistoryPaging(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby")
	byseq := sendMany(t, h, "alice", room.GetId(), 120, 4)

	tests := []struct {
		before   uint64
		limit    int32
		from, to uint64
		more     bool
	}{
		{before: 0, limit: 50, from: 71, to: 120, more: true},
		{before: 71, limit: 50, from: 21, to: 70, more: true},
		{before: 21, limit: 50, from: 1, to: 20, more: false},
		{before: 0, limit: 0, from: 71, to: 120, more: true}, // default limit 50
		{before: 0, limit: 120, from: 1, to: 120, more: false},
		{before: 0, limit: 500, from: 1, to: 120, more: false},
		{before: 0, limit: 119, from: 2, to: 120, more: true},
		{before: 121, limit: 10, from: 111, to: 120, more: true},
		{before: 1000, limit: 10, from: 111, to: 120, more: true},
		{before: 2, limit: 50, from: 1, to: 1, more: false},
		{before: 1, limit: 50}, // nothing older than the first message
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("before %d limit %d", tc.before, tc.limit), func(t *testing.T) {
			t.Parallel()
			resp := h.history("bob", room.GetId(), tc.before, tc.limit)
			var want []uint64
			if tc.to > 0 {
				want = seqRange(tc.from, tc.to)
			}
			if got := seqsOf(resp.GetMessages()); !equalSeqs(got, want) {
				t.Fatalf("seqs = %s, want %s", shortSeqs(got), shortSeqs(want))
			}
			if resp.GetHasMore() != tc.more {
				t.Errorf("HasMore = %v, want %v", resp.GetHasMore(), tc.more)
			}
			if resp.GetEpoch() != room.GetEpoch() {
				t.Errorf("epoch = %q, want %q", resp.GetEpoch(), room.GetEpoch())
			}
			for _, m := range resp.GetMessages() {
				if m.GetText() != byseq[m.GetSeq()] || m.GetEpoch() != room.GetEpoch() || m.GetRoomId() != room.GetId() ||
					m.GetUserName() != "Alice Liddell" || m.GetSentAt() == nil {
					t.Fatalf("message %d = %v, want text %q", m.GetSeq(), m, byseq[m.GetSeq()])
				}
			}
		})
	}
}

func TestHistoryErrors(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	h.openRoom("alice", "secret", "Hidden")
	tests := []struct {
		name  string
		user  string
		room  string
		limit int32
		code  codes.Code
	}{
		{"limit 501", "alice", room, limits.MaxHistoryPage + 1, codes.InvalidArgument},
		{"negative limit", "alice", room, -1, codes.InvalidArgument},
		{"no view", "carol", room, 10, codes.PermissionDenied},
		{"no view on an existing room", "bob", "secret.hidden", 10, codes.PermissionDenied},
		// Existence must not leak: a room that does not exist on a page
		// the user cannot see is denied, not "not found".
		{"no view on a missing room", "bob", "secret.nope", 10, codes.PermissionDenied},
		{"missing room on a viewable page", "bob", "p1.nope", 10, codes.NotFound},
		{"malformed room id", "alice", "noslug", 10, codes.InvalidArgument},
		{"empty user", "", room, 10, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := h.c.History(testCtx(t), &chatv1.HistoryRequest{UserId: tc.user, RoomId: tc.room, Limit: tc.limit})
			wantCode(t, err, tc.code)
		})
	}
}

func TestSubscribeReplayThenLive(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby")
	for i := 1; i <= 5; i++ {
		h.send("alice", room.GetId(), fmt.Sprint("c", i), fmt.Sprint("text ", i))
	}
	tests := []struct {
		name   string
		after  uint64
		epoch  string
		replay []uint64
	}{
		{"from the start", 0, "", seqRange(1, 5)},
		{"from the middle", 2, "", seqRange(3, 5)},
		{"from the middle with epoch", 2, room.GetEpoch(), seqRange(3, 5)},
		{"from the end", 5, room.GetEpoch(), nil},
	}
	var streams []subStream
	for _, tc := range tests {
		s, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room.GetId(), AfterSeq: tc.after, Epoch: tc.epoch})
		replay, caughtUp := recvCaughtUp(t, s)
		if !equalSeqs(replay, tc.replay) {
			t.Errorf("%s: replayed %v, want %v", tc.name, replay, tc.replay)
		}
		if caughtUp != 5 {
			t.Errorf("%s: CaughtUp = %d, want 5", tc.name, caughtUp)
		}
		streams = append(streams, s)
	}
	// Live messages follow on every stream, in order, with text and epoch.
	for i := 6; i <= 8; i++ {
		h.send("alice", room.GetId(), fmt.Sprint("c", i), fmt.Sprint("text ", i))
	}
	for j, s := range streams {
		for want := uint64(6); want <= 8; want++ {
			m := recvMessage(t, s)
			if m.GetSeq() != want || m.GetText() != fmt.Sprint("text ", want) || m.GetEpoch() != room.GetEpoch() || m.GetUserName() != "Alice Liddell" {
				t.Fatalf("%s: live message = %v, want seq %d", tests[j].name, m, want)
			}
		}
	}
}

func TestSubscribeErrors(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby")
	h.send("alice", room.GetId(), "c1", "one")
	h.openRoom("alice", "secret", "Hidden")
	tests := []struct {
		name string
		req  *chatv1.SubscribeRequest
		code codes.Code
	}{
		{"epoch mismatch", &chatv1.SubscribeRequest{UserId: "bob", RoomId: room.GetId(), Epoch: "0123456789abcdef"}, codes.Aborted},
		{"after_seq beyond last", &chatv1.SubscribeRequest{UserId: "bob", RoomId: room.GetId(), AfterSeq: 2}, codes.InvalidArgument},
		{"after_seq far beyond last", &chatv1.SubscribeRequest{UserId: "bob", RoomId: room.GetId(), AfterSeq: ^uint64(0)}, codes.InvalidArgument},
		{"no view", &chatv1.SubscribeRequest{UserId: "carol", RoomId: room.GetId()}, codes.PermissionDenied},
		{"no view on a missing room", &chatv1.SubscribeRequest{UserId: "bob", RoomId: "secret.nope"}, codes.PermissionDenied},
		{"no view beats bad epoch", &chatv1.SubscribeRequest{UserId: "bob", RoomId: "secret.hidden", Epoch: "x"}, codes.PermissionDenied},
		{"missing room", &chatv1.SubscribeRequest{UserId: "bob", RoomId: "p1.nope"}, codes.NotFound},
		{"malformed room", &chatv1.SubscribeRequest{UserId: "bob", RoomId: "p1.Lobby"}, codes.InvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s, _ := subscribe(t, h.c, tc.req)
			ev, err := s.Recv()
			if err == nil {
				t.Fatalf("stream opened (first event %v), want %v", ev, tc.code)
			}
			wantCode(t, err, tc.code)
		})
	}
}

// TestSubscribeHandOver is the no-gap-no-duplicate test: subscribers start
// before and while four senders store 400 messages, and each must see
// exactly seqs 1..400 in order, whatever part came from storage and
// whatever from the live fan-out.
func TestSubscribeHandOver(t *testing.T) {
	t.Parallel()
	const (
		senders   = 4
		perSender = 100
		total     = senders * perSender
	)
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Busy").GetId()

	type seen struct {
		seqs     []uint64
		cids     map[uint64]string
		caughtUp uint64
		markerAt int // index into seqs where CaughtUp arrived
		err      error
	}
	// collect reads s until it has seen seq total (or fails).
	collect := func(s subStream) seen {
		out := seen{cids: make(map[uint64]string), markerAt: -1}
		for len(out.seqs) == 0 || out.seqs[len(out.seqs)-1] < total {
			ev, err := s.Recv()
			if err != nil {
				out.err = fmt.Errorf("after %d messages: %w", len(out.seqs), err)
				return out
			}
			switch e := ev.GetEvent().(type) {
			case *chatv1.RoomEvent_Message:
				out.seqs = append(out.seqs, e.Message.GetSeq())
				out.cids[e.Message.GetSeq()] = e.Message.GetClientId()
			case *chatv1.RoomEvent_CaughtUp:
				if out.markerAt >= 0 {
					out.err = fmt.Errorf("second CaughtUp at %d", len(out.seqs))
					return out
				}
				out.caughtUp, out.markerAt = e.CaughtUp, len(out.seqs)
			}
		}
		return out
	}

	// The first subscriber is fully established before sending starts.
	early, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	if replay, caughtUp := recvCaughtUp(t, early); len(replay) != 0 || caughtUp != 0 {
		t.Fatalf("empty room replayed %v, CaughtUp %d", replay, caughtUp)
	}
	// Later subscribers start (from 0) once that many sends have returned.
	// 270 is past one replay page (256), so the replay spans pages.
	thresholds := []int64{1, 130, 270}
	// Both maps are complete before any goroutine reads them.
	results := map[string]chan seen{"early": make(chan seen, 1)}
	trigger := make(map[int64]chan struct{})
	for _, th := range thresholds {
		trigger[th] = make(chan struct{})
		results[fmt.Sprint("after ", th)] = make(chan seen, 1)
	}

	earlyDone := results["early"]
	go func() {
		r := collect(early)
		earlyDone <- r
	}()
	for _, th := range thresholds {
		start, done := trigger[th], results[fmt.Sprint("after ", th)]
		go func() {
			select {
			case <-start:
			case <-time.After(testTimeout):
				done <- seen{err: fmt.Errorf("never triggered")}
				return
			}
			sctx, cancel := context.WithTimeout(context.Background(), testTimeout)
			defer cancel()
			s, err := h.c.Subscribe(sctx, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
			if err != nil {
				done <- seen{err: err}
				return
			}
			r := collect(s)
			if r.err == nil && r.caughtUp < uint64(th) {
				r.err = fmt.Errorf("CaughtUp %d, but %d messages were committed before subscribing", r.caughtUp, th)
			}
			if r.err == nil && (r.markerAt < 0 || uint64(r.markerAt) != r.caughtUp) {
				r.err = fmt.Errorf("CaughtUp %d arrived after %d messages", r.caughtUp, r.markerAt)
			}
			done <- r
		}()
	}

	var sent atomic.Int64
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		sentCIDs = make(map[uint64]string, total)
		sendErr  atomic.Value
	)
	for w := range senders {
		wg.Go(func() {
			var prev uint64
			for i := range perSender {
				cid := fmt.Sprintf("w%d-%d", w, i)
				resp, err := h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: "alice", RoomId: room, ClientId: cid, Text: cid})
				if err != nil {
					sendErr.Store(err)
					return
				}
				seq := resp.GetMessage().GetSeq()
				if seq <= prev {
					sendErr.Store(fmt.Errorf("sender %d: seq %d after %d", w, seq, prev))
				}
				prev = seq
				mu.Lock()
				sentCIDs[seq] = cid
				mu.Unlock()
				if ch, ok := trigger[sent.Add(1)]; ok {
					close(ch)
				}
			}
		})
	}
	wg.Wait()
	if err := sendErr.Load(); err != nil {
		t.Fatalf("send: %v", err)
	}
	if len(sentCIDs) != total {
		t.Fatalf("%d sends got %d distinct seqs", total, len(sentCIDs))
	}

	want := seqRange(1, total)
	for name, ch := range results {
		var r seen
		select {
		case r = <-ch:
		case <-time.After(testTimeout):
			t.Fatalf("%s: subscriber did not finish", name)
		}
		if r.err != nil {
			t.Errorf("%s: %v", name, r.err)
			continue
		}
		if !equalSeqs(r.seqs, want) {
			t.Errorf("%s: got %s, want exactly 1..%d once each in order", name, shortSeqs(r.seqs), total)
			continue
		}
		for seq, cid := range sentCIDs {
			if r.cids[seq] != cid {
				t.Errorf("%s: seq %d has client id %q, sender got %q", name, seq, r.cids[seq], cid)
				break
			}
		}
	}
}

func TestSubscribeRevokedView(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	watcher, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "alice", RoomId: room})
	recvCaughtUp(t, watcher)
	bobStream, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	recvCaughtUp(t, bobStream)
	if p := recvPresence(t, watcher, "bob"); !p.GetOnline() {
		t.Fatalf("bob's presence = %v, want online", p)
	}
	h.send("alice", room, "c1", "before")
	if m := recvMessage(t, bobStream); m.GetSeq() != 1 {
		t.Fatalf("bob got %v before revocation", m)
	}

	h.host.revoke("bob", "p1", view)
	revoked := time.Now()
	ended := make(chan error, 1)
	go func() { ended <- recvErr(bobStream) }()
	var err error
	select {
	case err = <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after view was revoked")
	}
	elapsed := time.Since(revoked)
	wantCode(t, err, codes.PermissionDenied)
	// The cache is 100 ms; revocation must cut the stream within the cache
	// window. 2 s is a generous bound for a loaded machine, not a timing
	// measurement.
	if elapsed > 2*time.Second {
		t.Errorf("stream cut %v after revocation, want well under 2s", elapsed)
	}
	// Bob went offline, alice's stream lives on.
	if p := recvPresence(t, watcher, "bob"); p.GetOnline() {
		t.Fatalf("bob's presence after revocation = %v, want offline", p)
	}
	h.send("alice", room, "c2", "after")
	if m := recvMessage(t, watcher); m.GetSeq() != 2 {
		t.Fatalf("watcher got %v, want seq 2", m)
	}
	// And bob cannot come back.
	again, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	_, err = again.Recv()
	wantCode(t, err, codes.PermissionDenied)
}

// participantsState renders participants as "id:name:online" for comparison.
func participantsState(ps []*chatv1.Participant) string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s:%s:%v", p.GetUserId(), p.GetDisplayName(), p.GetOnline()))
	}
	return strings.Join(out, ",")
}

func TestPresence(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	c := testCtx(t)
	rt := h.rt()

	presence := func() string {
		t.Helper()
		resp, err := h.c.Presence(c, &chatv1.PresenceRequest{UserId: "alice", RoomId: room})
		if err != nil {
			t.Fatalf("Presence: %v", err)
		}
		return participantsState(resp.GetParticipants())
	}
	roomInfo := func() string {
		t.Helper()
		resp, err := h.c.RoomInfo(c, &chatv1.RoomInfoRequest{UserId: "bob", RoomId: room})
		if err != nil {
			t.Fatalf("RoomInfo: %v", err)
		}
		return participantsState(resp.GetRoom().GetParticipants())
	}
	check := func(step, want string) {
		t.Helper()
		if got := presence(); got != want {
			t.Errorf("%s: Presence = %s, want %s", step, got, want)
		}
		if got := roomInfo(); got != want {
			t.Errorf("%s: RoomInfo participants = %s, want %s", step, got, want)
		}
	}
	// waitCount waits until the server counts n presences (streams and
	// joins) of user in the room: once it does, whatever presence event
	// that change caused has been published.
	waitCount := func(user string, n int) {
		t.Helper()
		waitFor(t, fmt.Sprintf("%d presences of %s", n, user), func() bool {
			p := localPresence(rt)
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.rooms[room][user] == n
		})
	}
	// nextIsMessage asserts no presence event is pending on s: it sends a
	// message and requires it to be the very next event.
	var nextCID atomic.Int64
	nextIsMessage := func(s subStream) {
		t.Helper()
		resp := h.send("alice", room, fmt.Sprint("probe-", nextCID.Add(1)), "probe")
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if ev.GetMessage().GetSeq() != resp.GetMessage().GetSeq() {
			t.Fatalf("next event = %v, want message %d (no presence change)", ev, resp.GetMessage().GetSeq())
		}
	}

	check("empty room", "")

	watch, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "alice", RoomId: room})
	recvCaughtUp(t, watch)
	check("alice streaming", "alice:Alice Liddell:true")

	// A second user's stream: online on the first user's stream.
	bob1, cancelBob1 := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	recvCaughtUp(t, bob1)
	if p := recvPresence(t, watch, "bob"); !p.GetOnline() || p.GetDisplayName() != "Bob Builder" || p.GetLastSeen() == nil {
		t.Fatalf("bob's presence = %v, want online as Bob Builder", p)
	}
	check("bob streaming", "alice:Alice Liddell:true,bob:Bob Builder:true")

	// A second stream of the same user is no news, and closing one of two
	// does not take him offline.
	bob2, cancelBob2 := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	recvCaughtUp(t, bob2)
	waitCount("bob", 2)
	nextIsMessage(watch)
	cancelBob1()
	waitCount("bob", 1)
	nextIsMessage(watch)
	check("bob on one stream", "alice:Alice Liddell:true,bob:Bob Builder:true")

	// Closing his last stream does.
	cancelBob2()
	if p := recvPresence(t, watch, "bob"); p.GetOnline() {
		t.Fatalf("bob's presence after closing = %v, want offline", p)
	}
	check("bob gone", "alice:Alice Liddell:true,bob:Bob Builder:false")

	// Join and Leave count like streams.
	join, err := h.c.Join(c, &chatv1.JoinRequest{UserId: "ghost", RoomId: room})
	if err != nil {
		t.Fatalf("Join: %v", err)
	}
	if got, want := participantsState(join.GetParticipants()), "alice:Alice Liddell:true,bob:Bob Builder:false,ghost:ghost:true"; got != want {
		t.Errorf("Join participants = %s, want %s", got, want)
	}
	if p := recvPresence(t, watch, "ghost"); !p.GetOnline() {
		t.Fatalf("ghost's presence after Join = %v", p)
	}
	if _, err := h.c.Leave(c, &chatv1.LeaveRequest{UserId: "ghost", RoomId: room}); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if p := recvPresence(t, watch, "ghost"); p.GetOnline() {
		t.Fatalf("ghost's presence after Leave = %v", p)
	}
	// A Leave without a Join changes nothing.
	if _, err := h.c.Leave(c, &chatv1.LeaveRequest{UserId: "ghost", RoomId: room}); err != nil {
		t.Fatalf("second Leave: %v", err)
	}
	nextIsMessage(watch)
	check("ghost left", "alice:Alice Liddell:true,bob:Bob Builder:false,ghost:ghost:false")

	// Presence needs view; Join too.
	_, err = h.c.Presence(c, &chatv1.PresenceRequest{UserId: "carol", RoomId: room})
	wantCode(t, err, codes.PermissionDenied)
	_, err = h.c.Join(c, &chatv1.JoinRequest{UserId: "carol", RoomId: room})
	wantCode(t, err, codes.PermissionDenied)
	_, err = h.c.RoomInfo(c, &chatv1.RoomInfoRequest{UserId: "carol", RoomId: room})
	wantCode(t, err, codes.PermissionDenied)
	_, err = h.c.Join(c, &chatv1.JoinRequest{UserId: "bob", RoomId: "p1.nope"})
	wantCode(t, err, codes.NotFound)
	check("after refused calls", "alice:Alice Liddell:true,bob:Bob Builder:false,ghost:ghost:false")
}

// TestSlowConsumer opens a stream whose client stops reading while
// messages pour in. The plugin must cut it (ResourceExhausted, naming the
// sequence to resume after) instead of buffering without bound or slowing
// senders, and a resume from that sequence must get exactly the rest.
func TestSlowConsumer(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.SubscriberBuffer = 8 })
	room := h.openRoom("alice", "p1", "Firehose").GetId()
	rt := h.rt()

	// The stuck stream gets its own connection with fixed 64 KiB flow
	// control windows (no BDP growth), so gRPC stops accepting its
	// messages after a bounded amount and the hub buffer must overflow.
	stuck := h.client(grpc.WithInitialWindowSize(64<<10), grpc.WithInitialConnWindowSize(64<<10))
	stream, _ := subscribe(t, stuck, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	recvCaughtUp(t, stream) // established; from here on nobody reads it
	if n := rt.hub.Subscribers(room); n != 1 {
		t.Fatalf("room has %d subscribers, want 1", n)
	}

	const maxMessages = 5000
	text := strings.Repeat("x", 4<<10)
	var (
		sent    atomic.Int64
		sendErr atomic.Value
		wg      sync.WaitGroup
		stop    = make(chan struct{})
	)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if sent.Load() >= maxMessages {
					return
				}
				if _, err := h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: "alice", RoomId: room, ClientId: fmt.Sprintf("w%d-%d", w, i), Text: text}); err != nil {
					sendErr.Store(err)
					return
				}
				sent.Add(1)
			}
		})
	}
	sendersDone := make(chan struct{})
	go func() { wg.Wait(); close(sendersDone) }()
	// Wait until the hub has cut the stuck subscriber, or the senders gave up.
	cut := false
	for !cut {
		select {
		case <-sendersDone:
			cut = rt.hub.Subscribers(room) == 0
			if !cut {
				t.Fatalf("stream not cut after %d messages (err %v)", sent.Load(), sendErr.Load())
			}
		case <-time.After(2 * time.Millisecond):
			cut = rt.hub.Subscribers(room) == 0
		}
	}
	close(stop)
	<-sendersDone
	if err := sendErr.Load(); err != nil {
		t.Fatalf("Send while a subscriber was stuck: %v", err)
	}
	total := h.lastSeq(room)
	t.Logf("cut after about %d of %d messages", sent.Load(), total)

	// Now read the stuck stream: a gap-free prefix, then the cut.
	var got []uint64
	var err error
	for {
		var ev *chatv1.RoomEvent
		if ev, err = stream.Recv(); err != nil {
			break
		}
		if m := ev.GetMessage(); m != nil {
			got = append(got, m.GetSeq())
		}
	}
	wantCode(t, err, codes.ResourceExhausted)
	k := uint64(len(got))
	if k == 0 || k >= total || !equalSeqs(got, seqRange(1, k)) {
		t.Fatalf("stuck stream delivered %s of %d before the cut, want a non-empty prefix 1..k", shortSeqs(got), total)
	}
	if msg := status.Convert(err).Message(); !strings.Contains(msg, fmt.Sprint("sequence ", k)) {
		t.Fatalf("cut message %q does not name sequence %d to resume after", msg, k)
	}

	// Resuming from there yields exactly the rest.
	resumed, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room, AfterSeq: k})
	rest, caughtUp := recvCaughtUp(t, resumed)
	if caughtUp != total || !equalSeqs(rest, seqRange(k+1, total)) {
		t.Fatalf("resume after %d got %s, CaughtUp %d; want %d..%d", k, shortSeqs(rest), caughtUp, k+1, total)
	}
}

func TestRenderMacro(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	// A room with history and a participant whose name needs escaping.
	h.host.addUser("mallory", `<img src=x onerror=alert(2)>`)
	h.host.allow("mallory", "p1", view, post)
	lobby := h.openRoom("alice", "p1", "Lobby").GetId()
	h.send("alice", lobby, "c1", "hi")
	h.send("mallory", lobby, "c2", "hi")
	secret := h.openRoom("alice", "secret", "Secret Plans").GetId()
	h.send("alice", secret, "c1", "the plan")
	rooms := h.roomCount()

	tests := []struct {
		name       string
		req        *chatv1.RenderMacroRequest
		wantRoomID string
		contains   []string
		excludes   []string
		newRoom    bool
	}{
		{
			name:       "table with escaped room name",
			req:        &chatv1.RenderMacroRequest{UserId: "bob", PageId: "p1", Name: "<script>alert(1)</script> room"},
			wantRoomID: "p1.script-alert-1-script-room",
			contains: []string{
				`class="pagechat-room"`, `data-room="p1.script-alert-1-script-room"`,
				"&lt;script&gt;alert(1)&lt;/script&gt; room",
				`href="/chat/rooms/p1.script-alert-1-script-room"`,
			},
			excludes: []string{"<script", "pagechat-error", "pagechat-denied"},
			newRoom:  true,
		},
		{
			name:       "participants and activity, names escaped",
			req:        &chatv1.RenderMacroRequest{UserId: "bob", PageId: "p1", Name: "lobby", ChatUrlPrefix: "/wiki/chat/"},
			wantRoomID: lobby,
			contains:   []string{"Lobby", "Alice Liddell", "&lt;img src=x onerror=alert(2)&gt;", `href="/wiki/chat/rooms/p1.lobby"`, "<time datetime="},
			excludes:   []string{"<img", "pagechat-error", "pagechat-denied"},
		},
		{
			name:     "viewer without view",
			req:      &chatv1.RenderMacroRequest{UserId: "bob", PageId: "secret", Name: "Secret Plans"},
			contains: []string{"pagechat-denied"},
			excludes: []string{"Secret Plans", "secret-plans", "Alice", "the plan", "<table", "href="},
		},
		{
			name:     "viewer without view, room not created",
			req:      &chatv1.RenderMacroRequest{UserId: "carol", PageId: "p1", Name: "Brand New"},
			contains: []string{"pagechat-denied"},
			excludes: []string{"Brand New", "brand-new", "<table"},
		},
		{
			name:     "punctuation-only name",
			req:      &chatv1.RenderMacroRequest{UserId: "alice", PageId: "p1", Name: "!!!"},
			contains: []string{"pagechat-error", "letter or digit"},
			excludes: []string{"<table"},
		},
		{
			name:     "empty name",
			req:      &chatv1.RenderMacroRequest{UserId: "alice", PageId: "p1", Name: "  "},
			contains: []string{"pagechat-error"},
			excludes: []string{"<table"},
		},
		{
			name:     "name too long",
			req:      &chatv1.RenderMacroRequest{UserId: "alice", PageId: "p1", Name: strings.Repeat("n", 201)},
			contains: []string{"pagechat-error", "longer than 200"},
			excludes: []string{"<table"},
		},
		{
			// A bad name is the author's error whoever views the page.
			name:     "bad name, viewer without view",
			req:      &chatv1.RenderMacroRequest{UserId: "carol", PageId: "p1", Name: "..."},
			contains: []string{"pagechat-error"},
			excludes: []string{"<table"},
		},
		{
			name:     "bad name with markup is escaped",
			req:      &chatv1.RenderMacroRequest{UserId: "alice", PageId: "p1", Name: strings.Repeat("<b>", 70)},
			contains: []string{"pagechat-error"},
			excludes: []string{"<b>", "<table"},
		},
	}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				resp, err := h.c.RenderMacro(testCtx(t), tc.req)
				if err != nil {
					t.Fatalf("RenderMacro: %v (bad macros and denied viewers must render, not fail)", err)
				}
				html := resp.GetHtml()
				if resp.GetRoomId() != tc.wantRoomID {
					t.Errorf("RoomId = %q, want %q", resp.GetRoomId(), tc.wantRoomID)
				}
				for _, s := range tc.contains {
					if !strings.Contains(html, s) {
						t.Errorf("html lacks %q:\n%s", s, html)
					}
				}
				for _, s := range tc.excludes {
					if strings.Contains(html, s) {
						t.Errorf("html contains %q:\n%s", s, html)
					}
				}
			})
		}
	})
	// Only the renders that showed a table created a room.
	want := rooms
	for _, tc := range tests {
		if tc.newRoom {
			want++
		}
	}
	if got := h.roomCount(); got != want {
		t.Errorf("room count after renders = %d, want %d", got, want)
	}
}

func TestRenderMacroHostDown(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	h.host.failPerm("alice", status.Error(codes.Unavailable, "host restarting"))
	// A host failure is not a denial: it must not render as "denied".
	_, err := h.c.RenderMacro(testCtx(t), &chatv1.RenderMacroRequest{UserId: "alice", PageId: "p1", Name: "Lobby"})
	wantCode(t, err, codes.Unavailable)
}

func TestShutdown(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	h.send("alice", room, "c1", "hi")
	stream, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	recvCaughtUp(t, stream)

	if _, err := h.c.Shutdown(testCtx(t), &chatv1.ShutdownRequest{}); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wantCode(t, recvErr(stream), codes.Unavailable)

	calls := append(roomCalls(room),
		rpcCall{"Configure", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.Configure(ctx, h.configReq())
			return err
		}},
		rpcCall{"Health", func(ctx context.Context, c chatv1.ChatPluginClient) error {
			_, err := c.Health(ctx, &chatv1.HealthRequest{})
			return err
		}},
	)
	for _, call := range calls {
		t.Run(call.name, func(t *testing.T) {
			t.Parallel()
			wantCode(t, call.do(testCtx(t), h.c), codes.Unavailable)
		})
	}
	t.Run("Shutdown again", func(t *testing.T) {
		t.Parallel()
		if _, err := h.c.Shutdown(testCtx(t), &chatv1.ShutdownRequest{}); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
	})
}

func TestShutdownBeforeConfigure(t *testing.T) {
	t.Parallel()
	h := newHarness(t)
	for range 2 {
		if _, err := h.c.Shutdown(testCtx(t), &chatv1.ShutdownRequest{}); err != nil {
			t.Fatalf("Shutdown of an unconfigured plugin: %v", err)
		}
	}
	_, err := h.c.Configure(testCtx(t), h.configReq())
	wantCode(t, err, codes.Unavailable)
	h.dialMu.Lock()
	defer h.dialMu.Unlock()
	if len(h.dialedIDs) != 0 {
		t.Errorf("Configure after Shutdown dialed the host")
	}
}

// TestShutdownWithSendsInFlight shuts down while senders and streams are
// busy: every send either succeeds with a seq that is then stored, or fails
// with Unavailable; nothing hangs.
func TestShutdownWithSendsInFlight(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	h := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.DataDir = dir })
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	streams := make([]subStream, 3)
	for i := range streams {
		streams[i], _ = subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
		recvCaughtUp(t, streams[i])
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked = make(map[uint64]string)
		bad   []error
	)
	started := make(chan struct{}, 4)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				cid := fmt.Sprintf("w%d-%d", w, i)
				resp, err := h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: "alice", RoomId: room, ClientId: cid, Text: cid})
				if i == 5 {
					started <- struct{}{}
				}
				mu.Lock()
				if err == nil {
					acked[resp.GetMessage().GetSeq()] = cid
				} else if status.Code(err) != codes.Unavailable {
					bad = append(bad, err)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	for range 4 {
		<-started
	}
	if _, err := h.c.Shutdown(testCtx(t), &chatv1.ShutdownRequest{}); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	for _, s := range streams {
		wantCode(t, recvErr(s), codes.Unavailable)
	}
	if len(bad) > 0 {
		t.Fatalf("sends failed with other codes than Unavailable: %v", bad)
	}

	// Everything acknowledged was stored, under the acknowledged seq.
	again := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.DataDir = dir })
	hist := again.history("alice", room, 0, limits.MaxHistoryPage)
	stored := make(map[uint64]string)
	for _, m := range hist.GetMessages() {
		stored[m.GetSeq()] = m.GetClientId()
	}
	for seq, cid := range acked {
		if stored[seq] != cid {
			t.Errorf("acknowledged seq %d (%s) stored as %q", seq, cid, stored[seq])
		}
	}
	if got := seqsOf(hist.GetMessages()); !equalSeqs(got, seqRange(1, uint64(len(got)))) {
		t.Errorf("stored seqs have gaps: %s", shortSeqs(got))
	}
}

// TestNoGoroutineLeak is not parallel, so while it runs the only other
// goroutines are those present at its start (paused parallel tests, the
// runtime); goleak ignores those and fails on anything the plugin,
// its streams, the store or gRPC left behind after Shutdown.
func TestNoGoroutineLeak(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	// Registered first, so it runs after every other cleanup (servers
	// stopped, connections closed).
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	var streams []subStream
	for _, user := range []string{"alice", "bob", "bob", "ghost"} {
		s, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: user, RoomId: room})
		recvCaughtUp(t, s)
		streams = append(streams, s)
	}
	// One stream the client never reads, left to be cut by shutdown.
	stuck := h.client()
	if _, err := stuck.Subscribe(testCtx(t), &chatv1.SubscribeRequest{UserId: "bob", RoomId: room}); err != nil {
		t.Fatal(err)
	}
	sendMany(t, h, "alice", room, 40, 4)
	if _, err := h.c.Shutdown(testCtx(t), &chatv1.ShutdownRequest{}); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for _, s := range streams {
		wantCode(t, recvErr(s), codes.Unavailable)
	}
}

func TestSendRendersHTML(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	resp := h.send("alice", room, "c1", `<b>bold</b> see [Home] & "quotes"`)
	got := resp.GetMessage().GetHtml()
	for _, want := range []string{"&lt;b&gt;bold&lt;/b&gt;", `href="/pages/home"`, "&amp;"} {
		if !strings.Contains(got, want) {
			t.Errorf("html %q lacks %q", got, want)
		}
	}
	if strings.Contains(got, "<b>") {
		t.Errorf("html %q passes user markup through", got)
	}
	// History and streams carry the same bytes.
	if h := h.history("bob", room, 0, 0).GetMessages()[0].GetHtml(); h != got {
		t.Errorf("history html %q differs from send html %q", h, got)
	}
	s, _ := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	if m := recvMessage(t, s); m.GetHtml() != got || m.GetText() != resp.GetMessage().GetText() {
		t.Errorf("streamed message %v differs from the sent one", m)
	}
}

// TestSendResolvesLinksAsSender covers finding #10: a wiki link is resolved
// as the message's sender, so a page the sender may not view renders
// exactly like a missing page, while a sender who may view it gets a live
// link. The stored HTML is what history and transcripts show.
func TestSendResolvesLinksAsSender(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	h.host.mu.Lock()
	h.host.users["dave"] = "Dave"
	h.host.mu.Unlock()
	h.host.set("dave", "p1", true, hostv1.Permission_PERMISSION_VIEW, hostv1.Permission_PERMISSION_POST)
	room := h.openRoom("alice", "p1", "Lobby").GetId()

	missing := h.send("dave", room, "d1", "[No Such Page]").GetMessage().GetHtml()
	tests := []struct {
		user     string
		wantLive bool
	}{
		{"alice", true}, // may view page "secret"
		{"dave", false}, // may not
	}
	for i, tc := range tests {
		h.host.mu.Lock()
		h.host.resolved = nil
		h.host.mu.Unlock()
		got := h.send(tc.user, room, fmt.Sprintf("s%d", i), "[Secret Page]").GetMessage().GetHtml()
		h.host.mu.Lock()
		resolved := slices.Clone(h.host.resolved)
		h.host.mu.Unlock()
		if !slices.Equal(resolved, []string{tc.user}) {
			t.Errorf("%s: host resolved the link for %q, want the sender", tc.user, resolved)
		}
		if live := strings.Contains(got, "/pages/secret"); live != tc.wantLive {
			t.Errorf("%s: html %q: live link %v, want %v", tc.user, got, live, tc.wantLive)
		}
		if !tc.wantLive {
			// Byte for byte what an unknown title gives, apart from the
			// title itself.
			want := strings.ReplaceAll(missing, "No+Such+Page", "Secret+Page")
			want = strings.ReplaceAll(want, "No Such Page", "Secret Page")
			if got != want {
				t.Errorf("%s: html %q differs from a missing page's %q", tc.user, got, want)
			}
		}
	}
}

// TestOpenRoomUnicodeNames covers finding #14: names in other scripts open
// rooms of their own, names that differ only in non-ASCII letters are
// different rooms, and a room created under the old ASCII-only slug keeps
// its id for the name that created it, but not for another name that the
// old rule happened to merge with it.
func TestOpenRoomUnicodeNames(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	ctx := testCtx(t)
	// Rooms as the old rule stored them: "Δ Room" took "room", "Café" "caf".
	for _, r := range []store.Room{
		{ID: "p1.room", PageID: "p1", Name: "Δ Room", Slug: "room"},
		{ID: "p1.caf", PageID: "p1", Name: "Café", Slug: "caf"},
	} {
		if _, err := h.rt().store.CreateRoom(ctx, r); err != nil {
			t.Fatalf("seed %s: %v", r.ID, err)
		}
	}
	h.send("alice", "p1.room", "old", "from before the upgrade")

	tests := []struct{ name, wantID, wantName string }{
		{"日本語", "p1.日本語", "日本語"},
		{"Привет", "p1.привет", "Привет"},
		{"Δ Room", "p1.room", "Δ Room"},   // its legacy room, messages and all
		{"Ω Room", "p1.ω-room", "Ω Room"}, // not the room "Δ Room" took
		{"Café", "p1.caf", "Café"},
		{"café", "p1.café", "café"}, // the legacy room's stored name differs
		{"Cafe\u0301", "p1.café", "café"},
		{"My Room Name", "p1.my-room-name", "My Room Name"},
	}
	for _, tc := range tests {
		room := h.openRoom("alice", "p1", tc.name)
		if room.GetId() != tc.wantID || room.GetName() != tc.wantName {
			t.Errorf("OpenRoom(%q) = %q named %q, want %q named %q", tc.name, room.GetId(), room.GetName(), tc.wantID, tc.wantName)
		}
	}
	if got := h.lastSeq("p1.room"); got != 1 {
		t.Errorf("legacy room last seq = %d, want 1", got)
	}
	// A Unicode room id works for every later call, not only OpenRoom.
	h.send("alice", "p1.ω-room", "c1", "hello")
	if got := h.lastSeq("p1.ω-room"); got != 1 {
		t.Errorf("ω-room last seq = %d, want 1", got)
	}
	// Reopening, by another user, finds the legacy room again.
	if got := h.openRoom("bob", "p1", "Δ Room").GetId(); got != "p1.room" {
		t.Errorf("reopening Δ Room gave %q", got)
	}

	_, err := h.c.OpenRoom(ctx, &chatv1.OpenRoomRequest{UserId: "alice", PageId: "p1", Name: "— ★ —"})
	wantCode(t, err, codes.InvalidArgument)
}

// A message's wiki links are resolved in one round trip to the host, not
// one per link in series (finding #7: 2,700 links took 0.5 s to send).
func TestSendResolvesAllLinksInOneCall(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()

	html := h.send("alice", room, "links-1", "[Home] [A] [B] [Home] [C] [label|D] [B]").GetMessage().GetHtml()

	h.host.mu.Lock()
	batches := slices.Clone(h.host.linkBatches)
	resolved := len(h.host.resolved)
	h.host.mu.Unlock()
	want := [][]string{{"Home", "A", "B", "C", "D"}}
	if !slices.EqualFunc(batches, want, slices.Equal[[]string]) {
		t.Fatalf("ResolveLinks calls %q, want one call %q", batches, want)
	}
	if resolved != 5 {
		t.Errorf("host resolved %d titles, want the 5 distinct ones once each", resolved)
	}
	if !strings.Contains(html, `href="/pages/home"`) {
		t.Errorf("html %q lacks the resolved Home link", html)
	}
}

// localPresence returns the single-node presence counter of rt.
func localPresence(rt *runtime) *presence { return rt.presence.(*presence) }
