package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pagechat/pagechat/internal/handshake"
	"github.com/pagechat/pagechat/internal/testutil"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

const moderate = hostv1.Permission_PERMISSION_MODERATE

// DeleteFile removes a file if the fake host offers that capability.
func (h *fakeHost) DeleteFile(_ context.Context, req *hostv1.DeleteFileRequest) (*hostv1.DeleteFileResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.removesFiles {
		return nil, status.Error(codes.Unimplemented, "DeleteFile not implemented")
	}
	h.removed = append(h.removed, req.GetPageId()+"/"+req.GetFileId()+" by "+req.GetUserId())
	return &hostv1.DeleteFileResponse{}, nil
}

func (h *fakeHost) removedFiles() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.removed)
}

// newModerated is a configured harness on a test clock with the users of
// newConfigured plus "mod", a moderator of p1, and the room p1.team.
func newModerated(t *testing.T, edit func(*chatv1.ConfigureRequest)) (*harness, *testutil.Clock, string) {
	t.Helper()
	clock := testutil.NewClock(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	h := newHarness(t)
	h.srv.now = clock.Now
	h.host.addUser("alice", "Alice Liddell")
	h.host.addUser("bob", "Bob Builder")
	h.host.addUser("mod", "Mo Derator")
	h.host.allow("alice", "p1", view, post)
	h.host.allow("bob", "p1", view, post)
	h.host.allow("mod", "p1", view, post, moderate)
	req := h.configReq()
	if edit != nil {
		edit(req)
	}
	if _, err := h.c.Configure(testCtx(t), req); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return h, clock, h.openRoom("alice", "p1", "Team").GetId()
}

// wantReason checks a status's code and pagechat ErrorInfo reason.
func wantReason(t *testing.T, err error, code codes.Code, reason string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code {
		t.Fatalf("got %v (%v), want %v with reason %s", st.Code(), err, code, reason)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == handshake.ErrorDomain {
			if info.GetReason() != reason {
				t.Fatalf("reason %s (%v), want %s", info.GetReason(), err, reason)
			}
			return
		}
	}
	t.Fatalf("%v carries no reason, want %s", err, reason)
}

func TestEditAndDeletePermissionRules(t *testing.T) {
	t.Parallel()
	h, clock, room := newModerated(t, nil)
	ctx := testCtx(t)
	m := h.send("alice", room, "c1", "teh typo").GetMessage()
	edit := func(user string, seq uint64, text string) (*chatv1.EditMessageResponse, error) {
		return h.c.EditMessage(ctx, &chatv1.EditMessageRequest{UserId: user, RoomId: room, Seq: seq, Text: text})
	}
	del := func(user string, seq uint64) (*chatv1.DeleteMessageResponse, error) {
		return h.c.DeleteMessage(ctx, &chatv1.DeleteMessageRequest{UserId: user, RoomId: room, Seq: seq, Reason: "tidy"})
	}

	// The author edits within the window; the edit is the next sequence.
	clock.Advance(14 * time.Minute)
	resp, err := edit("alice", m.GetSeq(), "the typo")
	if err != nil {
		t.Fatalf("author's edit within the window: %v", err)
	}
	if e := resp.GetEdit(); e.GetSeq() != m.GetSeq()+1 || e.GetKind() != chatv1.MessageKind_MESSAGE_KIND_EDIT || e.GetTarget() != m.GetSeq() || e.GetText() != "the typo" {
		t.Errorf("edit event = %v", e)
	}
	hist := h.history("bob", room, 0, 10).GetMessages()
	if got := hist[0]; got.GetText() != "the typo" || got.GetEditSeq() != m.GetSeq()+1 || got.GetEditedAt() == nil {
		t.Errorf("history shows the edited message as %v", got)
	}

	// Not the author, even a moderator: refused with a sentence.
	_, err = edit("bob", m.GetSeq(), "bob's words")
	wantReason(t, err, codes.PermissionDenied, handshake.ReasonNotAuthor)
	_, err = edit("mod", m.GetSeq(), "mod's words")
	wantReason(t, err, codes.PermissionDenied, handshake.ReasonNotAuthor)
	_, err = del("bob", m.GetSeq())
	wantReason(t, err, codes.PermissionDenied, handshake.ReasonNotAuthor)
	// Unknown sequences are not found.
	_, err = edit("alice", 99, "x")
	wantReason(t, err, codes.NotFound, handshake.ReasonMessageNotFound)
	_, err = del("mod", 99)
	wantReason(t, err, codes.NotFound, handshake.ReasonMessageNotFound)
	// An event is not a message.
	_, err = edit("alice", m.GetSeq()+1, "x")
	wantCode(t, err, codes.InvalidArgument)

	// After the window the author may neither edit nor delete.
	clock.Advance(time.Minute + time.Second)
	_, err = edit("alice", m.GetSeq(), "too late")
	wantReason(t, err, codes.PermissionDenied, handshake.ReasonEditWindowPassed)
	if !strings.Contains(status.Convert(err).Message(), "within 15m0s") {
		t.Errorf("window error does not name the window: %v", err)
	}
	_, err = del("alice", m.GetSeq())
	wantReason(t, err, codes.PermissionDenied, handshake.ReasonEditWindowPassed)

	// A moderator deletes any message at any time; a retry is the same
	// delete; someone else's second delete is a conflict.
	clock.Advance(48 * time.Hour)
	d, err := del("mod", m.GetSeq())
	if err != nil {
		t.Fatalf("moderator's delete: %v", err)
	}
	if ev := d.GetDelete(); ev.GetKind() != chatv1.MessageKind_MESSAGE_KIND_DELETE || ev.GetUserId() != "mod" || ev.GetReason() != "tidy" || ev.GetTarget() != m.GetSeq() {
		t.Errorf("delete event = %v", ev)
	}
	again, err := del("mod", m.GetSeq())
	if err != nil || !again.GetDuplicate() || again.GetDelete().GetSeq() != d.GetDelete().GetSeq() {
		t.Errorf("retried delete = %v, %v; want the same event", again, err)
	}
	_, err = del("alice", m.GetSeq())
	wantReason(t, err, codes.FailedPrecondition, handshake.ReasonMessageDeleted)
	_, err = edit("alice", m.GetSeq(), "x")
	wantReason(t, err, codes.FailedPrecondition, handshake.ReasonMessageDeleted)

	hist = h.history("bob", room, 0, 10).GetMessages()
	if got := hist[0]; !got.GetErased() || got.GetText() != "" || got.GetDeletedBy() != "mod" || got.GetDeleteSeq() != d.GetDelete().GetSeq() {
		t.Errorf("history shows the deleted message as %v", got)
	}
	if n := len(hist); n != 3 || hist[2].GetSeq() != 3 {
		t.Errorf("history = %d entries, want message, edit, delete", n)
	}
}

func TestEditWindowIsConfigurable(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		seconds int64
		after   time.Duration
		allowed bool
	}{
		{"one minute, within", 60, 59 * time.Second, true},
		{"one minute, after", 60, 61 * time.Second, false},
		{"off", -1, 0, false},
		{"default, 14 minutes", 0, 14 * time.Minute, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, clock, room := newModerated(t, func(r *chatv1.ConfigureRequest) { r.EditWindowSeconds = tc.seconds })
			m := h.send("alice", room, "c", "hi").GetMessage()
			clock.Advance(tc.after)
			_, err := h.c.DeleteMessage(testCtx(t), &chatv1.DeleteMessageRequest{UserId: "alice", RoomId: room, Seq: m.GetSeq()})
			if tc.allowed && err != nil {
				t.Fatalf("delete: %v", err)
			}
			if !tc.allowed {
				wantReason(t, err, codes.PermissionDenied, handshake.ReasonEditWindowPassed)
			}
			info, err := h.c.RoomInfo(testCtx(t), &chatv1.RoomInfoRequest{UserId: "alice", RoomId: room, IncludeRights: true})
			if err != nil {
				t.Fatal(err)
			}
			want := tc.seconds
			switch want {
			case 0:
				want = 900
			case -1:
				want = 0
			}
			if r := info.GetRights(); r.GetEditWindowSeconds() != want || !r.GetCanPost() || r.GetCanModerate() {
				t.Errorf("alice's rights = %v, want post, no moderate, window %d", r, want)
			}
		})
	}
	h := newHarness(t)
	req := h.configReq()
	req.EditWindowSeconds = -5
	_, err := h.c.Configure(testCtx(t), req)
	wantCode(t, err, codes.InvalidArgument)
}

