package hostsdk

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// ReadState is one user's reading position in one room.
type ReadState struct {
	// LastRead is the read marker: every message up to it has been read.
	LastRead uint64
	// Unread counts other people's messages after the marker (at most
	// 1000); Mentions those of them that mention the user or the room.
	Unread, Mentions int
	// Watching says the user is alerted to new activity in the room.
	Watching bool
}

func readStateFromProto(r *chatv1.ReadState) ReadState {
	return ReadState{LastRead: r.GetLastReadSeq(), Unread: int(r.GetUnread()), Mentions: int(r.GetMentions()), Watching: r.GetWatching()}
}

// MarkRead moves userID's read marker in roomID forward to seq (never
// back; a seq past the last message counts as the last). The plugin
// writes markers in batches about a second apart.
func (c *Client) MarkRead(ctx context.Context, userID, roomID string, seq uint64) (ReadState, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.MarkReadResponse, error) {
		return p.MarkRead(ctx, &chatv1.MarkReadRequest{UserId: userID, RoomId: roomID, Seq: seq})
	})
	if err != nil {
		return ReadState{}, err
	}
	return readStateFromProto(resp.GetReadState()), nil
}

// SetWatch makes userID watch roomID, or stop watching it.
func (c *Client) SetWatch(ctx context.Context, userID, roomID string, watching bool) (bool, error) {
	resp, err := call(ctx, c, func(ctx context.Context, p chatv1.ChatPluginClient) (*chatv1.SetWatchResponse, error) {
		return p.SetWatch(ctx, &chatv1.SetWatchRequest{UserId: userID, RoomId: roomID, Watching: watching})
	})
	if err != nil {
		return false, err
	}
	return resp.GetWatching(), nil
}

// WithWatchQuietPeriod sets the least time between two notifications to
// one user about new activity in one watched room (default 10 minutes,
// at most 24 hours): what happens in between goes out as one summary.
func WithWatchQuietPeriod(d time.Duration) Option {
	return optionFunc(func(c *config) error {
		if d < time.Millisecond || d > 24*time.Hour {
			return fmt.Errorf("WithWatchQuietPeriod: %v out of range 1ms..24h", d)
		}
		c.watchQuiet = d
		return nil
	})
}

// WithAuthorsWatch says whether the author of a chat page (Page.AuthorID)
// watches its rooms until they unwatch (the default, true).
func WithAuthorsWatch(on bool) Option {
	return optionFunc(func(c *config) error {
		c.authorsDoNotWatch = !on
		return nil
	})
}

// WithRoomMentionsPerHour lets users who are not moderators mention a
// whole room (@room, which notifies everyone watching it) n times per room
// and hour; -1 lets them without a limit. By default only moderators may.
func WithRoomMentionsPerHour(n int64) Option {
	return optionFunc(func(c *config) error {
		if n == 0 || n < -1 {
			return fmt.Errorf("WithRoomMentionsPerHour: %d; use a positive rate or -1 for no limit", n)
		}
		c.roomMentionsPerHour = n
		return nil
	})
}

// SearchUsers serves HostAPI.SearchUsers from a Host that implements
// UserSearcher.
func (s *hostAPIServer) SearchUsers(ctx context.Context, req *hostv1.SearchUsersRequest) (*hostv1.SearchUsersResponse, error) {
	us, ok := s.host.(UserSearcher)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "host does not list users")
	}
	limit := int(req.GetLimit())
	if limit <= 0 || limit > maxUserSearch {
		limit = maxUserSearch
	}
	users, err := us.SearchUsers(ctx, req.GetPageId(), req.GetPrefix(), limit)
	if err != nil {
		return nil, toStatus("search users", err)
	}
	resp := &hostv1.SearchUsersResponse{}
	for i, u := range users {
		if i == limit {
			break
		}
		resp.Users = append(resp.Users, &hostv1.User{Id: u.ID, DisplayName: u.DisplayName})
	}
	return resp, nil
}

