package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/internal/limits"
	"github.com/pagechat/pagechat/macro"
	"github.com/pagechat/pagechat/plugin/internal/hub"
	"github.com/pagechat/pagechat/plugin/internal/mention"
	"github.com/pagechat/pagechat/plugin/internal/render"
	"github.com/pagechat/pagechat/plugin/internal/store"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// runtime is the chat logic of one configured plugin process: everything
// Configure sets up, living until Shutdown. Its methods speak plain Go and
// return errors of the kinds in errors.go; server.go converts.
type runtime struct {
	logger          hclog.Logger
	now             func() time.Time
	maxMessageBytes int
	maxUploadBytes  int64
	permTTL         time.Duration
	// editWindow is how long authors may edit and delete their messages;
	// 0 means never.
	editWindow time.Duration
	// chatPrefix is where the host mounts the browser API, for links.
	chatPrefix string
	// roomLinks are the host's extra links shown beside Join Chat.
	roomLinks []roomLinkSetting
	// location decides transcript day boundaries and how absolute times
	// read in the macro table (ConfigureRequest.time_zone).
	location *time.Location

	store     store.Store
	hub       *hub.Hub
	host      *hostClient
	closeHost func() error // closes the connection host uses
	perms     *permCache
	users     *userCache
	presence  presenceCounter
	limiter   *rateLimiter // nil when disabled
	quota     *uploadQuota // nil when disabled
	// typingLimit bounds typing signals per user and room; never nil.
	typingLimit *rateLimiter
	epochs      sync.Map      // room id -> epoch, see epoch
	done        chan struct{} // closed by Close: ends open streams

	transcripts *transcripts // daily transcript pages; see transcripts.go
	notify      *notifier    // mentions, watched rooms, read markers; see notify.go
	unread      unreadCache  // recent unread counts; see unreadKey
	// roomMentions limits @room for non-moderators (nil: no rate set).
	roomMentions *tokenBuckets
	// stopCluster, in cluster mode, stops the presence heartbeat.
	stopCluster func()
}

// openRoom creates the room for a macro on a page, or returns the existing
// one; a user banned from it is refused (the room is still created).
func (rt *runtime) openRoom(ctx context.Context, userID, pageID, name string) (store.Room, error) {
	if err := checkUserID(userID); err != nil {
		return store.Room{}, err
	}
	name = strings.TrimSpace(name)
	if !utf8.ValidString(name) || !utf8.ValidString(pageID) {
		return store.Room{}, failf(errInvalid, "page id and room name must be valid UTF-8")
	}
	roomID, err := macro.RoomID(pageID, name)
	if err != nil {
		return store.Room{}, failf(errInvalid, "room %q on page %q: %v", name, pageID, err)
	}
	if err := rt.authorize(ctx, userID, pageID, hostv1.Permission_PERMISSION_VIEW); err != nil {
		return store.Room{}, err
	}
	legacy, ok, err := rt.legacyRoom(ctx, roomID, pageID, name)
	if err != nil {
		return store.Room{}, err
	}
	room := legacy
	if !ok {
		room, err = rt.store.CreateRoom(ctx, store.Room{ID: roomID, PageID: pageID, Name: name, Slug: macro.Slug(name)})
		if err != nil {
			return store.Room{}, storeErr(err, roomID)
		}
	}
	// A ban holds where the page lets the user view: the room exists
	// (a ban names an existing room), but it is not theirs to open.
	if err := rt.checkBan(ctx, room.ID, userID); err != nil {
		return store.Room{}, err
	}
	return room, nil
}

// legacyRoom finds a room created under the old ASCII-only slug rule, so
// that a name such as "Café" keeps the room (and messages) it had under its
// old id after slugs began to keep Unicode letters. It reports false when
// the room already exists under its new id, when the old rule gave the same
// or no id, or when the room under the old id belongs to another name: the
// old rule merged names ("Δ Room" and "Ω Room" both became "room"), and only
// the name that really created the room may keep it; the others get rooms
// of their own.
func (rt *runtime) legacyRoom(ctx context.Context, roomID, pageID, name string) (store.Room, bool, error) {
	legacyID, ok := macro.LegacyRoomID(pageID, name)
	if !ok {
		return store.Room{}, false, nil
	}
	if _, err := rt.store.Room(ctx, roomID); !errors.Is(err, store.ErrRoomNotFound) {
		if err != nil {
			return store.Room{}, false, storeErr(err, roomID)
		}
		return store.Room{}, false, nil // exists under the new id: CreateRoom returns it
	}
	room, err := rt.store.Room(ctx, legacyID)
	switch {
	case errors.Is(err, store.ErrRoomNotFound):
		return store.Room{}, false, nil
	case err != nil:
		return store.Room{}, false, storeErr(err, legacyID)
	case room.Name != name:
		return store.Room{}, false, nil
	}
	return room, true, nil
}

