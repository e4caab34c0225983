package server

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/pagechat/pagechat/internal/handshake"
	"github.com/pagechat/pagechat/macro"
	"github.com/pagechat/pagechat/plugin/internal/macrotable"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// RenderMacro renders a macro as its room table. Errors a page author can
// fix, or a viewer who may not see the room, render as an inline box rather
// than failing the page render.
func (s *Server) RenderMacro(ctx context.Context, req *chatv1.RenderMacroRequest) (*chatv1.RenderMacroResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	name := strings.TrimSpace(req.GetName())
	if _, err := macro.RoomID(req.GetPageId(), name); err != nil {
		return &chatv1.RenderMacroResponse{Html: macrotable.RenderError(err.Error())}, nil
	}
	if err := macro.CheckParams(req.GetParams()); err != nil {
		return &chatv1.RenderMacroResponse{Html: macrotable.RenderError(err.Error())}, nil
	}
	room, err := rt.openRoom(ctx, req.GetUserId(), req.GetPageId(), name)
	switch {
	case err == nil:
	case isBan(err):
		// A banned viewer sees why and until when instead of a table
		// whose Join Chat would only be refused.
		return &chatv1.RenderMacroResponse{Html: macrotable.RenderBanned(err.Error())}, nil
	case errors.Is(err, errDenied):
		return &chatv1.RenderMacroResponse{Html: macrotable.RenderDenied()}, nil
	case errors.Is(err, errInvalid), errors.Is(err, store.ErrTooManyRooms):
		return &chatv1.RenderMacroResponse{Html: macrotable.RenderError(err.Error())}, nil
	default:
		return nil, toStatus(err)
	}
	prefix := req.GetChatUrlPrefix()
	if prefix == "" {
		prefix = rt.chatPrefix
	}
	joinURL := prefix + "rooms/" + url.PathEscape(room.ID)
	if macro.SoundParam(req.GetParams()) {
		joinURL += "?sound=on"
	}
	t := rt.table(room, joinURL)
	rs, err := rt.readState(ctx, room, req.GetUserId())
	if err != nil {
		return nil, toStatus(err)
	}
	t.Unread, t.Mentions = rs.unread, rs.mentions
	return &chatv1.RenderMacroResponse{Html: macrotable.Render(t), RoomId: room.ID}, nil
}

// isBan reports whether err is checkBan's refusal.
func isBan(err error) bool {
	var re *reasonedError
	return errors.As(err, &re) && re.reason == handshake.ReasonBanned
}

// table gathers what the macro table shows about room.
func (rt *runtime) table(room store.Room, joinURL string) macrotable.Table {
	t := macrotable.Table{
		RoomID:       room.ID,
		RoomName:     room.Name,
		Topic:        room.Topic,
		JoinURL:      joinURL,
		Links:        rt.tableLinks(room.ID),
		LastActivity: room.LastActivity,
		Now:          rt.now(),
		Location:     rt.location,
	}
	for _, p := range room.Participants {
		t.Participants = append(t.Participants, macrotable.Participant{Name: p.DisplayName, Online: rt.presence.online(room.ID, p.UserID)})
	}
	for _, f := range room.Files {
		t.Files = append(t.Files, macrotable.File{Name: f.Name, URL: f.URL, Size: f.Size})
	}
	t.Transcripts = rt.tableTranscripts(room)
	return t
}
