package server

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/pagechat/pagechat/internal/testutil"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// This file holds the in-process test bed: the chat Server on a real
// grpc.Server, a fake HostAPI on another, both over bufconn, wired the way
// go-plugin wires them (Configure dials the host by broker id).

const (
	view = hostv1.Permission_PERMISSION_VIEW
	post = hostv1.Permission_PERMISSION_POST

	// testBrokerID is what the tests pass as HostBrokerId; dialHost checks
	// it arrives unchanged.
	testBrokerID = 1
	// testPermCacheMs is the permission cache the harness configures.
	testPermCacheMs = 100
	// bufSize is each bufconn pipe's buffer. Small, so that a stream whose
	// client does not read backs up quickly (see TestSlowConsumer).
	bufSize = 64 << 10
	// testTimeout bounds each test's RPCs. It is a hang detector; healthy
	// runs take a fraction of it.
	testTimeout = 30 * time.Second
)

type fakePermKey struct {
	user, page string
	perm       hostv1.Permission
}

// fakeHost is a HostAPI with a mutable permission table and user directory.
type fakeHost struct {
	hostv1.UnimplementedHostAPIServer

	mu       sync.Mutex
	perms    map[fakePermKey]bool
	users    map[string]string // user id -> display name
	userErrs map[string]error  // GetUser fails for these users
	permErrs map[string]error  // CheckPermission fails for these users
	attached int               // files stored through AttachFile
	lastSum  []byte            // SHA-256 of the last file AttachFile stored
	resolved []string          // user id of each link resolved, in order
	// linkBatches holds the titles of each ResolveLinks call, in order.
	linkBatches [][]string
	// removesFiles makes DeleteFile work (else Unimplemented, as for a
	// host without it); removed records its calls.
	removesFiles bool
	removed      []string
	// attachArrived, when set, receives once per AttachFile that has
	// read its file, which then waits for attachHold to close before it
	// answers: so a test can hold uploads between attach and append.
	attachArrived chan struct{}
	attachHold    chan struct{}
	// notifyState is what notify_test.go's Notify, GetPage and
	// SearchUsers keep.
	notifyState
}

func newFakeHost() *fakeHost {
	return &fakeHost{
		perms:    make(map[fakePermKey]bool),
		users:    make(map[string]string),
		userErrs: make(map[string]error),
		permErrs: make(map[string]error),
	}
}

func (h *fakeHost) set(user, page string, allowed bool, perms ...hostv1.Permission) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range perms {
		h.perms[fakePermKey{user, page, p}] = allowed
	}
}

func (h *fakeHost) allow(user, page string, perms ...hostv1.Permission) {
	h.set(user, page, true, perms...)
}

func (h *fakeHost) revoke(user, page string, perms ...hostv1.Permission) {
	h.set(user, page, false, perms...)
}

func (h *fakeHost) addUser(id, name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.users[id] = name
}

func (h *fakeHost) failUser(id string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.userErrs[id] = err
}

func (h *fakeHost) failPerm(id string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.permErrs[id] = err
}

func (h *fakeHost) CheckPermission(_ context.Context, req *hostv1.CheckPermissionRequest) (*hostv1.CheckPermissionResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.permErrs[req.GetUserId()]; err != nil {
		return nil, err
	}
	return &hostv1.CheckPermissionResponse{Allowed: h.perms[fakePermKey{req.GetUserId(), req.GetPageId(), req.GetPermission()}]}, nil
}

func (h *fakeHost) GetUser(_ context.Context, req *hostv1.GetUserRequest) (*hostv1.GetUserResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err := h.userErrs[req.GetUserId()]; err != nil {
		return nil, err
	}
	name, ok := h.users[req.GetUserId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no user %q", req.GetUserId())
	}
	return &hostv1.GetUserResponse{User: &hostv1.User{Id: req.GetUserId(), DisplayName: name}}, nil
}

// ResolveLink knows "Home", which anyone may view, and "Secret Page" (page
// "secret"), which resolves only for users with view permission on it, as
// a real host must do.
func (h *fakeHost) ResolveLink(_ context.Context, req *hostv1.ResolveLinkRequest) (*hostv1.ResolveLinkResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.resolved = append(h.resolved, req.GetUserId())
	switch {
	case req.GetTitle() == "Home":
		return &hostv1.ResolveLinkResponse{Exists: true, Url: "/pages/home"}, nil
	case req.GetTitle() == "Secret Page" && h.perms[fakePermKey{req.GetUserId(), "secret", hostv1.Permission_PERMISSION_VIEW}]:
		return &hostv1.ResolveLinkResponse{Exists: true, Url: "/pages/secret"}, nil
	}
	return &hostv1.ResolveLinkResponse{Exists: false, Url: "/pages/new?title=" + req.GetTitle()}, nil
}

