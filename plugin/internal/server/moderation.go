package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pagechat/pagechat/internal/handshake"
	"github.com/pagechat/pagechat/internal/limits"
	"github.com/pagechat/pagechat/plugin/internal/store"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// The message lifecycle and moderation. Every action here appends an event
// to the room's log (store.KindEdit, KindDelete, KindTopic, KindKick,
// KindBan, KindUnban), so streams carry it in order, a resumed stream
// replays it, and the log is the room's audit trail; each is also logged
// for the admin with who did what to whom.
//
// Rules:
//   - Authors may edit and delete their own messages for editWindow after
//     sending (0: never). Editing needs post permission, deleting only
//     view: taking back one's own words is never refused for lack of post.
//   - Moderators (the host's moderate permission) may delete any message
//     at any time, kick, ban, unban and set the topic. They edit only their
//     own messages, under the same window: nobody puts words in another's
//     mouth.
//   - A ban holds even where the page lets the user view: every room call
//     checks it after the host's permission (checkBan).
//   - Kicks and bans end the user's open streams: Subscribe streams here
//     when the event passes (streamRoom), host-sdk's browser streams when
//     its feed sees the event.

// actionDenied is the sentence for a moderation call without moderate
// permission.
func notModerator(userID, what string) error {
	return reasonf(errDenied, handshake.ReasonNotModerator, "only moderators may %s; user %q is not one here", what, userID)
}

// authorizeModerate checks moderate permission on pageID.
func (rt *runtime) authorizeModerate(ctx context.Context, userID, pageID, what string) error {
	ok, err := rt.perms.check(ctx, userID, pageID, hostv1.Permission_PERMISSION_MODERATE)
	if err != nil {
		return rt.permCheckFailed(err, "user", userID, "page", pageID, "permission", "moderate")
	}
	if !ok {
		return notModerator(userID, what)
	}
	return nil
}

// isModerator answers whether userID may moderate pageID; a host failure
// is an error, a denial is false.
func (rt *runtime) isModerator(ctx context.Context, userID, pageID string) (bool, error) {
	ok, err := rt.perms.check(ctx, userID, pageID, hostv1.Permission_PERMISSION_MODERATE)
	if err != nil {
		return false, rt.permCheckFailed(err, "user", userID, "page", pageID, "permission", "moderate")
	}
	return ok, nil
}

// checkBan refuses a user banned from roomID.
func (rt *runtime) checkBan(ctx context.Context, roomID, userID string) error {
	b, err := rt.store.Ban(ctx, roomID, userID)
	switch {
	case errors.Is(err, store.ErrBanNotFound):
		return nil
	case err != nil:
		return storeErr(err, roomID)
	}
	return reasonf(errDenied, handshake.ReasonBanned, "%s", banSentence(b, rt.location))
}

// banSentence tells a banned user why and until when.
func banSentence(b store.Ban, loc *time.Location) string {
	var s strings.Builder
	s.WriteString("you are banned from this room")
	if b.ExpiresAt.IsZero() {
		s.WriteString(" with no end date")
	} else {
		s.WriteString(" until " + b.ExpiresAt.In(loc).Format("2006-01-02 15:04 MST"))
	}
	if b.Reason != "" {
		s.WriteString(" (reason: " + b.Reason + ")")
	}
	return s.String()
}

// rights says what userID may do in a room, for a UI to offer only what
// will succeed.
type rights struct {
	canPost, canModerate bool
	editWindow           time.Duration
}

func (rt *runtime) rightsOf(ctx context.Context, userID, pageID string) (rights, error) {
	keys := []permKey{
		{userID, pageID, hostv1.Permission_PERMISSION_POST},
		{userID, pageID, hostv1.Permission_PERMISSION_MODERATE},
	}
	ok, err := rt.perms.checkMany(ctx, keys)
	if err != nil {
		return rights{}, rt.permCheckFailed(err, "user", userID, "page", pageID)
	}
	return rights{canPost: ok[0], canModerate: ok[1], editWindow: rt.editWindow}, nil
}