// viewRoom checks view permission and loads the room. Permission comes
// before existence so that a user who cannot see a page cannot probe which
// rooms it has.
func (rt *runtime) viewRoom(ctx context.Context, userID, roomID string) (store.Room, error) {
	pageID, err := checkRoomRequest(userID, roomID)
	if err != nil {
		return store.Room{}, err
	}
	if err := rt.authorize(ctx, userID, pageID, hostv1.Permission_PERMISSION_VIEW); err != nil {
		return store.Room{}, err
	}
	if err := rt.checkBan(ctx, roomID, userID); err != nil {
		return store.Room{}, err
	}
	room, err := rt.store.Room(ctx, roomID)
	if err != nil {
		return store.Room{}, storeErr(err, roomID)
	}
	return room, nil
}

// sendRequest is a message a user wants to post.
type sendRequest struct {
	userID, roomID, clientID, text string
}

// send validates, authorises and durably stores a message. It returns the
// stored message, the room's epoch, and whether the client id had been
// used before (nothing new stored).
func (rt *runtime) send(ctx context.Context, req sendRequest) (msg store.Message, epoch string, duplicate bool, err error) {
	pageID, err := checkRoomRequest(req.userID, req.roomID)
	if err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.checkText(req.text); err != nil {
		return store.Message{}, "", false, err
	}
	if err := checkClientID(req.clientID); err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.authorize(ctx, req.userID, pageID, hostv1.Permission_PERMISSION_POST); err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.checkBan(ctx, req.roomID, req.userID); err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.rateLimit(req.userID, req.roomID); err != nil {
		return store.Message{}, "", false, err
	}
	name, err := rt.users.displayName(ctx, req.userID)
	if err != nil {
		return store.Message{}, "", false, err
	}
	html, ment, err := rt.renderText(ctx, req.userID, req.roomID, pageID, req.text)
	if err != nil {
		return store.Message{}, "", false, err
	}
	msg, duplicate, err = rt.store.Append(ctx, req.roomID, store.NewMessage{
		ClientID:     req.clientID,
		UserID:       req.userID,
		UserName:     name,
		Text:         req.text,
		HTML:         html,
		Mentions:     ment.UserIDs,
		MentionsRoom: ment.Room,
	})
	if err != nil {
		return store.Message{}, "", false, storeErr(err, req.roomID)
	}
	epoch, err = rt.epoch(ctx, req.roomID)
	if err != nil {
		return store.Message{}, "", false, storeErr(err, req.roomID)
	}
	return msg, epoch, duplicate, nil
}

// renderText renders a message's text to safe HTML as its sender sees
// the wiki (links to pages they may not view render as missing) and finds
// and highlights its mentions: what a send and an edit both store.
func (rt *runtime) renderText(ctx context.Context, userID, roomID, pageID, text string) (string, mention.Result, error) {
	renderer := render.Renderer{Resolver: rt.host.linksFor(userID)}
	html, err := renderer.Render(ctx, pageID, text)
	if err != nil {
		return "", mention.Result{}, err
	}
	ment, err := rt.mentions(ctx, userID, roomID, pageID, text)
	if err != nil {
		return "", mention.Result{}, err
	}
	return mention.Highlight(string(html), ment), ment, nil
}

// epoch returns a room's epoch. It never changes for a room id, so it is
// read from storage once; a send then costs no extra read transaction.
func (rt *runtime) epoch(ctx context.Context, roomID string) (string, error) {
	if e, ok := rt.epochs.Load(roomID); ok {
		return e.(string), nil
	}
	room, err := rt.store.Room(ctx, roomID)
	if err != nil {
		return "", err
	}
	rt.epochs.Store(roomID, room.Epoch)
	return room.Epoch, nil
}

// rateLimit refuses a send beyond the user's per-room rate.
func (rt *runtime) rateLimit(userID, roomID string) error {
	ok, wait := rt.limiter.allow(userID, roomID)
	if ok {
		return nil
	}
	return &rateLimitedError{
		msg:  fmt.Sprintf("user %q is sending to room %q too fast; retry in %v", userID, roomID, wait.Round(time.Second)),
		wait: wait,
	}
}

