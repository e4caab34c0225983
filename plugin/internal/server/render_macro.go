package server

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/pagechat/pagechat/internal/handshake"
	"github.com/pagechat/pagechat/macro"
	"github.com/pagechat/pagechat/plugin/internal/macrotable"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
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
	room, err := rt.previewRoom(ctx, req.GetUserId(), req.GetPageId(), name)
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
	// The table needs no watch state, and shows counts from
	// macrotable.MaxUnread on as "99+": reading up to a thousand
	// messages at every page view would cost more than the rest of the
	// table.
	rs, err := rt.unreadCounts(ctx, room.Room, req.GetUserId(), macrotable.MaxUnread)
	if err != nil {
		return nil, toStatus(err)
	}
	t.Unread, t.Mentions = rs.unread, rs.mentions
	return &chatv1.RenderMacroResponse{Html: macrotable.Render(t), RoomId: room.ID}, nil
}

// previewRoom is openRoom for the macro table: the room with only as much
// of its lists as the table shows. A page render makes one per macro, so
// its cost must not grow with the room's age; only a room that does not
// exist yet goes through openRoom to be created.
func (rt *runtime) previewRoom(ctx context.Context, userID, pageID, name string) (store.Preview, error) {
	lim := func(roomID string) store.PreviewLimits {
		return store.PreviewLimits{
			Participants: macrotable.MaxParticipants,
			Online:       rt.presence.onlineIn(roomID),
			Files:        macrotable.MaxFiles,
			Transcripts:  macrotable.MaxTranscripts,
		}
	}
	if err := checkUserID(userID); err != nil {
		return store.Preview{}, err
	}
	if roomID, err := macro.RoomID(pageID, strings.TrimSpace(name)); err == nil && utf8.ValidString(pageID) && utf8.ValidString(name) {
		if err := rt.authorize(ctx, userID, pageID, hostv1.Permission_PERMISSION_VIEW); err != nil {
			return store.Preview{}, err
		}
		p, err := rt.store.RoomPreview(ctx, roomID, lim(roomID))
		if !errors.Is(err, store.ErrRoomNotFound) {
			if err != nil {
				return store.Preview{}, storeErr(err, roomID)
			}
			// As in openRoom: a ban holds where the page lets the user
			// view.
			if err := rt.checkBan(ctx, roomID, userID); err != nil {
				return store.Preview{}, err
			}
			return p, nil
		}
	}
	room, err := rt.openRoom(ctx, userID, pageID, name)
	if err != nil {
		return store.Preview{}, err
	}
	p, err := rt.store.RoomPreview(ctx, room.ID, lim(room.ID))
	if err != nil {
		return store.Preview{}, storeErr(err, room.ID)
	}
	return p, nil
}

// isBan reports whether err is checkBan's refusal.
func isBan(err error) bool {
	var re *reasonedError
	return errors.As(err, &re) && re.reason == handshake.ReasonBanned
}

// table gathers what the macro table shows about room.
func (rt *runtime) table(room store.Preview, joinURL string) macrotable.Table {
	t := macrotable.Table{
		RoomID:           room.ID,
		RoomName:         room.Name,
		Topic:            room.Topic,
		JoinURL:          joinURL,
		Links:            rt.tableLinks(room.ID),
		LastActivity:     room.LastActivity,
		Now:              rt.now(),
		Location:         rt.location,
		MoreParticipants: room.TotalParticipants - len(room.Participants),
		MoreFiles:        room.TotalFiles - len(room.Files),
		MoreTranscripts:  room.TotalTranscripts - len(room.Transcripts),
	}
	online := make(map[string]bool)
	for _, u := range rt.presence.onlineIn(room.ID) {
		online[u] = true
	}
	for _, p := range room.Participants {
		t.Participants = append(t.Participants, macrotable.Participant{Name: p.DisplayName, Online: online[p.UserID]})
	}
	for _, f := range room.Files {
		t.Files = append(t.Files, macrotable.File{Name: f.Name, URL: f.URL, Size: f.Size})
	}
	t.Transcripts = rt.tableTranscripts(room.Room)
	return t
}