// message reads the plain message at seq in roomID.
func (rt *runtime) message(ctx context.Context, roomID string, seq uint64) (store.Message, error) {
	notFound := reasonf(errNotFound, handshake.ReasonMessageNotFound, "room %q has no message %d", roomID, seq)
	if seq == 0 {
		return store.Message{}, notFound
	}
	msgs, err := rt.store.After(ctx, roomID, seq-1, 1)
	if err != nil {
		return store.Message{}, storeErr(err, roomID)
	}
	if len(msgs) == 0 || msgs[0].Seq != seq {
		return store.Message{}, notFound
	}
	m := msgs[0]
	if m.Kind != store.KindMessage {
		return store.Message{}, failf(errInvalid, "entry %d of room %q is a %s event, not a message", seq, roomID, m.Kind)
	}
	return m, nil
}

// checkAuthorWindow refuses a change to target by userID unless userID
// wrote it and the edit window is still open.
func (rt *runtime) checkAuthorWindow(userID string, target store.Message, verb string) error {
	if target.UserID != userID {
		return reasonf(errDenied, handshake.ReasonNotAuthor, "you can only %s your own messages", verb)
	}
	if rt.editWindow <= 0 {
		return reasonf(errDenied, handshake.ReasonEditWindowPassed, "this chat does not let authors %s their messages", verb)
	}
	if age := rt.now().Sub(target.SentAt); age > rt.editWindow {
		return reasonf(errDenied, handshake.ReasonEditWindowPassed,
			"messages can only be %sed within %v of sending; this one is %v old", strings.TrimSuffix(verb, "e"), rt.editWindow, age.Round(time.Second))
	}
	return nil
}

// changeErr gives the store's refusals of a change their sentences.
func changeErr(err error, roomID string, seq uint64) error {
	switch {
	case errors.Is(err, store.ErrMessageNotFound):
		return reasonf(errNotFound, handshake.ReasonMessageNotFound, "room %q has no message %d", roomID, seq)
	case errors.Is(err, store.ErrMessageDeleted):
		return reasonf(errConflict, handshake.ReasonMessageDeleted, "message %d was deleted", seq)
	case errors.Is(err, store.ErrInvalid):
		return failf(errInvalid, "%v", err)
	}
	return storeErr(err, roomID)
}

// checkReason validates a moderator's stated reason.
func checkReason(reason string) error {
	if !utf8.ValidString(reason) || len(reason) > limits.ReasonBytes {
		return failf(errInvalid, "reason must be valid UTF-8 of at most %d bytes", limits.ReasonBytes)
	}
	return nil
}

// editRequest is an edit a user asks for.
type editRequest struct {
	userID, roomID, clientID, text string
	seq                            uint64
}

// editMessage replaces the text of one of the user's own messages.
func (rt *runtime) editMessage(ctx context.Context, req editRequest) (ev store.Message, epoch string, dup bool, err error) {
	pageID, err := checkRoomRequest(req.userID, req.roomID)
	if err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.checkText(req.text); err != nil {
		return store.Message{}, "", false, err
	}
	if len(req.clientID) > limits.ClientIDBytes {
		return store.Message{}, "", false, failf(errInvalid, "client_id must be at most %d bytes", limits.ClientIDBytes)
	}
	if err := rt.authorize(ctx, req.userID, pageID, hostv1.Permission_PERMISSION_POST); err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.checkBan(ctx, req.roomID, req.userID); err != nil {
		return store.Message{}, "", false, err
	}
	target, err := rt.message(ctx, req.roomID, req.seq)
	if err != nil {
		return store.Message{}, "", false, err
	}
	if req.clientID != "" {
		// A retry is answered from the log, even once the window closed.
		if prev, found, err := rt.store.ByClientID(ctx, req.roomID, req.userID, req.clientID); err != nil {
			return store.Message{}, "", false, storeErr(err, req.roomID)
		} else if found {
			epoch, err := rt.epoch(ctx, req.roomID)
			return prev, epoch, true, storeErrOrNil(err, req.roomID)
		}
	}
	if target.Erased {
		return store.Message{}, "", false, reasonf(errConflict, handshake.ReasonMessageDeleted, "message %d was deleted and cannot be edited", req.seq)
	}
	if err := rt.checkAuthorWindow(req.userID, target, "edit"); err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.rateLimit(req.userID, req.roomID); err != nil {
		return store.Message{}, "", false, err
	}
	name, err := rt.users.displayName(ctx, req.userID)
	if err != nil {
		return store.Message{}, "", false, err
	}
	// The new text's mentions replace the old ones (unread mention counts
	// follow), but an edit alerts nobody: only sending does.
	html, ment, err := rt.renderText(ctx, req.userID, req.roomID, pageID, req.text)
	if err != nil {
		return store.Message{}, "", false, err
	}
	ev, dup, err = rt.store.Append(ctx, req.roomID, store.NewMessage{
		Kind: store.KindEdit, Target: req.seq, ClientID: req.clientID,
		UserID: req.userID, UserName: name, Text: req.text, HTML: html,
		Mentions: ment.UserIDs, MentionsRoom: ment.Room,
	})
	if err != nil {
		return store.Message{}, "", false, changeErr(err, req.roomID, req.seq)
	}
	if !dup {
		rt.logger.Info("message edited", "room", req.roomID, "seq", req.seq, "event_seq", ev.Seq, "by", req.userID)
	}
	epoch, err = rt.epoch(ctx, req.roomID)
	return ev, epoch, dup, storeErrOrNil(err, req.roomID)
}