func TestModeratorOnlyCalls(t *testing.T) {
	t.Parallel()
	h, _, room := newModerated(t, nil)
	ctx := testCtx(t)
	for name, call := range map[string]func(user string) error{
		"topic": func(u string) error {
			_, err := h.c.SetTopic(ctx, &chatv1.SetTopicRequest{UserId: u, RoomId: room, Topic: "t"})
			return err
		},
		"kick": func(u string) error {
			_, err := h.c.Kick(ctx, &chatv1.KickRequest{UserId: u, RoomId: room, TargetUserId: "alice"})
			return err
		},
		"ban": func(u string) error {
			_, err := h.c.Ban(ctx, &chatv1.BanRequest{UserId: u, RoomId: room, TargetUserId: "alice"})
			return err
		},
		"unban": func(u string) error {
			_, err := h.c.Unban(ctx, &chatv1.UnbanRequest{UserId: u, RoomId: room, TargetUserId: "alice"})
			return err
		},
		"bans": func(u string) error {
			_, err := h.c.ListBans(ctx, &chatv1.ListBansRequest{UserId: u, RoomId: room})
			return err
		},
	} {
		t.Run(name, func(t *testing.T) {
			wantReason(t, call("bob"), codes.PermissionDenied, handshake.ReasonNotModerator)
		})
	}
	if got := h.lastSeq(room); got != 0 {
		t.Errorf("refused calls appended %d events", got)
	}
}