func (rt *runtime) checkText(text string) error {
	switch {
	case !utf8.ValidString(text):
		return failf(errInvalid, "message text must be valid UTF-8")
	case strings.TrimSpace(text) == "":
		return failf(errInvalid, "message text is empty")
	case len(text) > rt.maxMessageBytes:
		return failf(errInvalid, "message text is %d bytes; the limit is %d", len(text), rt.maxMessageBytes)
	}
	return nil
}

// history returns a page of stored messages before beforeSeq (0: the
// newest), oldest first, and whether older ones exist.
func (rt *runtime) history(ctx context.Context, userID, roomID string, beforeSeq uint64, limit int) (room store.Room, msgs []store.Message, more bool, err error) {
	switch {
	case limit == 0:
		limit = limits.DefaultHistoryPage
	case limit < 0 || limit > limits.MaxHistoryPage:
		return store.Room{}, nil, false, failf(errInvalid, "limit %d out of range 1..%d", limit, limits.MaxHistoryPage)
	}
	room, err = rt.viewRoom(ctx, userID, roomID)
	if err != nil {
		return store.Room{}, nil, false, err
	}
	msgs, more, err = rt.store.Before(ctx, room.ID, beforeSeq, limit)
	if err != nil {
		return store.Room{}, nil, false, storeErr(err, room.ID)
	}
	return room, msgs, more, nil
}

// joinRoom checks view permission, marks the user present and returns the
// room as it is after the join.
func (rt *runtime) joinRoom(ctx context.Context, userID, roomID string) (store.Room, error) {
	room, err := rt.viewRoom(ctx, userID, roomID)
	if err != nil {
		return store.Room{}, err
	}
	if err := rt.join(ctx, room.ID, userID); err != nil {
		return store.Room{}, err
	}
	room, err = rt.store.Room(ctx, room.ID)
	if err != nil {
		return store.Room{}, storeErr(err, room.ID)
	}
	return room, nil
}

// join records the participant and counts them online, announcing the
// change when they were not online before.
func (rt *runtime) join(ctx context.Context, roomID, userID string) error {
	name, err := rt.users.displayName(ctx, userID)
	if err != nil {
		return err
	}
	now := rt.now()
	if err := rt.store.TouchParticipant(ctx, roomID, store.Participant{UserID: userID, DisplayName: name, LastSeen: now}); err != nil {
		return storeErr(err, roomID)
	}
	if rt.presence.inc(roomID, userID) {
		rt.hub.Publish(roomID, hub.Event{Presence: &hub.Presence{UserID: userID, DisplayName: name, Online: true, At: now}})
	}
	return nil
}

// leave undoes one join. It needs no permission: leaving only ever reduces
// what the user is shown as doing.
func (rt *runtime) leave(roomID, userID string) {
	if rt.presence.dec(roomID, userID) {
		name := rt.users.cachedName(userID)
		rt.hub.Publish(roomID, hub.Event{Presence: &hub.Presence{UserID: userID, DisplayName: name, Online: false, At: rt.now()}})
	}
}

// authorizeViewers returns those of userIDs who may view roomID.
func (rt *runtime) authorizeViewers(ctx context.Context, roomID string, userIDs []string) ([]string, error) {
	pageID, _, err := macro.SplitRoomID(roomID)
	if err != nil {
		return nil, failf(errInvalid, "%v", err)
	}
	if n := len(userIDs); n > limits.ViewersPerCheck {
		return nil, failf(errInvalid, "%d user ids; at most %d per call", n, limits.ViewersPerCheck)
	}
	keys := make([]permKey, len(userIDs))
	for i, userID := range userIDs {
		if err := checkUserID(userID); err != nil {
			return nil, err
		}
		keys[i] = permKey{userID, pageID, hostv1.Permission_PERMISSION_VIEW}
	}
	// One question to the host for all the viewers the cache cannot
	// answer, rather than a round trip each.
	allowed, err := rt.perms.checkMany(ctx, keys)
	if err != nil {
		return nil, rt.permCheckFailed(err, "room", roomID, "viewers", len(keys))
	}
	banned, err := rt.bannedAmong(ctx, roomID)
	if err != nil && !errors.Is(err, errNotFound) {
		return nil, err
	}
	var out []string
	for i, ok := range allowed {
		if ok && !banned[keys[i].user] {
			out = append(out, keys[i].user)
		}
	}
	return out, nil
}

// roomViewers is one room of an authorizeRooms call: the users to check,
// and the answer.
type roomViewers struct {
	roomID  string
	users   []string
	allowed []string
	err     error // this room could not be checked
}