func storeErrOrNil(err error, roomID string) error {
	if err == nil {
		return nil
	}
	return storeErr(err, roomID)
}

// deleteClientID is the client id of userID's delete of seq: a retried
// delete is then the same event, and only one of them takes a sequence.
func deleteClientID(seq uint64) string { return fmt.Sprintf("delete:%d", seq) }

// deleteRequest is a delete a user asks for.
type deleteRequest struct {
	userID, roomID, reason string
	seq                    uint64
}

// deleteMessage deletes a message, the user's own within the edit window
// or any as a moderator, and removes an announced file from the page.
func (rt *runtime) deleteMessage(ctx context.Context, req deleteRequest) (ev store.Message, epoch string, dup bool, err error) {
	pageID, err := checkRoomRequest(req.userID, req.roomID)
	if err != nil {
		return store.Message{}, "", false, err
	}
	if err := checkReason(req.reason); err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.authorize(ctx, req.userID, pageID, hostv1.Permission_PERMISSION_VIEW); err != nil {
		return store.Message{}, "", false, err
	}
	if err := rt.checkBan(ctx, req.roomID, req.userID); err != nil {
		return store.Message{}, "", false, err
	}
	target, err := rt.message(ctx, req.roomID, req.seq)
	if err != nil {
		return store.Message{}, "", false, err
	}
	// The same user's retry is answered by the store as a duplicate; a
	// delete of what someone else deleted is a conflict.
	if target.Erased && target.DeletedBy != req.userID {
		return store.Message{}, "", false, reasonf(errConflict, handshake.ReasonMessageDeleted, "message %d was already deleted", req.seq)
	}
	moderator, err := rt.isModerator(ctx, req.userID, pageID)
	if err != nil {
		return store.Message{}, "", false, err
	}
	if !moderator {
		if err := rt.checkAuthorWindow(req.userID, target, "delete"); err != nil {
			if target.UserID != req.userID {
				return store.Message{}, "", false, reasonf(errDenied, handshake.ReasonNotAuthor, "you can only delete your own messages; moderators may delete any")
			}
			return store.Message{}, "", false, err
		}
	}
	name, err := rt.users.displayName(ctx, req.userID)
	if err != nil {
		return store.Message{}, "", false, err
	}
	ev, dup, err = rt.store.Append(ctx, req.roomID, store.NewMessage{
		Kind: store.KindDelete, Target: req.seq, ClientID: deleteClientID(req.seq),
		UserID: req.userID, UserName: name, Reason: req.reason,
	})
	if err != nil {
		return store.Message{}, "", false, changeErr(err, req.roomID, req.seq)
	}
	if !dup {
		rt.logger.Info("message deleted", "room", req.roomID, "seq", req.seq, "event_seq", ev.Seq, "by", req.userID,
			"author", target.UserID, "as_moderator", moderator && target.UserID != req.userID, "reason", req.reason)
		if target.File != nil {
			rt.removeFile(ctx, pageID, req.roomID, *target.File, req.userID)
		}
	}
	epoch, err = rt.epoch(ctx, req.roomID)
	return ev, epoch, dup, storeErrOrNil(err, req.roomID)
}

