package hostsdk

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/timestamppb"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// MessageKind tells plain messages from the events in a room's log. Its
// values are the names the browser API uses.
type MessageKind string

// The kinds of log entry.
const (
	// KindMessage is a plain message.
	KindMessage MessageKind = "message"
	// KindEdit replaces the text of the message at Target with its own.
	KindEdit MessageKind = "edit"
	// KindDelete deletes the message at Target; UserID deleted it.
	KindDelete MessageKind = "delete"
	// KindTopic sets the room topic to Text.
	KindTopic MessageKind = "topic"
	// KindKick records that UserID kicked Subject.
	KindKick MessageKind = "kick"
	// KindBan records that UserID banned Subject, until Until if set.
	KindBan MessageKind = "ban"
	// KindUnban records that UserID lifted Subject's ban.
	KindUnban MessageKind = "unban"
)

var kindFromProto = map[chatv1.MessageKind]MessageKind{
	chatv1.MessageKind_MESSAGE_KIND_UNSPECIFIED: KindMessage,
	chatv1.MessageKind_MESSAGE_KIND_EDIT:        KindEdit,
	chatv1.MessageKind_MESSAGE_KIND_DELETE:      KindDelete,
	chatv1.MessageKind_MESSAGE_KIND_TOPIC:       KindTopic,
	chatv1.MessageKind_MESSAGE_KIND_KICK:        KindKick,
	chatv1.MessageKind_MESSAGE_KIND_BAN:         KindBan,
	chatv1.MessageKind_MESSAGE_KIND_UNBAN:       KindUnban,
}

func messageKindFromProto(k chatv1.MessageKind) MessageKind {
	if out, ok := kindFromProto[k]; ok {
		return out
	}
	return MessageKind(fmt.Sprintf("kind(%d)", k))
}

// Ban keeps a user out of a room.
type Ban struct {
	UserID    string
	Reason    string
	BannedBy  string
	BannedAt  time.Time
	ExpiresAt time.Time // zero: never
}

func banFromProto(b *chatv1.Ban) Ban {
	return Ban{
		UserID:    b.GetUserId(),
		Reason:    b.GetReason(),
		BannedBy:  b.GetBannedBy(),
		BannedAt:  timeOf(b.GetBannedAt()),
		ExpiresAt: timeOf(b.GetExpiresAt()),
	}
}

// Rights are what a user may do in a room, so a UI offers only what will
// succeed.
type Rights struct {
	CanPost     bool
	CanModerate bool
	// EditWindow is how long after sending the user may edit or delete
	// their own messages; 0 means never.
	EditWindow time.Duration
}

func rightsFromProto(r *chatv1.Rights) Rights {
	return Rights{CanPost: r.GetCanPost(), CanModerate: r.GetCanModerate(), EditWindow: time.Duration(r.GetEditWindowSeconds()) * time.Second}
}

// RoomWithRights returns a room like RoomInfo (read state included), with
// what userID may do in it.
func (c *Client) RoomWithRights(ctx context.Context, userID, roomID string) (Room, Rights, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.RoomInfoResponse, error) {
		return p.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: userID, RoomId: roomID, IncludeRights: true})
	})
	if err != nil {
		return Room{}, Rights{}, err
	}
	room := roomFromProto(resp.GetRoom())
	room.Read = readStateFromProto(resp.GetReadState())
	return room, rightsFromProto(resp.GetRights()), nil
}

// ChangeResult is the outcome of EditMessage and DeleteMessage.
type ChangeResult struct {
	// Event is the edit or delete event, with its own sequence; Target
	// names the message it changed.
	Event Message
	// Duplicate is true when the same change had been made before and
	// nothing new was stored.
	Duplicate bool
}

// EditMessage replaces the text of userID's own message seq, within the
// plugin's edit window. clientID (optional) makes a retry safe. Errors:
// ErrMessageNotFound, ErrMessageDeleted, ErrPermissionDenied (with
// Error.Reason NOT_AUTHOR or EDIT_WINDOW_PASSED), ErrBanned.
func (c *Client) EditMessage(ctx context.Context, userID, roomID string, seq uint64, text, clientID string) (ChangeResult, error) {
	if !utf8.ValidString(text) || !utf8.ValidString(clientID) {
		return ChangeResult{}, &Error{Kind: ErrInvalidArgument, Message: "message text and client id must be valid UTF-8"}
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.EditMessageResponse, error) {
		return p.EditMessage(ctx, &chatv1.EditMessageRequest{UserId: userID, RoomId: roomID, Seq: seq, Text: text, ClientId: clientID})
	})
	if err != nil {
		return ChangeResult{}, err
	}
	return ChangeResult{Event: messageFromProto(resp.GetEdit()), Duplicate: resp.GetDuplicate()}, nil
}