// ResolveLinks answers each title as ResolveLink does and records the
// titles of each call, so tests can count round trips.
func (h *fakeHost) ResolveLinks(ctx context.Context, req *hostv1.ResolveLinksRequest) (*hostv1.ResolveLinksResponse, error) {
	h.mu.Lock()
	h.linkBatches = append(h.linkBatches, slices.Clone(req.GetTitles()))
	h.mu.Unlock()
	resp := &hostv1.ResolveLinksResponse{}
	for _, title := range req.GetTitles() {
		l, err := h.ResolveLink(ctx, &hostv1.ResolveLinkRequest{FromPageId: req.GetFromPageId(), Title: title, UserId: req.GetUserId()})
		if err != nil {
			return nil, err
		}
		resp.Links = append(resp.Links, l)
	}
	return resp, nil
}

// AttachFile reads the whole file and counts it as stored.
func (h *fakeHost) AttachFile(stream grpc.ClientStreamingServer[hostv1.AttachFileRequest, hostv1.AttachFileResponse]) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hdr := first.GetHeader()
	var got int64
	sum := sha256.New()
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		got += int64(len(req.GetChunk()))
		sum.Write(req.GetChunk())
	}
	if got != hdr.GetSize() {
		return status.Errorf(codes.InvalidArgument, "got %d bytes, header said %d", got, hdr.GetSize())
	}
	h.mu.Lock()
	h.attached++
	n := h.attached
	h.lastSum = sum.Sum(nil)
	arrived, hold := h.attachArrived, h.attachHold
	h.mu.Unlock()
	if arrived != nil {
		arrived <- struct{}{}
		<-hold
	}
	return stream.SendAndClose(&hostv1.AttachFileResponse{
		FileId: fmt.Sprintf("f%d", n),
		Url:    fmt.Sprintf("/files/%d/%s", n, hdr.GetFileName()),
	})
}

// attachedFiles is how many files AttachFile has stored.
func (h *fakeHost) attachedFiles() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.attached
}

// harness is one plugin Server and one fake host, both served over gRPC.
type harness struct {
	t    testing.TB
	host *fakeHost
	srv  *Server
	lis  *bufconn.Listener
	// c is the default client, on its own connection.
	c chatv1.ChatPluginClient
	// dialedIDs records the broker ids Configure dialed.
	dialMu    sync.Mutex
	dialedIDs []uint32
}

// newHarness starts an unconfigured plugin and a fake host. Everything is
// stopped in t.Cleanup.
func newHarness(t testing.TB) *harness {
	t.Helper()
	h := &harness{t: t, host: newFakeHost(), srv: New(nil, nil, testVersion)}

	hostLis := bufconn.Listen(bufSize)
	hostSrv := grpc.NewServer()
	hostv1.RegisterHostAPIServer(hostSrv, h.host)
	go func() { _ = hostSrv.Serve(hostLis) }()

	h.srv.dialHost = func(id uint32) (*grpc.ClientConn, error) {
		h.dialMu.Lock()
		h.dialedIDs = append(h.dialedIDs, id)
		h.dialMu.Unlock()
		if id != testBrokerID {
			return nil, errors.New("unknown broker id")
		}
		return dialBufconn(hostLis)
	}

	h.lis = bufconn.Listen(bufSize)
	gs := grpc.NewServer()
	chatv1.RegisterChatPluginServer(gs, h.srv)
	go func() { _ = gs.Serve(h.lis) }()

	// Cleanups run last-registered first: close the plugin (ending its
	// streams and its host connection), then stop both servers.
	t.Cleanup(hostSrv.Stop)
	t.Cleanup(gs.Stop)
	t.Cleanup(func() {
		if err := h.srv.Close(); err != nil {
			t.Errorf("close plugin: %v", err)
		}
	})
	h.c = h.client()
	return h
}