func TestTopicIsAnEventAndRoomState(t *testing.T) {
	t.Parallel()
	h, _, room := newModerated(t, nil)
	ctx := testCtx(t)
	resp, err := h.c.SetTopic(ctx, &chatv1.SetTopicRequest{UserId: "mod", RoomId: room, Topic: "  Release <Friday>  "})
	if err != nil {
		t.Fatal(err)
	}
	if ev := resp.GetEvent(); ev.GetKind() != chatv1.MessageKind_MESSAGE_KIND_TOPIC || ev.GetText() != "Release <Friday>" || ev.GetSeq() != 1 {
		t.Errorf("topic event = %v", ev)
	}
	info, err := h.c.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: "bob", RoomId: room})
	if err != nil || info.GetRoom().GetTopic() != "Release <Friday>" || info.GetRoom().GetTopicBy() != "mod" {
		t.Errorf("room info = %v, %v", info.GetRoom(), err)
	}
	macro, err := h.c.RenderMacro(ctx, &chatv1.RenderMacroRequest{UserId: "bob", PageId: "p1", Name: "Team"})
	if err != nil || !strings.Contains(macro.GetHtml(), "Release &lt;Friday&gt;") {
		t.Errorf("macro table lacks the topic: %v\n%s", err, macro.GetHtml())
	}
	_, err = h.c.SetTopic(ctx, &chatv1.SetTopicRequest{UserId: "mod", RoomId: room, Topic: "two\nlines"})
	wantCode(t, err, codes.InvalidArgument)
}