// removeFile asks the host to remove a deleted message's file from the
// page. The delete stands whatever the host answers: the message and its
// record of the file are gone either way, so a failure is only logged.
func (rt *runtime) removeFile(ctx context.Context, pageID, roomID string, f store.File, userID string) {
	err := rt.host.deleteFile(ctx, pageID, f.ID, userID)
	switch {
	case err == nil:
		rt.logger.Info("file removed from page", "room", roomID, "page", pageID, "file", f.ID, "by", userID)
	case errors.Is(err, errHostUnimplemented):
		rt.logger.Info("host cannot remove files; the deleted message's file stays on the page", "room", roomID, "page", pageID, "file", f.ID)
	default:
		rt.logger.Warn("removing a deleted message's file from the page failed", "room", roomID, "page", pageID, "file", f.ID, "error", err)
	}
}

// moderate checks a moderator's call and returns the room's page id and the
// moderator's display name.
func (rt *runtime) moderate(ctx context.Context, userID, roomID, what string) (pageID, name string, err error) {
	pageID, err = checkRoomRequest(userID, roomID)
	if err != nil {
		return "", "", err
	}
	if err := rt.authorize(ctx, userID, pageID, hostv1.Permission_PERMISSION_VIEW); err != nil {
		return "", "", err
	}
	if err := rt.authorizeModerate(ctx, userID, pageID, what); err != nil {
		return "", "", err
	}
	if err := rt.checkBan(ctx, roomID, userID); err != nil {
		return "", "", err
	}
	if _, err := rt.store.Room(ctx, roomID); err != nil {
		return "", "", storeErr(err, roomID)
	}
	name, err = rt.users.displayName(ctx, userID)
	return pageID, name, err
}

// setTopic sets a room's topic.
func (rt *runtime) setTopic(ctx context.Context, userID, roomID, topic string) (store.Message, string, error) {
	topic = strings.TrimSpace(topic)
	if !utf8.ValidString(topic) || len(topic) > limits.TopicBytes || strings.ContainsAny(topic, "\r\n") {
		return store.Message{}, "", failf(errInvalid, "a topic is one line of at most %d bytes of UTF-8", limits.TopicBytes)
	}
	_, name, err := rt.moderate(ctx, userID, roomID, "set the topic")
	if err != nil {
		return store.Message{}, "", err
	}
	ev, _, err := rt.store.Append(ctx, roomID, store.NewMessage{Kind: store.KindTopic, UserID: userID, UserName: name, Text: topic})
	if err != nil {
		return store.Message{}, "", storeErr(err, roomID)
	}
	rt.logger.Info("room topic set", "room", roomID, "event_seq", ev.Seq, "by", userID, "topic", topic)
	epoch, err := rt.epoch(ctx, roomID)
	return ev, epoch, storeErrOrNil(err, roomID)
}

// userAction is a moderator acting on another user.
type userAction struct {
	userID, roomID, subject, reason string
	until                           time.Time // bans only
}

func (rt *runtime) checkUserAction(ctx context.Context, a userAction, what string) (name string, err error) {
	if err := checkUserID(a.subject); err != nil {
		return "", failf(errInvalid, "the user to %s: %v", what, err)
	}
	if err := checkReason(a.reason); err != nil {
		return "", err
	}
	_, name, err = rt.moderate(ctx, a.userID, a.roomID, what+" users")
	return name, err
}

// kick appends a kick event; the streams of a.subject end as it passes.
func (rt *runtime) kick(ctx context.Context, a userAction) (store.Message, string, error) {
	name, err := rt.checkUserAction(ctx, a, "kick")
	if err != nil {
		return store.Message{}, "", err
	}
	if a.subject == a.userID {
		return store.Message{}, "", failf(errInvalid, "you cannot kick yourself")
	}
	ev, _, err := rt.store.Append(ctx, a.roomID, store.NewMessage{Kind: store.KindKick, UserID: a.userID, UserName: name, Subject: a.subject, Reason: a.reason})
	if err != nil {
		return store.Message{}, "", storeErr(err, a.roomID)
	}
	rt.logger.Info("user kicked", "room", a.roomID, "user", a.subject, "event_seq", ev.Seq, "by", a.userID, "reason", a.reason)
	epoch, err := rt.epoch(ctx, a.roomID)
	return ev, epoch, storeErrOrNil(err, a.roomID)
}

