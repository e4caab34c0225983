package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/internal/handshake"
)

// Errors returned by Load and Client. Match them with errors.Is; the
// wrapped message says what exactly went wrong.
var (
	// ErrPluginUnavailable means the plugin process is down or restarting.
	// Retry later; a Subscription ending with it can be resumed from its
	// LastSeq.
	ErrPluginUnavailable = errors.New("pagechat plugin unavailable")
	// ErrHostFailed means one of the host's own callbacks (such as its
	// Authorizer behind CheckPermission) failed or timed out while the
	// plugin served the call. The plugin is fine and is not restarted: fix
	// the host. The call may be retried once the host answers again.
	ErrHostFailed = errors.New("the host's callback failed")
	// ErrHostUnavailable is for a host to return (wrapped) from its
	// IdentifyFunc when its own storage cannot be reached for a moment,
	// such as a cluster's database restarting: the browser then gets 503
	// "unavailable" with Retry-After, as while the plugin restarts, and
	// retries, instead of a 500.
	ErrHostUnavailable = errors.New("the host is unavailable for a moment")
	// ErrNotPagechatPlugin means the binary did not perform the pagechat
	// handshake: wrong file, or a plugin for another program.
	ErrNotPagechatPlugin = errors.New("not a pagechat plugin")
	// ErrIncompatibleVersion means the plugin speaks another protocol
	// version than this host-sdk: upgrade whichever is older.
	ErrIncompatibleVersion = errors.New("pagechat plugin speaks an incompatible protocol version")
	// ErrChecksumMismatch means the binary's SHA-256 differs from the
	// configured checksum; it was not started.
	ErrChecksumMismatch = errors.New("pagechat plugin checksum does not match")
	// ErrClosed is returned by every call after Close.
	ErrClosed = errors.New("pagechat client closed")
	// ErrInvalidArgument wraps the plugin's answer to bad input.
	ErrInvalidArgument = errors.New("invalid argument")
	// ErrPermissionDenied means the host refused the user the permission
	// the call needs.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrRoomNotFound means the room does not exist.
	ErrRoomNotFound = errors.New("room not found")
	// ErrSlowConsumer ends a Subscription that fell too far behind; resume
	// from its LastSeq.
	ErrSlowConsumer = errors.New("subscriber fell too far behind")
	// ErrEpochChanged means the room's log was recreated since the resume
	// position was taken: reload history instead of resuming.
	ErrEpochChanged = errors.New("room epoch changed")
	// ErrTooLarge means an upload exceeded the configured limit.
	ErrTooLarge = errors.New("too large")
	// ErrLimitExceeded means an admin-set limit other than the message
	// rate was reached, such as the number of rooms per page.
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrRateLimited means the user sent too many messages to the room;
	// Error.RetryAfter says when to try again.
	ErrRateLimited = errors.New("rate limited")
	// ErrBanned means the user is banned from the room; Error.Message
	// names the reason and the end.
	ErrBanned = errors.New("banned from the room")
	// ErrKicked ends a Subscription whose user a moderator kicked; they
	// may subscribe again.
	ErrKicked = errors.New("kicked from the room")
	// ErrMessageNotFound means the room has no message with that
	// sequence.
	ErrMessageNotFound = errors.New("message not found")
	// ErrMessageDeleted means the message was deleted and cannot be
	// edited or deleted again.
	ErrMessageDeleted = errors.New("message deleted")
	// ErrStorageFull means a disk filled up, the plugin's or the host's,
	// and nothing of the call was saved. Retrying helps only once an
	// administrator has freed space.
	ErrStorageFull = errors.New("storage full")
)

// Error is a plugin error with its category (one of the Err values above)
// and the plugin's message. errors.Is matches the category.
type Error struct {
	Kind    error
	Message string
	// RetryAfter is set with ErrRateLimited: how long to wait before
	// sending again.
	RetryAfter time.Duration
	// Reason refines ErrPermissionDenied when the plugin gave one:
	// "NOT_AUTHOR", "EDIT_WINDOW_PASSED" or "NOT_MODERATOR"; Message is
	// then a sentence for the user.
	Reason string
}

// Error returns the category and the plugin's message.
func (e *Error) Error() string { return fmt.Sprintf("%v: %s", e.Kind, e.Message) }

