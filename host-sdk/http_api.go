package hostsdk

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pagechat/pagechat/internal/limits"
)

// apiFunc serves one API endpoint for an identified user and a syntactically
// valid room id. A returned error is written as a JSON error; an endpoint
// that has started its response writes its own errors and returns nil.
type apiFunc func(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error

// api wraps the endpoints of one path: method dispatch, identification and
// room id checks, error answers.
func (h *Handler) api(methods map[string]apiFunc) http.HandlerFunc {
	allow := make([]string, 0, len(methods))
	for m := range methods {
		allow = append(allow, m)
	}
	slices.Sort(allow)
	allowHeader := strings.Join(allow, ", ")
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		fn, ok := methods[r.Method]
		if !ok {
			w.Header().Set("Allow", allowHeader)
			h.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: "method_not_allowed", msg: "method " + r.Method + " not allowed here"})
			return
		}
		id, err := h.identifyRequest(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		roomID, err := roomIDFrom(r)
		if err != nil {
			h.writeError(w, r, err)
			return
		}
		if err := fn(w, r, id, roomID); err != nil {
			h.writeError(w, r, err)
		}
	}
}

// checkCSRF applies cross-origin protection to state-changing requests
// from browser sessions. Requests authenticated by credentials a script
// adds itself cannot be forged by another site and pass.
func (h *Handler) checkCSRF(r *http.Request, id Identity) error {
	if !id.CookieSession {
		return nil
	}
	if err := h.cfg.csrf.Check(r); err != nil {
		return &apiError{status: http.StatusForbidden, code: "cross_origin", msg: "cross-origin request refused", cause: err}
	}
	return nil
}

// serveRoomInfo serves GET {prefix}api/rooms/{roomID}: the info panel.
func (h *Handler) serveRoomInfo(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	mod, ok := h.client.(moderationUpstream)
	if !ok {
		room, err := h.client.RoomInfo(r.Context(), id.UserID, roomID)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, toRoomJSON(room, h.lookupPage(r, room.PageID)))
		return nil
	}
	room, rights, err := mod.RoomWithRights(r.Context(), id.UserID, roomID)
	if err != nil {
		return err
	}
	out := toRoomJSON(room, h.lookupPage(r, room.PageID))
	out.CanPost, out.CanModerate, out.EditWindowSeconds = rights.CanPost, rights.CanModerate, int64(rights.EditWindow/time.Second)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// serveHistory serves GET {prefix}api/rooms/{roomID}/messages?before=&limit=.
func (h *Handler) serveHistory(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	q := r.URL.Query()
	var before uint64
	if s := q.Get("before"); s != "" {
		n, err := parseSeq(s)
		if err != nil {
			return badRequest("before: %v", err)
		}
		before = n
	}
	limit := limits.DefaultHistoryPage
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > limits.MaxHistoryPage {
			return badRequest("limit must be a number from 1 to %d", limits.MaxHistoryPage)
		}
		limit = n
	}
	// History shows messages as they are now (edited text, deleted
	// markers at their own sequence); the events that changed them are
	// for streams, which apply them in order, so they are left out here.
	// A page that held only events is skipped, so a reader paging back
	// does not mistake it for the start of the room.
	out := historyJSON{Messages: []messageJSON{}}
	for range historyEventPages {
		page, err := h.client.History(r.Context(), id.UserID, roomID, before, limit)
		if err != nil {
			return err
		}
		out.HasMore, out.Epoch = page.HasMore, page.Epoch
		for _, m := range page.Messages {
			if m.Kind == KindMessage || m.Kind == "" {
				out.Messages = append(out.Messages, toMessageJSON(m))
			}
		}
		if len(out.Messages) > 0 || !page.HasMore || len(page.Messages) == 0 {
			break
		}
		before = page.Messages[0].Seq
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// serveSend serves POST {prefix}api/rooms/{roomID}/messages.
func (h *Handler) serveSend(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	if err := h.checkCSRF(r, id); err != nil {
		return err
	}
	if r.ContentLength > h.maxSend {
		return &http.MaxBytesError{Limit: h.maxSend}
	}
	req, err := decodeSendRequest(http.MaxBytesReader(w, r.Body, h.maxSend))
	if err != nil {
		return err
	}
	res, err := h.client.Send(r.Context(), id.UserID, roomID, req.ClientID, req.Text)
	if err != nil {
		return err
	}
	// 200 whether or not the message is new: a retry must look exactly
	// like the first success to the client that retries.
	writeJSON(w, http.StatusOK, sendResponseJSON{Seq: res.Message.Seq, Message: toMessageJSON(res.Message), Duplicate: res.Duplicate})
	return nil
}