// A kick ends the kicked user's live Subscribe stream with KICKED while
// others keep theirs; the user may come back. A ban ends it with BANNED
// and refuses every room call, with the reason and end in the sentence,
// until it is lifted; AuthorizeViewers leaves banned users out.
func TestKickAndBanEndStreamsAndHold(t *testing.T) {
	t.Parallel()
	h, clock, room := newModerated(t, nil)
	ctx := testCtx(t)
	h.send("bob", room, "b1", "spam")
	bobSub, cancelBob := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	defer cancelBob()
	recvCaughtUp(t, bobSub)
	aliceSub, cancelAlice := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "alice", RoomId: room})
	defer cancelAlice()
	recvCaughtUp(t, aliceSub)

	if _, err := h.c.Kick(ctx, &chatv1.KickRequest{UserId: "mod", RoomId: room, TargetUserId: "bob", Reason: "cool off"}); err != nil {
		t.Fatal(err)
	}
	if m := recvMessage(t, bobSub); m.GetKind() != chatv1.MessageKind_MESSAGE_KIND_KICK || m.GetSubject() != "bob" || m.GetUserId() != "mod" {
		t.Errorf("bob's stream got %v, want the kick", m)
	}
	err := recvErr(bobSub)
	wantReason(t, err, codes.PermissionDenied, handshake.ReasonKicked)
	if !strings.Contains(status.Convert(err).Message(), "cool off") {
		t.Errorf("kick sentence lacks the reason: %v", err)
	}
	if m := recvMessage(t, aliceSub); m.GetKind() != chatv1.MessageKind_MESSAGE_KIND_KICK {
		t.Errorf("alice's stream got %v, want the kick", m)
	}
	// Kicked, not banned: bob comes back, and the old kick in his replay
	// does not throw him out again.
	bobSub, cancelBob = subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	defer cancelBob()
	recvCaughtUp(t, bobSub)

	until := clock.Now().Add(2 * time.Hour)
	ban, err := h.c.Ban(ctx, &chatv1.BanRequest{UserId: "mod", RoomId: room, TargetUserId: "bob", Reason: "spam", ExpiresAt: timestamppb.New(until)})
	if err != nil {
		t.Fatal(err)
	}
	if b := ban.GetBan(); b.GetUserId() != "bob" || b.GetBannedBy() != "mod" || !b.GetExpiresAt().AsTime().Equal(until) {
		t.Errorf("ban = %v", b)
	}
	// The ban event or the stream's permission re-check, whichever
	// comes first, ends the stream.
	wantReason(t, recvErr(bobSub), codes.PermissionDenied, handshake.ReasonBanned)

	_, err = h.c.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: "bob", RoomId: room})
	wantReason(t, err, codes.PermissionDenied, handshake.ReasonBanned)
	if msg := status.Convert(err).Message(); !strings.Contains(msg, "spam") || !strings.Contains(msg, "2026-06-01 14:00") {
		t.Errorf("ban sentence = %q, want the reason and the end", msg)
	}
	_, err = h.c.Send(ctx, &chatv1.SendRequest{UserId: "bob", RoomId: room, ClientId: "b2", Text: "let me in"})
	wantReason(t, err, codes.PermissionDenied, handshake.ReasonBanned)
	allowed, err := h.c.AuthorizeViewers(ctx, &chatv1.AuthorizeViewersRequest{RoomId: room, UserIds: []string{"alice", "bob"}})
	if err != nil || len(allowed.GetAllowedUserIds()) != 1 || allowed.GetAllowedUserIds()[0] != "alice" {
		t.Errorf("AuthorizeViewers = %v, %v; want alice only", allowed.GetAllowedUserIds(), err)
	}
	bans, err := h.c.ListBans(ctx, &chatv1.ListBansRequest{UserId: "mod", RoomId: room})
	if err != nil || len(bans.GetBans()) != 1 || bans.GetBans()[0].GetReason() != "spam" {
		t.Errorf("ListBans = %v, %v", bans.GetBans(), err)
	}

	// The ban ends by itself at its expiry.
	clock.Advance(2*time.Hour + time.Second)
	if _, err := h.c.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: "bob", RoomId: room}); err != nil {
		t.Errorf("after the ban expired: %v", err)
	}
	// A lifted ban, likewise; the unban is in the log.
	if _, err := h.c.Ban(ctx, &chatv1.BanRequest{UserId: "mod", RoomId: room, TargetUserId: "bob"}); err != nil {
		t.Fatal(err)
	}
	un, err := h.c.Unban(ctx, &chatv1.UnbanRequest{UserId: "mod", RoomId: room, TargetUserId: "bob"})
	if err != nil || un.GetEvent().GetKind() != chatv1.MessageKind_MESSAGE_KIND_UNBAN {
		t.Fatalf("Unban = %v, %v", un, err)
	}
	if _, err := h.c.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: "bob", RoomId: room}); err != nil {
		t.Errorf("after the unban: %v", err)
	}
	if un, err := h.c.Unban(ctx, &chatv1.UnbanRequest{UserId: "mod", RoomId: room, TargetUserId: "bob"}); err != nil || un.GetEvent() != nil {
		t.Errorf("second Unban = %v, %v; want nothing to do", un, err)
	}
	_, err = h.c.Ban(ctx, &chatv1.BanRequest{UserId: "mod", RoomId: room, TargetUserId: "mod"})
	wantCode(t, err, codes.InvalidArgument)
}

// Deleting an upload's message asks the host to remove the file; a host
// without DeleteFile is logged and the delete still succeeds.
func TestDeleteRemovesUploadedFile(t *testing.T) {
	t.Parallel()
	h, _, room := newModerated(t, nil)
	up, err := h.upload("alice", room, "u1", "notes.txt", 10)
	if err != nil {
		t.Fatal(err)
	}
	// The fake host has no DeleteFile: Unimplemented.
	if _, err := h.c.DeleteMessage(testCtx(t), &chatv1.DeleteMessageRequest{UserId: "alice", RoomId: room, Seq: up.GetMessage().GetSeq()}); err != nil {
		t.Fatalf("delete with a host that cannot remove files: %v", err)
	}
	info, err := h.c.RoomInfo(testCtx(t), &chatv1.RoomInfoRequest{UserId: "alice", RoomId: room})
	if err != nil || len(info.GetRoom().GetFiles()) != 0 {
		t.Errorf("room files after the delete = %v, %v", info.GetRoom().GetFiles(), err)
	}

	h.host.mu.Lock()
	h.host.removesFiles = true
	h.host.mu.Unlock()
	up, err = h.upload("alice", room, "u2", "more.txt", 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.DeleteMessage(testCtx(t), &chatv1.DeleteMessageRequest{UserId: "mod", RoomId: room, Seq: up.GetMessage().GetSeq()}); err != nil {
		t.Fatal(err)
	}
	want := "p1/" + up.GetFile().GetId() + " by mod"
	if got := h.host.removedFiles(); len(got) != 1 || got[0] != want {
		t.Errorf("host removed %q, want %q", got, want)
	}
}
