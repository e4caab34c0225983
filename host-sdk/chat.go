package hostsdk

import (
	"context"
	"fmt"
	"unicode/utf8"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// Health is the plugin's self-report.
type Health struct {
	Configured    bool
	PluginVersion string
	Rooms         int64
}

// Health asks the plugin whether it is configured and how many rooms it
// has.
func (c *Client) Health(ctx context.Context) (Health, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.HealthResponse, error) {
		return p.Health(ctx, &chatv1.HealthRequest{})
	})
	if err != nil {
		return Health{}, err
	}
	return healthFromProto(resp), nil
}

func healthFromProto(r *chatv1.HealthResponse) Health {
	return Health{Configured: r.GetConfigured(), PluginVersion: r.GetPluginVersion(), Rooms: r.GetRooms()}
}

// OpenRoom creates the room name on pageID, or returns it if it exists.
// userID needs view permission on the page.
func (c *Client) OpenRoom(ctx context.Context, userID, pageID, name string) (Room, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.OpenRoomResponse, error) {
		return p.OpenRoom(ctx, &chatv1.OpenRoomRequest{UserId: userID, PageId: pageID, Name: name})
	})
	if err != nil {
		return Room{}, err
	}
	return roomFromProto(resp.GetRoom()), nil
}

// RoomInfo returns a room with its participants' current presence.
func (c *Client) RoomInfo(ctx context.Context, userID, roomID string) (Room, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.RoomInfoResponse, error) {
		return p.RoomInfo(ctx, &chatv1.RoomInfoRequest{UserId: userID, RoomId: roomID})
	})
	if err != nil {
		return Room{}, err
	}
	room := roomFromProto(resp.GetRoom())
	room.Read = readStateFromProto(resp.GetReadState())
	return room, nil
}

// RenderedMacro is a macro rendered for one viewer.
type RenderedMacro struct {
	HTML   string // safe to insert into the page as is
	RoomID string // empty if the macro was invalid or the viewer may not see it
}

// MacroRequest describes one chat macro on a page being rendered.
type MacroRequest struct {
	UserID string // the viewer
	PageID string
	Name   string            // room name from the macro
	Params map[string]string // macro parameters
	// ChatPrefix is where the host mounts the chat HTTP handler; the
	// default is "/chat/".
	ChatPrefix string
}

// RenderMacro renders a chat macro as HTML for the page it sits on. An
// invalid macro, or a viewer without view permission, renders as a short
// notice rather than an error, so a page always renders.
func (c *Client) RenderMacro(ctx context.Context, req MacroRequest) (RenderedMacro, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.RenderMacroResponse, error) {
		return p.RenderMacro(ctx, &chatv1.RenderMacroRequest{
			UserId:        req.UserID,
			PageId:        req.PageID,
			Name:          req.Name,
			Params:        req.Params,
			ChatUrlPrefix: req.ChatPrefix,
		})
	})
	if err != nil {
		return RenderedMacro{}, err
	}
	return renderedMacroFromProto(resp), nil
}

func renderedMacroFromProto(r *chatv1.RenderMacroResponse) RenderedMacro {
	return RenderedMacro{HTML: r.GetHtml(), RoomID: r.GetRoomId()}
}

// SendResult is the outcome of Send.
type SendResult struct {
	Message Message
	// Duplicate is true when the client id had been used before: nothing
	// new was stored and Message is the original.
	Duplicate bool
}

// Send stores a message durably and returns it with its sequence number.
// clientID makes retries safe: sending the same clientID again returns the
// stored message instead of storing a second one, so on any error the
// caller may simply send again.
func (c *Client) Send(ctx context.Context, userID, roomID, clientID, text string) (SendResult, error) {
	// Protobuf refuses to encode invalid UTF-8, which would surface as an
	// opaque internal error; say what is wrong instead.
	if !utf8.ValidString(text) || !utf8.ValidString(clientID) {
		return SendResult{}, &Error{Kind: ErrInvalidArgument, Message: "message text and client id must be valid UTF-8"}
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.SendResponse, error) {
		return p.Send(ctx, &chatv1.SendRequest{UserId: userID, RoomId: roomID, ClientId: clientID, Text: text})
	})
	if err != nil {
		return SendResult{}, err
	}
	return sendResultFromProto(resp), nil
}

func sendResultFromProto(r *chatv1.SendResponse) SendResult {
	return SendResult{Message: messageFromProto(r.GetMessage()), Duplicate: r.GetDuplicate()}
}

// HistoryPage is a page of older messages, oldest first.
type HistoryPage struct {
	Messages []Message
	HasMore  bool // older messages exist before Messages[0]
	Epoch    string
}

