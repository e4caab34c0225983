package server

import (
	"context"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// EditMessage edits one of the user's own messages.
func (s *Server) EditMessage(ctx context.Context, req *chatv1.EditMessageRequest) (*chatv1.EditMessageResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	ev, epoch, dup, err := rt.editMessage(ctx, editRequest{
		userID: req.GetUserId(), roomID: req.GetRoomId(), seq: req.GetSeq(), text: req.GetText(), clientID: req.GetClientId(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.EditMessageResponse{Edit: messageToProto(ev, epoch), Duplicate: dup}, nil
}

// DeleteMessage deletes a message.
func (s *Server) DeleteMessage(ctx context.Context, req *chatv1.DeleteMessageRequest) (*chatv1.DeleteMessageResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	ev, epoch, dup, err := rt.deleteMessage(ctx, deleteRequest{
		userID: req.GetUserId(), roomID: req.GetRoomId(), seq: req.GetSeq(), reason: req.GetReason(),
	})
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.DeleteMessageResponse{Delete: messageToProto(ev, epoch), Duplicate: dup}, nil
}

// SetTopic sets a room's topic.
func (s *Server) SetTopic(ctx context.Context, req *chatv1.SetTopicRequest) (*chatv1.SetTopicResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	ev, epoch, err := rt.setTopic(ctx, req.GetUserId(), req.GetRoomId(), req.GetTopic())
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.SetTopicResponse{Event: messageToProto(ev, epoch)}, nil
}

// Kick ends a user's streams of a room.
func (s *Server) Kick(ctx context.Context, req *chatv1.KickRequest) (*chatv1.KickResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	ev, epoch, err := rt.kick(ctx, userAction{userID: req.GetUserId(), roomID: req.GetRoomId(), subject: req.GetTargetUserId(), reason: req.GetReason()})
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.KickResponse{Event: messageToProto(ev, epoch)}, nil
}

// Ban keeps a user out of a room.
func (s *Server) Ban(ctx context.Context, req *chatv1.BanRequest) (*chatv1.BanResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	a := userAction{userID: req.GetUserId(), roomID: req.GetRoomId(), subject: req.GetTargetUserId(), reason: req.GetReason()}
	if req.GetExpiresAt() != nil {
		a.until = req.GetExpiresAt().AsTime()
	}
	b, ev, epoch, err := rt.ban(ctx, a)
	if err != nil {
		return nil, toStatus(err)
	}
	return &chatv1.BanResponse{Ban: banToProto(b), Event: messageToProto(ev, epoch)}, nil
}

// Unban lifts a ban.
func (s *Server) Unban(ctx context.Context, req *chatv1.UnbanRequest) (*chatv1.UnbanResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	ev, epoch, found, err := rt.unban(ctx, userAction{userID: req.GetUserId(), roomID: req.GetRoomId(), subject: req.GetTargetUserId()})
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &chatv1.UnbanResponse{}
	if found {
		resp.Event = messageToProto(ev, epoch)
	}
	return resp, nil
}

// ListBans lists a room's bans.
func (s *Server) ListBans(ctx context.Context, req *chatv1.ListBansRequest) (*chatv1.ListBansResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, toStatus(err)
	}
	bans, err := rt.listBans(ctx, req.GetUserId(), req.GetRoomId())
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &chatv1.ListBansResponse{Bans: make([]*chatv1.Ban, len(bans))}
	for i, b := range bans {
		resp.Bans[i] = banToProto(b)
	}
	return resp, nil
}
