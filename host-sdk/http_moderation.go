package hostsdk

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pagechat/pagechat/internal/limits"
)

// moderationUpstream is what the moderation endpoints ask of the plugin:
// the Client's calls. It is separate from upstream so the handler's
// stream tests can keep their small fake; a handler whose upstream lacks
// it answers those endpoints with 501.
type moderationUpstream interface {
	RoomWithRights(ctx context.Context, userID, roomID string) (Room, Rights, error)
	EditMessage(ctx context.Context, userID, roomID string, seq uint64, text, clientID string) (ChangeResult, error)
	DeleteMessage(ctx context.Context, userID, roomID string, seq uint64, reason string) (ChangeResult, error)
	SetTopic(ctx context.Context, userID, roomID, topic string) (Message, error)
	Kick(ctx context.Context, userID, roomID, target, reason string) (Message, error)
	Ban(ctx context.Context, userID, roomID, target, reason string, expires time.Time) (Ban, error)
	Unban(ctx context.Context, userID, roomID, target string) (bool, error)
	Bans(ctx context.Context, userID, roomID string) ([]Ban, error)
}

var _ moderationUpstream = (*Client)(nil)

// moderationBodyLimit bounds the JSON bodies of the moderation endpoints
// other than edits (which carry a message's text): a user id, a reason, a
// topic and a time.
const moderationBodyLimit = 16 << 10

// historyEventPages bounds the extra History calls a history request
// makes to skip pages that hold only events, so one request stays cheap.
const historyEventPages = 8

var errNoModeration = &apiError{status: http.StatusNotImplemented, code: "not_implemented", msg: "this chat does not support moderation"}

func (h *Handler) moderation() (moderationUpstream, error) {
	m, ok := h.client.(moderationUpstream)
	if !ok {
		return nil, errNoModeration
	}
	return m, nil
}

// decodeStrict reads exactly one JSON object with only known fields into
// v and nothing after it.
func decodeStrict(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("malformed JSON body: %v", jsonProblem(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return badRequest("malformed JSON body: data after the object")
	}
	return nil
}

// readBody checks CSRF and decodes a state-changing request's body.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, id Identity, limit int64, v any) error {
	if err := h.checkCSRF(r, id); err != nil {
		return err
	}
	if r.ContentLength > limit {
		return &http.MaxBytesError{Limit: limit}
	}
	return decodeStrict(http.MaxBytesReader(w, r.Body, limit), v)
}

// seqFrom parses the {seq} path segment.
func seqFrom(r *http.Request) (uint64, error) {
	n, err := parseSeq(r.PathValue("seq"))
	if err != nil {
		return 0, badRequest("message: %v", err)
	}
	return n, nil
}

// changeJSON answers an edit or delete.
type changeJSON struct {
	Seq       uint64      `json:"seq"`
	Target    uint64      `json:"target"`
	Event     messageJSON `json:"event"`
	Duplicate bool        `json:"duplicate"`
}

// serveEdit serves PATCH {prefix}api/rooms/{roomID}/messages/{seq}:
// {"text", optional "client_id"}.
func (h *Handler) serveEdit(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	mod, err := h.moderation()
	if err != nil {
		return err
	}
	seq, err := seqFrom(r)
	if err != nil {
		return err
	}
	var req struct {
		Text     string `json:"text"`
		ClientID string `json:"client_id"`
	}
	if err := h.readBody(w, r, id, h.maxSend, &req); err != nil {
		return err
	}
	if strings.TrimSpace(req.Text) == "" {
		return badRequest(`"text" is missing or blank`)
	}
	if len(req.ClientID) > limits.ClientIDBytes {
		return badRequest(`"client_id" must be at most %d bytes`, limits.ClientIDBytes)
	}
	res, err := mod.EditMessage(r.Context(), id.UserID, roomID, seq, req.Text, req.ClientID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, changeJSON{Seq: res.Event.Seq, Target: res.Event.Target, Event: toMessageJSON(res.Event), Duplicate: res.Duplicate})
	return nil
}

// serveDelete serves DELETE {prefix}api/rooms/{roomID}/messages/{seq},
// with an optional body {"reason"}.
func (h *Handler) serveDelete(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	mod, err := h.moderation()
	if err != nil {
		return err
	}
	seq, err := seqFrom(r)
	if err != nil {
		return err
	}
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		if err := h.readBody(w, r, id, moderationBodyLimit, &req); err != nil && !isEmptyBody(err) {
			return err
		}
	} else if err := h.checkCSRF(r, id); err != nil {
		return err
	}
	res, err := mod.DeleteMessage(r.Context(), id.UserID, roomID, seq, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, changeJSON{Seq: res.Event.Seq, Target: res.Event.Target, Event: toMessageJSON(res.Event), Duplicate: res.Duplicate})
	return nil
}