// maxUserSearch bounds one user search: a completion list, not a
// directory dump.
const maxUserSearch = 50

func (h *Handler) notifyRoutes(mux *http.ServeMux) {
	p := h.cfg.prefix
	mux.HandleFunc(p+"api/rooms/{roomID}/read", h.api(map[string]apiFunc{http.MethodPost: h.serveMarkRead}))
	mux.HandleFunc(p+"api/rooms/{roomID}/watch", h.api(map[string]apiFunc{
		http.MethodPut:    h.serveWatch(true),
		http.MethodDelete: h.serveWatch(false),
	}))
	mux.HandleFunc(p+"api/rooms/{roomID}/mentionable", h.api(map[string]apiFunc{http.MethodGet: h.serveMentionable}))
}

type readStateJSON struct {
	LastRead uint64 `json:"last_read"`
	Unread   int    `json:"unread"`
	Mentions int    `json:"mentions"`
	Watching bool   `json:"watching"`
}

func toReadStateJSON(r ReadState) readStateJSON {
	return readStateJSON{LastRead: r.LastRead, Unread: r.Unread, Mentions: r.Mentions, Watching: r.Watching}
}

// serveMarkRead serves POST {prefix}api/rooms/{roomID}/read {"seq": N}.
func (h *Handler) serveMarkRead(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	if err := h.checkCSRF(r, id); err != nil {
		return err
	}
	var body struct {
		Seq *uint64 `json:"seq"`
	}
	// decodeStrict (http_moderation.go) answers 400 or, for a body over
	// the limit, 413.
	if err := decodeStrict(http.MaxBytesReader(w, r.Body, 1<<10), &body); err != nil {
		return err
	}
	if body.Seq == nil {
		return badRequest("seq is required")
	}
	st, err := h.client.MarkRead(r.Context(), id.UserID, roomID, *body.Seq)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toReadStateJSON(st))
	return nil
}

// serveWatch serves PUT and DELETE {prefix}api/rooms/{roomID}/watch.
func (h *Handler) serveWatch(on bool) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
		if err := h.checkCSRF(r, id); err != nil {
			return err
		}
		watching, err := h.client.SetWatch(r.Context(), id.UserID, roomID, on)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, map[string]bool{"watching": watching})
		return nil
	}
}

type mentionableJSON struct {
	UserID      string `json:"user_id"`
	DisplayName string `json:"display_name"`
}

// serveMentionable serves GET {prefix}api/rooms/{roomID}/mentionable?q=:
// the names @ completes to, from the room's participants and the users the
// host says may view the page. The user must be able to view the room.
func (h *Handler) serveMentionable(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	q := r.URL.Query().Get("q")
	if len(q) > 256 || !utf8.ValidString(q) {
		return badRequest("q must be at most 256 bytes of UTF-8")
	}
	room, err := h.client.RoomInfo(r.Context(), id.UserID, roomID)
	if err != nil {
		return err
	}
	const limit = 20
	lq := strings.ToLower(q)
	match := func(u User) bool {
		return strings.HasPrefix(strings.ToLower(u.ID), lq) || strings.HasPrefix(strings.ToLower(u.DisplayName), lq)
	}
	out := []mentionableJSON{}
	seen := make(map[string]bool)
	add := func(u User) {
		if len(out) < limit && !seen[u.ID] && u.ID != "" && match(u) {
			seen[u.ID] = true
			out = append(out, mentionableJSON{UserID: u.ID, DisplayName: u.DisplayName})
		}
	}
	for _, p := range room.Participants {
		add(User{ID: p.UserID, DisplayName: p.DisplayName})
	}
	if us, ok := h.pages.(UserSearcher); ok && len(out) < limit {
		users, err := us.SearchUsers(r.Context(), room.PageID, q, limit)
		if err != nil {
			return fmt.Errorf("search users: %w", err)
		}
		for _, u := range users {
			add(u)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"users": out})
	return nil
}