// newConfigured returns a harness configured with a fresh data dir,
// broker id 1 and a 100 ms permission cache; edit may change the request.
// It sets up the demo users:
//
//	alice  "Alice Liddell"  view+post on p1 and secret
//	bob    "Bob Builder"    view on p1
//	carol  "Carol"          nothing
//	ghost  (unknown)        view+post on p1
func newConfigured(t testing.TB, edit func(*chatv1.ConfigureRequest)) *harness {
	t.Helper()
	h := newHarness(t)
	h.host.addUser("alice", "Alice Liddell")
	h.host.addUser("bob", "Bob Builder")
	h.host.addUser("carol", "Carol")
	h.host.allow("alice", "p1", view, post)
	h.host.allow("alice", "secret", view, post)
	h.host.allow("bob", "p1", view)
	h.host.allow("ghost", "p1", view, post)
	req := h.configReq()
	if edit != nil {
		edit(req)
	}
	if _, err := h.c.Configure(testCtx(t), req); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return h
}

func (h *harness) configReq() *chatv1.ConfigureRequest {
	return &chatv1.ConfigureRequest{
		DataDir:           h.t.TempDir(),
		HostBrokerId:      testBrokerID,
		PermissionCacheMs: testPermCacheMs,
		// Tests send hundreds of messages as one user; rate limiting has
		// its own tests.
		MaxMessagesPerMinute: -1,
	}
}

func dialBufconn(lis *bufconn.Listener, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	opts = append([]grpc.DialOption{
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	}, opts...)
	return grpc.NewClient("passthrough:///bufconn", opts...)
}

// client opens another connection to the plugin, closed in t.Cleanup.
func (h *harness) client(opts ...grpc.DialOption) chatv1.ChatPluginClient {
	h.t.Helper()
	conn, err := dialBufconn(h.lis, opts...)
	if err != nil {
		h.t.Fatalf("dial plugin: %v", err)
	}
	h.t.Cleanup(func() { _ = conn.Close() })
	return chatv1.NewChatPluginClient(conn)
}

// rt returns the configured runtime, for white-box checks.
func (h *harness) rt() *runtime {
	h.t.Helper()
	rt, err := h.srv.runtime()
	if err != nil {
		h.t.Fatalf("runtime: %v", err)
	}
	return rt
}

// testCtx returns a context that ends with the test (or after testTimeout).
func testCtx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return c
}

func wantCode(t *testing.T, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("got code %v (%v), want %v", got, err, want)
	}
}

func (h *harness) openRoom(user, page, name string) *chatv1.Room {
	h.t.Helper()
	resp, err := h.c.OpenRoom(testCtx(h.t), &chatv1.OpenRoomRequest{UserId: user, PageId: page, Name: name})
	if err != nil {
		h.t.Fatalf("OpenRoom(%s, %s, %q): %v", user, page, name, err)
	}
	return resp.GetRoom()
}

func (h *harness) send(user, room, clientID, text string) *chatv1.SendResponse {
	h.t.Helper()
	resp, err := h.c.Send(testCtx(h.t), &chatv1.SendRequest{UserId: user, RoomId: room, ClientId: clientID, Text: text})
	if err != nil {
		h.t.Fatalf("Send(%s, %s, %s): %v", user, room, clientID, err)
	}
	return resp
}

// upload sends a file of size bytes of text with the Upload RPC and
// returns the plugin's answer.
func (h *harness) upload(user, room, clientID, name string, size int64) (*chatv1.UploadResponse, error) {
	h.t.Helper()
	up, err := h.c.Upload(testCtx(h.t))
	if err != nil {
		return nil, err
	}
	hdr := &chatv1.UploadHeader{UserId: user, RoomId: room, ClientId: clientID, FileName: name, Size: size}
	if err := up.Send(&chatv1.UploadRequest{Part: &chatv1.UploadRequest_Header{Header: hdr}}); err != nil {
		return up.CloseAndRecv()
	}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'a'
	}
	for left := size; left > 0; {
		n := min(left, int64(len(chunk)))
		if err := up.Send(&chatv1.UploadRequest{Part: &chatv1.UploadRequest_Chunk{Chunk: chunk[:n]}}); err != nil {
			return up.CloseAndRecv()
		}
		left -= n
	}
	return up.CloseAndRecv()
}

