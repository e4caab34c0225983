package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"syscall"

	"github.com/pagechat/pagechat/internal/handshake"
)

// apiError is an HTTP answer: status, a stable machine-readable code and a
// message safe to show the user.
type apiError struct {
	status     int
	code       string
	msg        string
	retryAfter int // seconds; 0 = no Retry-After header
	cause      error
}

func (e *apiError) Error() string {
	if e.cause != nil {
		return fmt.Sprintf("%d %s: %s: %v", e.status, e.code, e.msg, e.cause)
	}
	return fmt.Sprintf("%d %s: %s", e.status, e.code, e.msg)
}

func (e *apiError) Unwrap() error { return e.cause }

var errShuttingDown = &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: "chat is shutting down", retryAfter: retryAfterUnavailable}

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: fmt.Sprintf(format, args...)}
}

// classify maps any error from the handler or the Client to its HTTP
// answer. It is the one place that decides statuses, so every endpoint
// answers the same error the same way.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("request body is larger than %d bytes", tooBig.Limit), cause: err}
	}
	// The plugin's message for bad input says what is wrong, for the
	// user; other categories get fixed wording so nothing internal leaks.
	detail := func(fallback string) string {
		var pe *Error
		if errors.As(err, &pe) && pe.Message != "" {
			return pe.Message
		}
		return fallback
	}
	switch {
	case errors.Is(err, ErrInvalidArgument):
		return &apiError{status: http.StatusBadRequest, code: "bad_request", msg: detail("invalid request"), cause: err}
	case errors.Is(err, ErrBanned):
		return &apiError{status: http.StatusForbidden, code: "banned", msg: detail("you are banned from this room"), cause: err}
	case errors.Is(err, ErrKicked):
		return &apiError{status: http.StatusForbidden, code: "kicked", msg: detail("a moderator removed you from this room"), cause: err}
	case errors.Is(err, ErrMessageNotFound):
		return &apiError{status: http.StatusNotFound, code: "message_not_found", msg: detail("no such message"), cause: err}
	case errors.Is(err, ErrMessageDeleted):
		// 409: the request was fine, the message's state forbids it.
		return &apiError{status: http.StatusConflict, code: "message_deleted", msg: detail("the message was deleted"), cause: err}
	case errors.Is(err, ErrPermissionDenied) && deniedCode(err) != "":
		return &apiError{status: http.StatusForbidden, code: deniedCode(err), msg: detail("you may not do this"), cause: err}
	case errors.Is(err, ErrPermissionDenied):
		return &apiError{status: http.StatusForbidden, code: "forbidden", msg: "you do not have permission for this room", cause: err}
	case errors.Is(err, ErrRoomNotFound):
		return &apiError{status: http.StatusNotFound, code: "not_found", msg: "no such room", cause: err}
	case errors.Is(err, ErrEpochChanged):
		return &apiError{status: http.StatusConflict, code: "epoch_changed", msg: "the room's history was reset; reload it", cause: err}
	case errors.Is(err, ErrTooLarge):
		return &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: detail("too large"), cause: err}
	case errors.Is(err, ErrStorageFull), errors.Is(err, syscall.ENOSPC):
		// 507, not 500 or 503: nothing is broken and a quick retry
		// will not help; the site's administrator has to free space.
		// ENOSPC here is the handler's own write: an upload spooled to
		// a temporary file on a full disk.
		return &apiError{status: http.StatusInsufficientStorage, code: "storage_full", msg: "the chat's storage is full, so this was not saved; try again once the site's administrator has freed space", cause: err}
	case errors.Is(err, ErrRateLimited):
		wait := retryAfterBusy
		var pe *Error
		if errors.As(err, &pe) && pe.RetryAfter > 0 {
			wait = int(math.Ceil(pe.RetryAfter.Seconds()))
		}
		return &apiError{status: http.StatusTooManyRequests, code: "rate_limited", msg: "you are sending too fast; try again shortly", retryAfter: wait, cause: err}
	case errors.Is(err, ErrLimitExceeded):
		return &apiError{status: http.StatusTooManyRequests, code: "limit_exceeded", msg: detail("a limit set by the administrator was reached"), cause: err}
	case errors.Is(err, ErrSlowConsumer):
		// Not expected on the calls the handler makes; a plain
		// RESOURCE_EXHAUSTED from the plugin means "slow down".
		return &apiError{status: http.StatusTooManyRequests, code: "rate_limited", msg: "too many requests; try again shortly", retryAfter: retryAfterBusy, cause: err}
	case errors.Is(err, ErrHostUnavailable):
		return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: "the site is unavailable for a moment; try again shortly", retryAfter: retryAfterUnavailable, cause: err}
	case errors.Is(err, ErrHostFailed):
		// The site's own code failed, not the chat: no restart is coming,
		// so promise no time; the popup retries on its own back-off.
		return &apiError{status: http.StatusServiceUnavailable, code: "host_failed", msg: "the site could not complete this chat request; try again later", cause: err}
	case errors.Is(err, ErrPluginUnavailable), errors.Is(err, ErrClosed):
		return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: "chat is temporarily unavailable", retryAfter: retryAfterUnavailable, cause: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, code: "unavailable", msg: "request cancelled", retryAfter: retryAfterUnavailable, cause: err}
	}
	return &apiError{status: http.StatusInternalServerError, code: "internal", msg: "internal error", cause: err}
}

// deniedCode is the browser API code of a refusal the plugin explained
// (Error.Reason), or "" for a plain missing permission.
func deniedCode(err error) string {
	var pe *Error
	if !errors.As(err, &pe) {
		return ""
	}
	return map[string]string{
		handshake.ReasonNotAuthor:        "not_author",
		handshake.ReasonEditWindowPassed: "edit_window_passed",
		handshake.ReasonNotModerator:     "not_moderator",
	}[pe.Reason]
}

// writeError answers err as JSON {"error", "code"}. Server-side failures
// are logged with their cause, which the browser never sees.
func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ae := classify(err)
	if ae.status >= 500 && r.Context().Err() == nil && !errors.Is(ae, ErrPluginUnavailable) && ae != errShuttingDown {
		h.logger.Error("chat request failed", "method", r.Method, "path", r.URL.Path, "status", ae.status, "error", err)
	}
	if ae.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ae.retryAfter))
	}
	writeJSON(w, ae.status, errorJSON{Error: ae.msg, Code: ae.code})
}
