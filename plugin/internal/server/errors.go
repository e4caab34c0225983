package server

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/pagechat/pagechat/internal/handshake"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// The kinds of failure the chat logic reports. The logic returns Go errors
// that wrap one of these (or a store sentinel); toStatus, the only place
// that knows about gRPC codes, turns them into statuses for the host.
var (
	// errInvalid is bad input from the host or the user behind it.
	errInvalid = errors.New("invalid argument")
	// errNotFound is an unknown room.
	errNotFound = errors.New("not found")
	// errDenied is the host refusing the user a permission.
	errDenied = errors.New("permission denied")
	// errTooLarge is an upload over the configured limit.
	errTooLarge = errors.New("too large")
	// errNotConfigured answers calls that arrive before Configure, or a
	// second Configure.
	errNotConfigured = errors.New("not configured")
	// errStopping answers calls during and after Shutdown.
	errStopping = errors.New("plugin is shutting down")
	// errEpochChanged is a resume from another room epoch.
	errEpochChanged = errors.New("room epoch changed")
	// errSlowSubscriber ends a stream whose reader fell behind.
	errSlowSubscriber = errors.New("subscriber fell too far behind")
	// errStorage is a storage failure other than the ones with sentinels
	// of their own in package store.
	errStorage = errors.New("storage failed")
	// errHostFailed is a HostAPI callback that failed or timed out: the
	// host's fault, not the plugin's.
	errHostFailed = errors.New("host callback failed")
	// errConflict is a change to a message that no longer allows it
	// (it was deleted).
	errConflict = errors.New("conflict")
	// errStorageFull is a write that failed because a disk is full, the
	// plugin's own or the host's. It is not a bug and not a reason to
	// retry soon, so it has a status of its own.
	errStorageFull = errors.New("storage full")
)

// chatError is a failure of one of the kinds above with the sentence the
// user eventually reads. The sentence is the whole message, without the
// kind's name, because host-sdk shows it as it is.
type chatError struct {
	kind error
	msg  string
}

func (e *chatError) Error() string { return e.msg }
func (e *chatError) Unwrap() error { return e.kind }

