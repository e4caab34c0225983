package server

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pagechat/pagechat/internal/handshake"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// TestBanRefusesEveryRoomCall checks that a ban holds on every call that
// reads, streams, posts or changes anything in the room, opening it
// included, each refused with the BANNED reason and a sentence naming the
// reason and the end; and that the macro table shows the banned viewer
// that sentence instead of a table with a Join link.
func TestBanRefusesEveryRoomCall(t *testing.T) {
	t.Parallel()
	h, clock, room := newModerated(t, nil)
	ctx := testCtx(t)
	first := h.send("bob", room, "b1", "hello").GetMessage().GetSeq()
	until := clock.Now().Add(3 * time.Hour)
	if _, err := h.c.Ban(ctx, &chatv1.BanRequest{UserId: "mod", RoomId: room, TargetUserId: "bob", Reason: "spam", ExpiresAt: timestamppb.New(until)}); err != nil {
		t.Fatal(err)
	}

	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"OpenRoom", func(ctx context.Context) error {
			_, err := h.c.OpenRoom(ctx, &chatv1.OpenRoomRequest{UserId: "bob", PageId: "p1", Name: "Team"})
			return err
		}},
		{"RoomInfo", func(ctx context.Context) error {
			_, err := h.c.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: "bob", RoomId: room, IncludeRights: true})
			return err
		}},
		{"History", func(ctx context.Context) error {
			_, err := h.c.History(ctx, &chatv1.HistoryRequest{UserId: "bob", RoomId: room})
			return err
		}},
		{"Subscribe", func(ctx context.Context) error {
			s, err := h.c.Subscribe(ctx, &chatv1.SubscribeRequest{UserId: "bob", RoomId: room})
			if err != nil {
				return err
			}
			_, err = s.Recv()
			return err
		}},
		{"Join", func(ctx context.Context) error {
			_, err := h.c.Join(ctx, &chatv1.JoinRequest{UserId: "bob", RoomId: room})
			return err
		}},
		{"Presence", func(ctx context.Context) error {
			_, err := h.c.Presence(ctx, &chatv1.PresenceRequest{UserId: "bob", RoomId: room})
			return err
		}},
		{"Send", func(ctx context.Context) error {
			_, err := h.c.Send(ctx, &chatv1.SendRequest{UserId: "bob", RoomId: room, ClientId: "b2", Text: "let me in"})
			return err
		}},
		{"Upload", func(context.Context) error {
			_, err := h.upload("bob", room, "u1", "notes.txt", 10)
			return err
		}},
		{"Typing", func(ctx context.Context) error {
			_, err := h.c.Typing(ctx, &chatv1.TypingRequest{UserId: "bob", RoomId: room})
			return err
		}},
		{"MarkRead", func(ctx context.Context) error {
			_, err := h.c.MarkRead(ctx, &chatv1.MarkReadRequest{UserId: "bob", RoomId: room, Seq: first})
			return err
		}},
		{"SetWatch", func(ctx context.Context) error {
			_, err := h.c.SetWatch(ctx, &chatv1.SetWatchRequest{UserId: "bob", RoomId: room, Watching: true})
			return err
		}},
		{"EditMessage", func(ctx context.Context) error {
			_, err := h.c.EditMessage(ctx, &chatv1.EditMessageRequest{UserId: "bob", RoomId: room, Seq: first, Text: "edited"})
			return err
		}},
		{"DeleteMessage", func(ctx context.Context) error {
			_, err := h.c.DeleteMessage(ctx, &chatv1.DeleteMessageRequest{UserId: "bob", RoomId: room, Seq: first})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
			defer cancel()
			err := c.call(ctx)
			wantReason(t, err, codes.PermissionDenied, handshake.ReasonBanned)
			if msg := status.Convert(err).Message(); !strings.Contains(msg, "banned") || !strings.Contains(msg, "spam") || !strings.Contains(msg, "2026-06-01 15:00") {
				t.Errorf("sentence %q, want the ban, its reason and its end", msg)
			}
		})
	}

	// The macro table: the sentence, no table, no Join link.
	macro, err := h.c.RenderMacro(ctx, &chatv1.RenderMacroRequest{UserId: "bob", PageId: "p1", Name: "Team"})
	if err != nil {
		t.Fatal(err)
	}
	html := macro.GetHtml()
	if !strings.Contains(html, "pagechat-banned") || !strings.Contains(html, "You are banned from this room") ||
		!strings.Contains(html, "spam") || strings.Contains(html, "rooms/") || strings.Contains(html, "pagechat-room") {
		t.Errorf("banned viewer's macro: %s", html)
	}
	// Others still get the table, and bob does once the ban ends.
	macro, err = h.c.RenderMacro(ctx, &chatv1.RenderMacroRequest{UserId: "alice", PageId: "p1", Name: "Team"})
	if err != nil || !strings.Contains(macro.GetHtml(), "pagechat-room") {
		t.Errorf("alice's macro: %v %s", err, macro.GetHtml())
	}
	clock.Advance(3*time.Hour + time.Second)
	macro, err = h.c.RenderMacro(ctx, &chatv1.RenderMacroRequest{UserId: "bob", PageId: "p1", Name: "Team"})
	if err != nil || !strings.Contains(macro.GetHtml(), "pagechat-room") {
		t.Errorf("bob's macro after the ban ended: %v %s", err, macro.GetHtml())
	}
	if _, err := h.c.OpenRoom(ctx, &chatv1.OpenRoomRequest{UserId: "bob", PageId: "p1", Name: "Team"}); err != nil {
		t.Errorf("OpenRoom after the ban ended: %v", err)
	}
}