// ban stores a ban and appends its event.
func (rt *runtime) ban(ctx context.Context, a userAction) (store.Ban, store.Message, string, error) {
	name, err := rt.checkUserAction(ctx, a, "ban")
	if err != nil {
		return store.Ban{}, store.Message{}, "", err
	}
	switch {
	case a.subject == a.userID:
		return store.Ban{}, store.Message{}, "", failf(errInvalid, "you cannot ban yourself")
	case !a.until.IsZero() && !a.until.After(rt.now()):
		return store.Ban{}, store.Message{}, "", failf(errInvalid, "a ban's end must be in the future")
	}
	// The ban first: should the event fail, the user is kept out all the
	// same, and the log line below is the audit record.
	b, err := rt.store.PutBan(ctx, store.Ban{RoomID: a.roomID, UserID: a.subject, Reason: a.reason, BannedBy: a.userID, ExpiresAt: a.until})
	if err != nil {
		return store.Ban{}, store.Message{}, "", storeErr(err, a.roomID)
	}
	rt.logger.Info("user banned", "room", a.roomID, "user", a.subject, "by", a.userID, "reason", a.reason, "until", a.until)
	ev, _, err := rt.store.Append(ctx, a.roomID, store.NewMessage{Kind: store.KindBan, UserID: a.userID, UserName: name, Subject: a.subject, Reason: a.reason, Until: a.until})
	if err != nil {
		return store.Ban{}, store.Message{}, "", storeErr(err, a.roomID)
	}
	epoch, err := rt.epoch(ctx, a.roomID)
	return b, ev, epoch, storeErrOrNil(err, a.roomID)
}

// unban lifts a ban; found is false if there was none in force (then
// nothing is appended).
func (rt *runtime) unban(ctx context.Context, a userAction) (ev store.Message, epoch string, found bool, err error) {
	name, err := rt.checkUserAction(ctx, a, "unban")
	if err != nil {
		return store.Message{}, "", false, err
	}
	if _, err := rt.store.Ban(ctx, a.roomID, a.subject); errors.Is(err, store.ErrBanNotFound) {
		return store.Message{}, "", false, nil
	} else if err != nil {
		return store.Message{}, "", false, storeErr(err, a.roomID)
	}
	if err := rt.store.DeleteBan(ctx, a.roomID, a.subject); err != nil {
		return store.Message{}, "", false, storeErr(err, a.roomID)
	}
	rt.logger.Info("user unbanned", "room", a.roomID, "user", a.subject, "by", a.userID)
	ev, _, err = rt.store.Append(ctx, a.roomID, store.NewMessage{Kind: store.KindUnban, UserID: a.userID, UserName: name, Subject: a.subject})
	if err != nil {
		return store.Message{}, "", false, storeErr(err, a.roomID)
	}
	epoch, err = rt.epoch(ctx, a.roomID)
	return ev, epoch, true, storeErrOrNil(err, a.roomID)
}

// listBans lists a room's bans for a moderator.
func (rt *runtime) listBans(ctx context.Context, userID, roomID string) ([]store.Ban, error) {
	if _, _, err := rt.moderate(ctx, userID, roomID, "list bans"); err != nil {
		return nil, err
	}
	bans, err := rt.store.Bans(ctx, roomID)
	if err != nil {
		return nil, storeErr(err, roomID)
	}
	return bans, nil
}

// bannedAmong returns which of userIDs are banned from roomID.
func (rt *runtime) bannedAmong(ctx context.Context, roomID string) (map[string]bool, error) {
	bans, err := rt.store.Bans(ctx, roomID)
	if err != nil {
		return nil, storeErr(err, roomID)
	}
	out := make(map[string]bool, len(bans))
	for _, b := range bans {
		out[b.UserID] = true
	}
	return out, nil
}

// endsStreamOf reports whether event m ends userID's stream: a kick or ban
// of them. It returns the error the stream ends with.
func endsStreamOf(m store.Message, userID string, loc *time.Location) error {
	if userID == "" || m.Subject != userID {
		return nil
	}
	switch m.Kind {
	case store.KindKick:
		msg := "a moderator removed you from this room; you may rejoin"
		if m.Reason != "" {
			msg += " (reason: " + m.Reason + ")"
		}
		return reasonf(errDenied, handshake.ReasonKicked, "%s", msg)
	case store.KindBan:
		return reasonf(errDenied, handshake.ReasonBanned, "%s", banSentence(store.Ban{Reason: m.Reason, ExpiresAt: m.Until}, loc))
	}
	return nil
}
