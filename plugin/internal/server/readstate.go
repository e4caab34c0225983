package server

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"github.com/pagechat/pagechat/plugin/internal/mention"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// readState is one user's reading position in one room.
type readState struct {
	lastRead uint64
	unread   int
	mentions int
	watching bool
}

func (r readState) proto() *chatv1.ReadState {
	return &chatv1.ReadState{LastReadSeq: r.lastRead, Unread: int64(r.unread), Mentions: int64(r.mentions), Watching: r.watching}
}

// readState counts what userID has not read in room: other people's
// messages after the marker, and those of them that mention the user or
// the room. It reads at most unreadScanCap messages.
func (rt *runtime) readState(ctx context.Context, room store.Room, userID string) (readState, error) {
	st, err := rt.unreadCounts(ctx, room, userID, unreadScanCap)
	if err != nil {
		return st, err
	}
	if st.watching, err = rt.watching(ctx, room, userID); err != nil {
		return st, err
	}
	return st, nil
}

// unreadCounts is readState without the watch state, reading at most
// scanCap messages: a count at the cap means at least that many.
func (rt *runtime) unreadCounts(ctx context.Context, room store.Room, userID string, scanCap uint64) (readState, error) {
	var st readState
	var err error
	if st.lastRead, err = rt.notify.markers.get(ctx, room.ID, userID); err != nil {
		return st, storeErr(err, room.ID)
	}
	if room.LastSeq <= st.lastRead {
		return st, nil
	}
	key := unreadKey{room: room.ID, epoch: room.Epoch, user: userID, lastRead: st.lastRead, lastSeq: room.LastSeq, scanCap: scanCap}
	if c, ok := rt.unread.get(key); ok {
		return c, nil
	}
	after := st.lastRead
	if room.LastSeq-after > scanCap {
		after = room.LastSeq - scanCap
	}
	msgs, err := rt.store.After(ctx, room.ID, after, int(scanCap))
	if err != nil {
		return st, storeErr(err, room.ID)
	}
	for _, m := range msgs {
		if m.Kind != store.KindMessage || m.UserID == userID || m.Erased {
			continue
		}
		st.unread++
		if m.MentionsRoom || slices.Contains(m.Mentions, userID) {
			st.mentions++
		}
	}
	rt.unread.put(key, st)
	return st, nil
}

// unreadKey is everything an unread count depends on. Every change to a
// room's messages (a send, an edit, a delete erasing an earlier one)
// appends to its log and so moves lastSeq, and a new log has a new epoch:
// a count stored under a key stays true for as long as nobody asks with
// another key.
type unreadKey struct {
	room, epoch, user string
	lastRead, lastSeq uint64
	scanCap           uint64
}

// maxUnreadCounts bounds the counts kept: one per viewer and room for the
// rooms being looked at. A page render decodes up to
// macrotable.MaxUnread messages to count them, which is most of the
// render's cost for a reader who is behind; the same viewer seeing the
// same page again, with nothing said since, is the common case.
const maxUnreadCounts = 4096

// unreadCache keeps recent unread counts. It forgets everything when it
// is full, which keeps it bounded without tracking use; the rooms in use
// are counted again at their next render.
type unreadCache struct {
	mu     sync.Mutex
	counts map[unreadKey]readState
}

func (c *unreadCache) get(k unreadKey) (readState, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, ok := c.counts[k]
	return st, ok
}

func (c *unreadCache) put(k unreadKey, st readState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.counts == nil || len(c.counts) >= maxUnreadCounts {
		c.counts = make(map[unreadKey]readState)
	}
	c.counts[k] = st
}