// History returns up to limit messages before beforeSeq (0 = the newest),
// oldest first. limit 0 means 50; at most 500.
func (c *Client) History(ctx context.Context, userID, roomID string, beforeSeq uint64, limit int) (HistoryPage, error) {
	if limit < 0 || limit > 500 {
		return HistoryPage{}, &Error{Kind: ErrInvalidArgument, Message: fmt.Sprintf("limit %d out of range 0..500", limit)}
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.HistoryResponse, error) {
		return p.History(ctx, &chatv1.HistoryRequest{UserId: userID, RoomId: roomID, BeforeSeq: beforeSeq, Limit: int32(limit)})
	})
	if err != nil {
		return HistoryPage{}, err
	}
	return historyPageFromProto(resp), nil
}

func historyPageFromProto(r *chatv1.HistoryResponse) HistoryPage {
	page := HistoryPage{HasMore: r.GetHasMore(), Epoch: r.GetEpoch(), Messages: make([]Message, len(r.GetMessages()))}
	for i, m := range r.GetMessages() {
		page.Messages[i] = messageFromProto(m)
	}
	return page
}

// Join marks userID present in the room and returns its participants.
func (c *Client) Join(ctx context.Context, userID, roomID string) ([]Participant, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.JoinResponse, error) {
		return p.Join(ctx, &chatv1.JoinRequest{UserId: userID, RoomId: roomID})
	})
	if err != nil {
		return nil, err
	}
	return participantsFromProto(resp.GetParticipants()), nil
}

// Leave undoes one Join.
func (c *Client) Leave(ctx context.Context, userID, roomID string) error {
	_, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.LeaveResponse, error) {
		return p.Leave(ctx, &chatv1.LeaveRequest{UserId: userID, RoomId: roomID})
	})
	return err
}

// Presence returns the room's participants and who is online.
func (c *Client) Presence(ctx context.Context, userID, roomID string) ([]Participant, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.PresenceResponse, error) {
		return p.Presence(ctx, &chatv1.PresenceRequest{UserId: userID, RoomId: roomID})
	})
	if err != nil {
		return nil, err
	}
	return participantsFromProto(resp.GetParticipants()), nil
}

// Typing tells the room's open streams that userID is typing. Nothing is
// stored. The user needs post permission; signals beyond the plugin's
// typing rate fail with ErrRateLimited.
func (c *Client) Typing(ctx context.Context, userID, roomID string) error {
	_, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.TypingResponse, error) {
		return p.Typing(ctx, &chatv1.TypingRequest{UserId: userID, RoomId: roomID})
	})
	return err
}

// roomUsers names users of one room, for authorizeRooms.
type roomUsers struct {
	roomID string
	users  []string
}

// roomAuthorization is one room's answer from authorizeRooms.
type roomAuthorization struct {
	allowed []string
	// err, if set, says why the room could not be checked; its users are
	// then unconfirmed, not refused.
	err string
}

func authorizeRoomsFromProto(r *chatv1.AuthorizeRoomsResponse) []roomAuthorization {
	out := make([]roomAuthorization, len(r.GetRooms()))
	for i, a := range r.GetRooms() {
		out[i] = roomAuthorization{allowed: a.GetAllowedUserIds(), err: a.GetError()}
	}
	return out
}

// authorizeRooms is AuthorizeViewers for many rooms in one call (at most
// limits.ViewersPerRoomsCheck users in all); it answers rooms in order.
func (c *Client) authorizeRooms(ctx context.Context, rooms []roomUsers) ([]roomAuthorization, error) {
	req := &chatv1.AuthorizeRoomsRequest{Rooms: make([]*chatv1.AuthorizeViewersRequest, len(rooms))}
	for i, r := range rooms {
		req.Rooms[i] = &chatv1.AuthorizeViewersRequest{RoomId: r.roomID, UserIds: r.users}
	}
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.AuthorizeRoomsResponse, error) {
		return p.AuthorizeRooms(ctx, req)
	})
	if err != nil {
		return nil, err
	}
	out := authorizeRoomsFromProto(resp)
	if len(out) != len(rooms) {
		return nil, fmt.Errorf("plugin answered %d rooms of %d: %w", len(out), len(rooms), ErrPluginUnavailable)
	}
	return out, nil
}

// AuthorizeViewers returns those of userIDs (at most 1000) who may view
// roomID, as the plugin decides with the host.
func (c *Client) AuthorizeViewers(ctx context.Context, roomID string, userIDs []string) ([]string, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.AuthorizeViewersResponse, error) {
		return p.AuthorizeViewers(ctx, &chatv1.AuthorizeViewersRequest{RoomId: roomID, UserIds: userIDs})
	})
	if err != nil {
		return nil, err
	}
	return resp.GetAllowedUserIds(), nil
}
