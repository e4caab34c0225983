package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"syscall"

	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// httpError is an error with the HTTP status and code it is answered with.
type httpError struct {
	status int
	code   string
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(msg string) error { return &httpError{http.StatusBadRequest, "bad_request", msg} }

// classify maps an error onto an HTTP status, a machine-readable code and
// a message that is safe to show: wiki errors carry their own message;
// anything unexpected is an internal error whose details are only logged.
func classify(err error) (status int, code, msg string) {
	var he *httpError
	var tooBig *http.MaxBytesError
	var limited *rateLimitedError
	switch {
	case errors.As(err, &he):
		return he.status, he.code, he.msg
	case errors.As(err, &limited):
		return http.StatusTooManyRequests, "rate_limited", limited.Error()
	case errors.As(err, &tooBig):
		return http.StatusRequestEntityTooLarge, "too_large", "request body is too large"
	case errors.Is(err, wiki.ErrTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large", err.Error()
	case errors.Is(err, wiki.ErrInvalid):
		return http.StatusBadRequest, "bad_request", err.Error()
	case errors.Is(err, wiki.ErrBusy):
		return http.StatusServiceUnavailable, "busy", err.Error()
	case errors.Is(err, syscall.ENOSPC):
		// Not a bug: nothing was saved for lack of disk space, and only
		// an administrator freeing some helps (finding #1).
		return http.StatusInsufficientStorage, "storage_full", "the wiki's disk is full, so this was not saved; try again once the administrator has freed space"
	case errors.Is(err, wiki.ErrUnavailable):
		return http.StatusServiceUnavailable, "unavailable", "the wiki's database is unavailable right now; try again shortly"
	case errors.Is(err, wiki.ErrSearchUnavailable):
		return http.StatusServiceUnavailable, "search_unavailable", err.Error()
	case errors.Is(err, wiki.ErrTooManyAttempts):
		return http.StatusTooManyRequests, "too_many_attempts", err.Error()
	case errors.Is(err, errNoLogin), errors.Is(err, wiki.ErrBadCredentials):
		return http.StatusUnauthorized, "unauthenticated", err.Error()
	case errors.Is(err, wiki.ErrForbidden):
		return http.StatusForbidden, "forbidden", err.Error()
	case errors.Is(err, wiki.ErrNotFound):
		return http.StatusNotFound, "not_found", err.Error()
	case errors.Is(err, wiki.ErrConflict):
		return http.StatusConflict, "conflict", err.Error()
	}
	return http.StatusInternalServerError, "internal", "internal error; see the server log"
}

// setRetryAfter tells the client when to try again, if err says.
func setRetryAfter(w http.ResponseWriter, err error) {
	var throttled *wiki.ThrottledError
	var limited *rateLimitedError
	switch {
	case errors.As(err, &throttled):
		w.Header().Set("Retry-After", strconv.Itoa(throttled.RetryAfterSeconds()))
	case errors.As(err, &limited):
		setRetryAfterLimited(w, limited)
	case errors.Is(err, wiki.ErrBusy), errors.Is(err, wiki.ErrUnavailable):
		w.Header().Set("Retry-After", "1")
	}
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may have gone; nothing to do
}

// writeJSONError answers with the API's error shape.
func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}