// watching reports whether userID gets watch alerts for room.
func (rt *runtime) watching(ctx context.Context, room store.Room, userID string) (bool, error) {
	w, err := rt.store.Watches(ctx, room.ID)
	if err != nil {
		return false, storeErr(err, room.ID)
	}
	switch w[userID] {
	case store.WatchOn:
		return true, nil
	case store.WatchOff:
		return false, nil
	}
	if !rt.notify.set.authorsWatch {
		return false, nil
	}
	author, err := rt.notify.author(ctx, room.PageID)
	if err != nil {
		// Only the default is unknown; the room itself answers.
		rt.logger.Debug("page author unknown", "page", room.PageID, "error", err)
		return false, nil
	}
	return author == userID, nil
}

// markRead moves userID's marker in roomID forward to seq (capped at the
// room's last message). The marker is written with others about a second
// later.
func (rt *runtime) markRead(ctx context.Context, userID, roomID string, seq uint64) (readState, error) {
	room, err := rt.viewRoom(ctx, userID, roomID)
	if err != nil {
		return readState{}, err
	}
	rt.notify.markers.set(room.ID, userID, min(seq, room.LastSeq))
	return rt.readState(ctx, room, userID)
}

// setWatch stores userID's watch choice for roomID.
func (rt *runtime) setWatch(ctx context.Context, userID, roomID string, on bool) (bool, error) {
	room, err := rt.viewRoom(ctx, userID, roomID)
	if err != nil {
		return false, err
	}
	state := store.WatchOff
	if on {
		state = store.WatchOn
	}
	if err := rt.store.SetWatch(ctx, room.ID, userID, state); err != nil {
		return false, storeErr(err, room.ID)
	}
	return on, nil
}

// mentions finds the users a message mentions: the room's participants
// by id or display name, and for other @words the users the host lists
// as able to view the page (an exact id or display name). @room counts
// only if the sender may use it (see allowRoomMention).
func (rt *runtime) mentions(ctx context.Context, userID, roomID, pageID, text string) (mention.Result, error) {
	if len(mention.Tokens(text)) == 0 {
		return mention.Result{}, nil
	}
	room, err := rt.store.Room(ctx, roomID)
	if err != nil {
		return mention.Result{}, storeErr(err, roomID)
	}
	known := make([]mention.User, 0, len(room.Participants))
	for _, p := range room.Participants {
		known = append(known, mention.User{ID: p.UserID, DisplayName: p.DisplayName})
	}
	var lookupErr error
	lookup := func(tok string) (mention.User, bool) {
		if lookupErr != nil {
			return mention.User{}, false
		}
		users, err := rt.host.searchUsers(ctx, pageID, tok, 10)
		if err != nil {
			lookupErr = err
			return mention.User{}, false
		}
		for _, u := range users {
			if strings.EqualFold(u.ID, tok) || (u.DisplayName != "" && strings.EqualFold(u.DisplayName, tok)) {
				return u, true
			}
		}
		return mention.User{}, false
	}
	res := mention.Find(text, known, lookup)
	if lookupErr != nil {
		return mention.Result{}, lookupErr
	}
	if res.Room {
		ok, err := rt.allowRoomMention(ctx, userID, roomID, pageID)
		if err != nil {
			return mention.Result{}, err
		}
		if !ok {
			res.Room = false
			kept := res.Matches[:0]
			for _, m := range res.Matches {
				if m.UserID != "" {
					kept = append(kept, m)
				}
			}
			res.Matches = kept
		}
	}
	return res, nil
}

// allowRoomMention decides whether userID may mention the whole room:
// moderators always, others as the admin's setting allows.
func (rt *runtime) allowRoomMention(ctx context.Context, userID, roomID, pageID string) (bool, error) {
	err := rt.authorize(ctx, userID, pageID, hostv1.Permission_PERMISSION_MODERATE)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, errDenied):
		return false, err
	}
	switch n := rt.notify.set.roomMentionsPerHour; {
	case n < 0:
		return true, nil
	case n == 0 || rt.roomMentions == nil:
		return false, nil
	}
	ok, _ := rt.roomMentions.allow(userID, roomID)
	return ok, nil
}