// Unwrap returns the category.
func (e *Error) Unwrap() error { return e.Kind }

// fromStatus turns a gRPC status from the plugin into an *Error.
func fromStatus(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	switch reason := pagechatReason(st); reason {
	case handshake.ReasonBanned:
		return &Error{Kind: ErrBanned, Message: st.Message(), Reason: reason}
	case handshake.ReasonKicked:
		return &Error{Kind: ErrKicked, Message: st.Message(), Reason: reason}
	case handshake.ReasonMessageNotFound:
		return &Error{Kind: ErrMessageNotFound, Message: st.Message(), Reason: reason}
	case handshake.ReasonMessageDeleted:
		return &Error{Kind: ErrMessageDeleted, Message: st.Message(), Reason: reason}
	case handshake.ReasonNotAuthor, handshake.ReasonEditWindowPassed, handshake.ReasonNotModerator:
		if st.Code() == codes.PermissionDenied {
			return &Error{Kind: ErrPermissionDenied, Message: st.Message(), Reason: reason}
		}
	}
	var kind error
	switch st.Code() {
	case codes.InvalidArgument:
		kind = ErrInvalidArgument
	case codes.OutOfRange:
		kind = ErrTooLarge
	case codes.PermissionDenied, codes.Unauthenticated:
		kind = ErrPermissionDenied
	case codes.NotFound:
		kind = ErrRoomNotFound
	case codes.ResourceExhausted:
		for _, d := range st.Details() {
			switch d := d.(type) {
			case *errdetails.ErrorInfo:
				if d.GetDomain() == handshake.ErrorDomain && d.GetReason() == handshake.ReasonStorageFull {
					return &Error{Kind: ErrStorageFull, Message: st.Message()}
				}
			case *errdetails.RetryInfo:
				return &Error{Kind: ErrRateLimited, Message: st.Message(), RetryAfter: d.GetRetryDelay().AsDuration()}
			case *errdetails.QuotaFailure:
				return &Error{Kind: ErrLimitExceeded, Message: st.Message()}
			}
		}
		kind = ErrSlowConsumer
	case codes.Aborted:
		kind = ErrEpochChanged
	case codes.Unavailable:
		kind = ErrPluginUnavailable
		if hostCallbackFailed(st) {
			kind = ErrHostFailed
		}
	case codes.FailedPrecondition:
		kind = ErrPluginUnavailable
	case codes.Canceled:
		return fmt.Errorf("%s: %w", st.Message(), context.Canceled)
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w", st.Message(), context.DeadlineExceeded)
	default:
		return fmt.Errorf("pagechat plugin: %s: %s", st.Code(), st.Message())
	}
	return &Error{Kind: kind, Message: st.Message()}
}

// hostCallbackFailed reports whether st is the plugin saying that a HostAPI
// callback failed, as opposed to the plugin or its connection going away.
func hostCallbackFailed(st *status.Status) bool {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == handshake.ErrorDomain && info.GetReason() == handshake.ReasonHostCallbackFailed {
			return true
		}
	}
	return false
}

// pagechatReason returns the reason of st's pagechat ErrorInfo, or "".
func pagechatReason(st *status.Status) string {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == handshake.ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}

// transportFailure reports whether err, as a call made with ctx returned
// it, may mean that the plugin process or the connection to it went away:
// a bare UNAVAILABLE, or CANCELLED while ctx is not, which is what gRPC
// answers a call on a connection that closes under it (the supervisor
// closes a dead process's connection). Only then is it worth waiting to
// see whether the process exits. Every other status is an answer from a
// living plugin, a failed host callback included.
func transportFailure(ctx context.Context, err error) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch st.Code() {
	case codes.Unavailable:
		return !hostCallbackFailed(st) && !databaseUnavailable(st)
	case codes.Canceled:
		return ctx.Err() == nil
	}
	return false
}

// databaseUnavailable reports whether st is the plugin saying that its
// database (PostgreSQL, in cluster mode) cannot be reached: the plugin is
// alive, and the request fails at once with a 503.
func databaseUnavailable(st *status.Status) bool {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == handshake.ErrorDomain && info.GetReason() == handshake.ReasonDatabaseUnavailable {
			return true
		}
	}
	return false
}