// isEmptyBody reports whether decoding failed only because there was no
// body (a DELETE sent with Transfer-Encoding but nothing in it).
func isEmptyBody(err error) bool {
	var ae *apiError
	return errors.As(err, &ae) && strings.HasSuffix(ae.msg, "empty body")
}

// eventJSON answers a topic change or kick with its event.
type eventJSON struct {
	Seq   uint64      `json:"seq"`
	Event messageJSON `json:"event"`
}

// serveTopic serves PUT {prefix}api/rooms/{roomID}/topic: {"topic"}.
func (h *Handler) serveTopic(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	mod, err := h.moderation()
	if err != nil {
		return err
	}
	var req struct {
		Topic *string `json:"topic"`
	}
	if err := h.readBody(w, r, id, moderationBodyLimit, &req); err != nil {
		return err
	}
	if req.Topic == nil {
		return badRequest(`"topic" is missing (send "" to clear it)`)
	}
	ev, err := mod.SetTopic(r.Context(), id.UserID, roomID, *req.Topic)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, eventJSON{Seq: ev.Seq, Event: toMessageJSON(ev)})
	return nil
}

// userActionRequest is the body of POST kick and POST bans.
type userActionRequest struct {
	UserID  string `json:"user_id"`
	Reason  string `json:"reason"`
	Expires string `json:"expires"` // bans: RFC 3339, or empty for never
}

func (req userActionRequest) check() error {
	if req.UserID == "" || len(req.UserID) > limits.UserIDBytes || !utf8.ValidString(req.UserID) {
		return badRequest(`"user_id" must be 1 to %d bytes of UTF-8`, limits.UserIDBytes)
	}
	return nil
}

// banEnd checks a ban request and returns its end (zero: none).
func (req userActionRequest) banEnd() (time.Time, error) {
	if err := req.check(); err != nil {
		return time.Time{}, err
	}
	if req.Expires == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, req.Expires)
	if err != nil {
		return time.Time{}, badRequest(`"expires" must be an RFC 3339 time such as 2026-12-31T18:00:00Z, or empty for a ban without end`)
	}
	return t, nil
}

// serveKick serves POST {prefix}api/rooms/{roomID}/kick: {"user_id", "reason"}.
func (h *Handler) serveKick(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	mod, err := h.moderation()
	if err != nil {
		return err
	}
	var req userActionRequest
	if err := h.readBody(w, r, id, moderationBodyLimit, &req); err != nil {
		return err
	}
	if err := req.check(); err != nil {
		return err
	}
	if req.Expires != "" {
		return badRequest(`a kick has no "expires"; ban instead`)
	}
	ev, err := mod.Kick(r.Context(), id.UserID, roomID, req.UserID, req.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, eventJSON{Seq: ev.Seq, Event: toMessageJSON(ev)})
	return nil
}

// serveBan serves POST {prefix}api/rooms/{roomID}/bans:
// {"user_id", "reason", "expires"} with expires in RFC 3339 or empty.
func (h *Handler) serveBan(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	mod, err := h.moderation()
	if err != nil {
		return err
	}
	var req userActionRequest
	if err := h.readBody(w, r, id, moderationBodyLimit, &req); err != nil {
		return err
	}
	expires, err := req.banEnd()
	if err != nil {
		return err
	}
	b, err := mod.Ban(r.Context(), id.UserID, roomID, req.UserID, req.Reason, expires)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toBanJSON(b))
	return nil
}

// serveBans serves GET {prefix}api/rooms/{roomID}/bans (moderators).
func (h *Handler) serveBans(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	mod, err := h.moderation()
	if err != nil {
		return err
	}
	bans, err := mod.Bans(r.Context(), id.UserID, roomID)
	if err != nil {
		return err
	}
	out := bansJSON{Bans: make([]banJSON, len(bans))}
	for i, b := range bans {
		out.Bans[i] = toBanJSON(b)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// serveUnban serves DELETE {prefix}api/rooms/{roomID}/bans/{userID}.
func (h *Handler) serveUnban(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	mod, err := h.moderation()
	if err != nil {
		return err
	}
	if err := h.checkCSRF(r, id); err != nil {
		return err
	}
	target := r.PathValue("userID")
	if target == "" || len(target) > limits.UserIDBytes || !utf8.ValidString(target) {
		return badRequest("malformed user id")
	}
	found, err := mod.Unban(r.Context(), id.UserID, roomID, target)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		UserID string `json:"user_id"`
		Lifted bool   `json:"lifted"`
	}{target, found})
	return nil
}
