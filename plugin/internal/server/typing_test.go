package server

import (
	"testing"

	"google.golang.org/grpc/codes"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// recvTyping returns the next typing event, skipping presence; a message
// before it fails the test.
func recvTyping(t *testing.T, s subStream) *chatv1.TypingNotice {
	t.Helper()
	for {
		ev, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv typing: %v", err)
		}
		if m := ev.GetMessage(); m != nil {
			t.Fatalf("got message %d before the typing event", m.GetSeq())
		}
		if ty := ev.GetTyping(); ty != nil {
			return ty
		}
	}
}

func TestTypingReachesStreamsAndIsNeverStored(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	h.send("alice", room, "c1", "before")
	stream, cancel := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
	defer cancel()
	recvCaughtUp(t, stream)

	if _, err := h.c.Typing(testCtx(t), &chatv1.TypingRequest{UserId: "alice", RoomId: room}); err != nil {
		t.Fatalf("Typing: %v", err)
	}
	ty := recvTyping(t, stream)
	if ty.GetUserId() != "alice" || ty.GetDisplayName() != "Alice Liddell" || ty.GetAt() == nil {
		t.Fatalf("typing event %+v", ty)
	}
	if got := h.lastSeq(room); got != 1 {
		t.Fatalf("last sequence %d after typing, want 1: typing must not be stored", got)
	}
	if msgs := h.history("alice", room, 0, 10).GetMessages(); len(msgs) != 1 {
		t.Fatalf("history holds %d messages after typing, want 1", len(msgs))
	}
	// The next message follows on directly: typing took no sequence.
	h.send("alice", room, "c2", "after")
	if m := recvMessage(t, stream); m.GetSeq() != 2 {
		t.Fatalf("next message has seq %d, want 2", m.GetSeq())
	}
	// A subscriber that connects later replays no typing.
	late, cancelLate := subscribe(t, h.c, &chatv1.SubscribeRequest{UserId: "alice", RoomId: room})
	defer cancelLate()
	if seqs, _ := recvCaughtUp(t, late); len(seqs) != 2 {
		t.Fatalf("late subscriber replayed %v", seqs)
	}
}

func TestTypingNeedsPostPermission(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	for _, tc := range []struct {
		user string
		want codes.Code
	}{
		{"alice", codes.OK},
		{"bob", codes.PermissionDenied},   // may view, not post
		{"carol", codes.PermissionDenied}, // may not even view
		{"", codes.InvalidArgument},
	} {
		_, err := h.c.Typing(testCtx(t), &chatv1.TypingRequest{UserId: tc.user, RoomId: room})
		wantCode(t, err, tc.want)
	}
	_, err := h.c.Typing(testCtx(t), &chatv1.TypingRequest{UserId: "alice", RoomId: "nonsense"})
	if err == nil {
		t.Fatal("typing in a malformed room id was accepted")
	}
}

func TestTypingIsRateBounded(t *testing.T) {
	t.Parallel()
	h := newConfigured(t, nil)
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	var limited error
	for i := 0; i <= typingPerMinute && limited == nil; i++ {
		_, err := h.c.Typing(testCtx(t), &chatv1.TypingRequest{UserId: "alice", RoomId: room})
		if err != nil {
			limited = err
			if i != typingPerMinute {
				t.Errorf("typing refused after %d signals, want %d allowed", i, typingPerMinute)
			}
		}
	}
	wantCode(t, limited, codes.ResourceExhausted)
}