// failf makes a chatError of kind.
func failf(kind error, format string, args ...any) error {
	return &chatError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// reasonedError is a failure whose status carries an ErrorInfo reason
// (handshake.Reason…), so the host can tell, say, a ban from a missing
// permission, and show the sentence.
type reasonedError struct {
	kind   error // errDenied, errNotFound or errConflict
	reason string
	msg    string
}

func (e *reasonedError) Error() string { return e.msg }
func (e *reasonedError) Unwrap() error { return e.kind }

// reasonf makes a reasonedError.
func reasonf(kind error, reason, format string, args ...any) error {
	return &reasonedError{kind: kind, reason: reason, msg: fmt.Sprintf(format, args...)}
}

// rateLimitedError is a send beyond the user's rate; wait is when the next
// one will be accepted.
type rateLimitedError struct {
	msg  string
	wait time.Duration
}

func (e *rateLimitedError) Error() string { return e.msg }

// quotaError is an upload beyond the user's byte quota for the room.
type quotaError struct{ msg string }

func (e *quotaError) Error() string { return e.msg }

// hostError is a failed HostAPI call. It matches errHostFailed.
type hostError struct {
	what string // what the plugin was doing, for the message
	err  error
}

func (e *hostError) Error() string {
	return fmt.Sprintf("%s: %s", e.what, status.Convert(e.err).Message())
}
func (e *hostError) Unwrap() []error { return []error{errHostFailed, e.err} }

// toStatus turns an error from the chat logic into the gRPC status the
// host receives. chat.proto documents the codes; host-sdk's fromStatus is
// the other half.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	var rl *rateLimitedError
	var re *reasonedError
	switch {
	case errors.As(err, &re):
		code := codes.PermissionDenied
		switch re.kind {
		case errNotFound:
			code = codes.NotFound
		case errConflict:
			code = codes.FailedPrecondition
		}
		return withDetail(status.New(code, re.msg), &errdetails.ErrorInfo{Domain: handshake.ErrorDomain, Reason: re.reason})
	case storageFull(err):
		// Before the host failure: a host whose disk is full failed,
		// but the user needs to hear that nothing was saved for lack
		// of space, not that the site is broken.
		return withDetail(status.New(codes.ResourceExhausted, err.Error()), &errdetails.ErrorInfo{
			Domain: handshake.ErrorDomain, Reason: handshake.ReasonStorageFull,
		})
	case errors.As(err, &rl):
		return withDetail(status.New(codes.ResourceExhausted, rl.msg), &errdetails.RetryInfo{RetryDelay: durationpb.New(rl.wait)})
	case errors.As(err, new(*quotaError)):
		return withDetail(status.New(codes.ResourceExhausted, err.Error()), &errdetails.QuotaFailure{
			Violations: []*errdetails.QuotaFailure_Violation{{Subject: "upload bytes per user and room", Description: err.Error()}},
		})
	case errors.Is(err, store.ErrTooManyRooms):
		return withDetail(status.New(codes.ResourceExhausted, err.Error()), &errdetails.QuotaFailure{
			Violations: []*errdetails.QuotaFailure_Violation{{Subject: "rooms per page", Description: err.Error()}},
		})
	case errors.Is(err, errHostFailed):
		// Before the context check: a host call that hit its own
		// deadline is the host's failure, not the caller's.
		return withDetail(status.New(codes.Unavailable, err.Error()), &errdetails.ErrorInfo{
			Domain: handshake.ErrorDomain, Reason: handshake.ReasonHostCallbackFailed,
		})
	case errors.Is(err, store.ErrUnavailable):
		return withDetail(status.New(codes.Unavailable, err.Error()), &errdetails.ErrorInfo{
			Domain: handshake.ErrorDomain, Reason: handshake.ReasonDatabaseUnavailable,
		})
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	code := codes.Internal
	for _, k := range []struct {
		kind error
		code codes.Code
	}{
		{errInvalid, codes.InvalidArgument},
		{errNotFound, codes.NotFound},
		{store.ErrRoomNotFound, codes.NotFound},
		{errDenied, codes.PermissionDenied},
		{errTooLarge, codes.OutOfRange},
		{errSlowSubscriber, codes.ResourceExhausted},
		{errNotConfigured, codes.FailedPrecondition},
		{store.ErrLocked, codes.FailedPrecondition},
		{store.ErrNewerSchema, codes.FailedPrecondition},
		{errEpochChanged, codes.Aborted},
		{errStopping, codes.Unavailable},
		{store.ErrClosed, codes.Unavailable},
	} {
		if errors.Is(err, k.kind) {
			code = k.code
			break
		}
	}
	if code == codes.Internal {
		// A status that reached here unconverted comes from gRPC itself,
		// such as a stream Send to a client that went away: keep it.
		if st, ok := status.FromError(err); ok {
			return st.Err()
		}
	}
	return status.Error(code, err.Error())
}

// storageFull reports whether err is a write that failed for lack of disk
// space: ENOSPC from the plugin's own store, or a host callback answering
// with ReasonStorageFull.
func storageFull(err error) bool {
	if errors.Is(err, errStorageFull) || errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var he *hostError
	return errors.As(err, &he) && statusHasReason(he.err, handshake.ReasonStorageFull)
}

// statusHasReason reports whether err is a gRPC status carrying our
// ErrorInfo with reason.
func statusHasReason(err error, reason string) bool {
	st, ok := status.FromError(err)
	if !ok {
		return false
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == handshake.ErrorDomain && info.GetReason() == reason {
			return true
		}
	}
	return false
}

// withDetail attaches a detail to st; should that fail, the bare status
// still says what happened.
func withDetail(st *status.Status, detail protoadapt.MessageV1) error {
	if detailed, err := st.WithDetails(detail); err == nil {
		return detailed.Err()
	}
	return st.Err()
}