// DeleteMessage deletes message seq: userID's own within the edit window,
// or any with moderate permission. reason is optional. Deleting again as
// the same user returns the first delete (Duplicate).
func (c *Client) DeleteMessage(ctx context.Context, userID, roomID string, seq uint64, reason string) (ChangeResult, error) {
	if !utf8.ValidString(reason) {
		return ChangeResult{}, &Error{Kind: ErrInvalidArgument, Message: "reason must be valid UTF-8"}
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.DeleteMessageResponse, error) {
		return p.DeleteMessage(ctx, &chatv1.DeleteMessageRequest{UserId: userID, RoomId: roomID, Seq: seq, Reason: reason})
	})
	if err != nil {
		return ChangeResult{}, err
	}
	return ChangeResult{Event: messageFromProto(resp.GetDelete()), Duplicate: resp.GetDuplicate()}, nil
}

// SetTopic sets the room topic (moderators); empty clears it. It returns
// the topic event.
func (c *Client) SetTopic(ctx context.Context, userID, roomID, topic string) (Message, error) {
	if !utf8.ValidString(topic) {
		return Message{}, &Error{Kind: ErrInvalidArgument, Message: "topic must be valid UTF-8"}
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.SetTopicResponse, error) {
		return p.SetTopic(ctx, &chatv1.SetTopicRequest{UserId: userID, RoomId: roomID, Topic: topic})
	})
	if err != nil {
		return Message{}, err
	}
	return messageFromProto(resp.GetEvent()), nil
}

// Kick ends target's open streams of the room now (moderators); target
// may come back. It returns the kick event.
func (c *Client) Kick(ctx context.Context, userID, roomID, target, reason string) (Message, error) {
	if !utf8.ValidString(reason) || !utf8.ValidString(target) {
		return Message{}, &Error{Kind: ErrInvalidArgument, Message: "user id and reason must be valid UTF-8"}
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.KickResponse, error) {
		return p.Kick(ctx, &chatv1.KickRequest{UserId: userID, RoomId: roomID, TargetUserId: target, Reason: reason})
	})
	if err != nil {
		return Message{}, err
	}
	return messageFromProto(resp.GetEvent()), nil
}

// Ban keeps target out of the room until expires (zero: until lifted),
// even where the page lets them view (moderators). Their open streams end.
func (c *Client) Ban(ctx context.Context, userID, roomID, target, reason string, expires time.Time) (Ban, error) {
	if !utf8.ValidString(reason) || !utf8.ValidString(target) {
		return Ban{}, &Error{Kind: ErrInvalidArgument, Message: "user id and reason must be valid UTF-8"}
	}
	req := &chatv1.BanRequest{UserId: userID, RoomId: roomID, TargetUserId: target, Reason: reason}
	if !expires.IsZero() {
		req.ExpiresAt = timestamppb.New(expires)
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.BanResponse, error) {
		return p.Ban(ctx, req)
	})
	if err != nil {
		return Ban{}, err
	}
	return banFromProto(resp.GetBan()), nil
}

// Unban lifts target's ban (moderators). It reports whether there was a
// ban in force; lifting none is not an error.
func (c *Client) Unban(ctx context.Context, userID, roomID, target string) (bool, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.UnbanResponse, error) {
		return p.Unban(ctx, &chatv1.UnbanRequest{UserId: userID, RoomId: roomID, TargetUserId: target})
	})
	if err != nil {
		return false, err
	}
	return resp.GetEvent() != nil, nil
}

// Bans lists the bans in force in the room (moderators).
func (c *Client) Bans(ctx context.Context, userID, roomID string) ([]Ban, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.ListBansResponse, error) {
		return p.ListBans(ctx, &chatv1.ListBansRequest{UserId: userID, RoomId: roomID})
	})
	if err != nil {
		return nil, err
	}
	return bansFromProto(resp.GetBans()), nil
}

func bansFromProto(bs []*chatv1.Ban) []Ban {
	out := make([]Ban, len(bs))
	for i, b := range bs {
		out[i] = banFromProto(b)
	}
	return out
}