// authorizeRooms is authorizeViewers for many rooms, with every answer the
// cache lacks asked of the host together. A room that cannot be checked
// (a malformed id, a store error reading its bans) gets its own err; the
// call fails only when the host cannot answer, which concerns them all.
func (rt *runtime) authorizeRooms(ctx context.Context, rooms []roomViewers) error {
	n := 0
	for _, r := range rooms {
		n += len(r.users)
	}
	if n > limits.ViewersPerRoomsCheck {
		return failf(errInvalid, "%d user ids; at most %d per call", n, limits.ViewersPerRoomsCheck)
	}
	keys := make([]permKey, 0, n)
	for i := range rooms {
		r := &rooms[i]
		pageID, _, err := macro.SplitRoomID(r.roomID)
		if err != nil {
			r.err = failf(errInvalid, "%v", err)
			continue
		}
		for _, userID := range r.users {
			if err := checkUserID(userID); err != nil {
				r.err = err
				break
			}
		}
		if r.err != nil {
			continue
		}
		for _, userID := range r.users {
			keys = append(keys, permKey{userID, pageID, hostv1.Permission_PERMISSION_VIEW})
		}
	}
	allowed, err := rt.perms.checkMany(ctx, keys)
	if err != nil {
		return rt.permCheckFailed(err, "rooms", len(rooms), "viewers", len(keys))
	}
	k := 0
	for i := range rooms {
		r := &rooms[i]
		if r.err != nil {
			continue
		}
		ok := allowed[k : k+len(r.users)]
		k += len(r.users)
		banned, err := rt.bannedAmong(ctx, r.roomID)
		if err != nil && !errors.Is(err, errNotFound) {
			r.err = err
			continue
		}
		for j, yes := range ok {
			if yes && !banned[r.users[j]] {
				r.allowed = append(r.allowed, r.users[j])
			}
		}
	}
	return nil
}

// authorize asks the host (through the cache) whether userID has perm on
// pageID.
func (rt *runtime) authorize(ctx context.Context, userID, pageID string, perm hostv1.Permission) error {
	ok, err := rt.perms.check(ctx, userID, pageID, perm)
	if err != nil {
		return rt.permCheckFailed(err, "user", userID, "page", pageID, "permission", perm.String())
	}
	if !ok {
		verb := "view"
		if perm == hostv1.Permission_PERMISSION_POST {
			verb = "post on"
		}
		return failf(errDenied, "user %q may not %s page %q", userID, verb, pageID)
	}
	return nil
}

// permCheckFailed logs a permission lookup the host failed, with what was
// asked. The caller's own cancellation is not the host's failure and is
// not logged.
func (rt *runtime) permCheckFailed(err error, asked ...any) error {
	if errors.Is(err, errHostFailed) {
		rt.logger.Error("host permission check failed", append(asked, "error", err)...)
	}
	return err
}

// checkRoomRequest validates the user and room ids every room call carries
// and returns the room's page id.
func checkRoomRequest(userID, roomID string) (pageID string, err error) {
	if err := checkUserID(userID); err != nil {
		return "", err
	}
	if !utf8.ValidString(roomID) {
		return "", failf(errInvalid, "room id must be valid UTF-8")
	}
	pageID, _, err = macro.SplitRoomID(roomID)
	if err != nil {
		return "", failf(errInvalid, "%v", err)
	}
	return pageID, nil
}

func checkUserID(userID string) error {
	if userID == "" || len(userID) > limits.UserIDBytes || !utf8.ValidString(userID) {
		return failf(errInvalid, "user id must be 1 to %d bytes of UTF-8", limits.UserIDBytes)
	}
	return nil
}

func checkClientID(clientID string) error {
	if n := len(clientID); n == 0 || n > limits.ClientIDBytes {
		return failf(errInvalid, "client_id must be 1 to %d bytes, got %d", limits.ClientIDBytes, n)
	}
	return nil
}

// storeErr gives a store failure the sentence a user reads.
func storeErr(err error, roomID string) error {
	switch {
	case errors.Is(err, store.ErrRoomNotFound):
		return failf(errNotFound, "room %q not found", roomID)
	case errors.Is(err, store.ErrClosed):
		return errShuttingDown
	case errors.Is(err, store.ErrUnavailable):
		// Kept as is: toStatus answers UNAVAILABLE, which hosts show
		// as a 503 to retry shortly.
		return fmt.Errorf("the chat database is unavailable; try again shortly: %w", err)
	case errors.Is(err, store.ErrTooManyRooms),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.Is(err, syscall.ENOSPC):
		// The writer's batch failed as a whole: nothing of it was
		// committed, so the sentence can promise that.
		return failf(errStorageFull, "the chat's disk is full; nothing was saved (%v)", err)
	}
	return &chatError{kind: errStorage, msg: "storage: " + err.Error()}
}