// uploadBytes uploads content as a file with the Upload RPC, in chunks
// of 1000 bytes so the plugin sees it arrive in pieces.
func (h *harness) uploadBytes(user, room, clientID, name string, content []byte) (*chatv1.UploadResponse, error) {
	h.t.Helper()
	up, err := h.c.Upload(testCtx(h.t))
	if err != nil {
		return nil, err
	}
	hdr := &chatv1.UploadHeader{UserId: user, RoomId: room, ClientId: clientID, FileName: name, Size: int64(len(content))}
	if err := up.Send(&chatv1.UploadRequest{Part: &chatv1.UploadRequest_Header{Header: hdr}}); err != nil {
		return up.CloseAndRecv()
	}
	for rest := content; len(rest) > 0; {
		n := min(len(rest), 1000)
		if err := up.Send(&chatv1.UploadRequest{Part: &chatv1.UploadRequest_Chunk{Chunk: rest[:n]}}); err != nil {
			return up.CloseAndRecv()
		}
		rest = rest[n:]
	}
	return up.CloseAndRecv()
}

func (h *harness) history(user, room string, before uint64, limit int32) *chatv1.HistoryResponse {
	h.t.Helper()
	resp, err := h.c.History(testCtx(h.t), &chatv1.HistoryRequest{UserId: user, RoomId: room, BeforeSeq: before, Limit: limit})
	if err != nil {
		h.t.Fatalf("History(%s, %s, before %d, limit %d): %v", user, room, before, limit, err)
	}
	return resp
}

func (h *harness) lastSeq(room string) uint64 {
	h.t.Helper()
	resp, err := h.c.RoomInfo(testCtx(h.t), &chatv1.RoomInfoRequest{UserId: "alice", RoomId: room})
	if err != nil {
		h.t.Fatalf("RoomInfo(%s): %v", room, err)
	}
	return resp.GetRoom().GetLastSeq()
}

func (h *harness) roomCount() int64 {
	h.t.Helper()
	resp, err := h.c.Health(testCtx(h.t), &chatv1.HealthRequest{})
	if err != nil {
		h.t.Fatalf("Health: %v", err)
	}
	return resp.GetRooms()
}

type subStream = grpc.ServerStreamingClient[chatv1.RoomEvent]

// subscribe opens a stream that ends with the returned cancel (or the test).
func subscribe(t *testing.T, c chatv1.ChatPluginClient, req *chatv1.SubscribeRequest) (subStream, context.CancelFunc) {
	t.Helper()
	sctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	stream, err := c.Subscribe(sctx, req)
	if err != nil {
		cancel()
		t.Fatalf("Subscribe: %v", err)
	}
	return stream, cancel
}

// recvCaughtUp reads messages up to the CaughtUp marker, returning their
// seqs (presence events are skipped) and the marker's value.
func recvCaughtUp(t *testing.T, s subStream) (seqs []uint64, caughtUp uint64) {
	t.Helper()
	for {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv before CaughtUp (after %d messages): %v", len(seqs), err)
		}
		switch e := ev.GetEvent().(type) {
		case *chatv1.RoomEvent_Message:
			seqs = append(seqs, e.Message.GetSeq())
		case *chatv1.RoomEvent_CaughtUp:
			return seqs, e.CaughtUp
		}
	}
}

// recvMessage returns the next message event, skipping presence.
func recvMessage(t *testing.T, s subStream) *chatv1.Message {
	t.Helper()
	for {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv message: %v", err)
		}
		if m := ev.GetMessage(); m != nil {
			return m
		}
		if ev.GetEvent() == nil {
			t.Fatal("event with nothing set")
		}
	}
}

// recvPresence returns the next presence change about userID, skipping
// everything else.
func recvPresence(t *testing.T, s subStream, userID string) *chatv1.Participant {
	t.Helper()
	for {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv presence of %s: %v", userID, err)
		}
		if p := ev.GetPresence().GetParticipant(); p != nil && p.GetUserId() == userID {
			return p
		}
	}
}

// recvErr reads until the stream fails and returns that error.
func recvErr(s subStream) error {
	for {
		if _, err := s.Recv(); err != nil {
			return err
		}
	}
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

func seqsOf(msgs []*chatv1.Message) []uint64 {
	out := make([]uint64, len(msgs))
	for i, m := range msgs {
		out[i] = m.GetSeq()
	}
	return out
}

func equalSeqs(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// shortSeqs formats a seq list for failure messages without flooding them.
func shortSeqs(s []uint64) string {
	if len(s) <= 16 {
		return fmt.Sprint(s)
	}
	return fmt.Sprintf("%v … %v (%d seqs)", s[:8], s[len(s)-8:], len(s))
}

// waitFor polls cond until it holds, failing after testTimeout. It waits
// for a state the test then asserts on; it is not itself a timing check.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, testTimeout, cond, "%s", what)
}

// testVersion is the version the test servers report.
const testVersion = "test"
