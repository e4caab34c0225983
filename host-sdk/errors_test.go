package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"syscall"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/internal/handshake"
)

func withInfo(t *testing.T, code codes.Code, domain, reason string) error {
	t.Helper()
	st, err := status.New(code, "x").WithDetails(&errdetails.ErrorInfo{Domain: domain, Reason: reason})
	if err != nil {
		t.Fatal(err)
	}
	return st.Err()
}

// Only a bare UNAVAILABLE may mean the plugin went away; everything else is
// the answer of a living plugin and must not cost a wait for its exit.
func TestUnavailableTellsAFailingHostFromAGoingPlugin(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		want      error
		transport bool
	}{
		{"host callback failed", withInfo(t, codes.Unavailable, handshake.ErrorDomain, handshake.ReasonHostCallbackFailed), ErrHostFailed, false},
		{"bare unavailable", status.Error(codes.Unavailable, "shutting down"), ErrPluginUnavailable, true},
		{"reason of another domain", withInfo(t, codes.Unavailable, "elsewhere", handshake.ReasonHostCallbackFailed), ErrPluginUnavailable, true},
		{"another reason", withInfo(t, codes.Unavailable, handshake.ErrorDomain, "SOMETHING_ELSE"), ErrPluginUnavailable, true},
		{"not configured", status.Error(codes.FailedPrecondition, "not configured"), ErrPluginUnavailable, false},
		{"permission denied", status.Error(codes.PermissionDenied, "no"), ErrPermissionDenied, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := fromStatus(tt.err); !errors.Is(got, tt.want) {
				t.Errorf("fromStatus = %v, want %v", got, tt.want)
			}
			if got := transportFailure(context.Background(), tt.err); got != tt.transport {
				t.Errorf("transportFailure = %v, want %v", got, tt.transport)
			}
		})
	}
}

// A call on a connection that closes under it (the plugin died and the
// supervisor closed its connection) is answered CANCELLED by gRPC, though
// the caller did not cancel: that is the plugin going away, worth waiting
// for its exit and one retry. A caller's own cancellation is not.
func TestCancelledByAClosingConnectionIsATransportFailure(t *testing.T) {
	t.Parallel()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	closing := status.Error(codes.Canceled, "grpc: the client connection is closing")
	tests := []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"caller still waiting", context.Background(), true},
		{"caller gave up", gone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := transportFailure(tt.ctx, closing); got != tt.want {
				t.Errorf("transportFailure = %v, want %v", got, tt.want)
			}
		})
	}
}

// A full disk must reach the browser as 507 storage_full (finding #1): not
// 500 "internal error", and not a 429/503 that invites a quick retry.
func TestStorageFullIs507(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"storage full", withInfo(t, codes.ResourceExhausted, handshake.ErrorDomain, handshake.ReasonStorageFull), http.StatusInsufficientStorage, "storage_full"},
		{"reason of another domain", withInfo(t, codes.ResourceExhausted, "elsewhere", handshake.ReasonStorageFull), http.StatusTooManyRequests, "rate_limited"},
		{"bare resource exhausted", status.Error(codes.ResourceExhausted, "slow"), http.StatusTooManyRequests, "rate_limited"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ae := classify(fromStatus(tt.err))
			if ae.status != tt.status || ae.code != tt.code || ae.msg == "" {
				t.Errorf("classify = %d %q %q, want %d %q with a sentence", ae.status, ae.code, ae.msg, tt.status, tt.code)
			}
		})
	}
}

// A host whose storage is down for a moment (a cluster's database
// restarting) says so from its IdentifyFunc with ErrHostUnavailable: the
// browser gets 503 unavailable with Retry-After and retries, not a 500.
func TestHostUnavailableIs503Unavailable(t *testing.T) {
	t.Parallel()
	ae := classify(fmt.Errorf("identify request: session: %w: %w", ErrHostUnavailable, errors.New("dial unix: no such file")))
	if ae.status != http.StatusServiceUnavailable || ae.code != "unavailable" || ae.retryAfter <= 0 || ae.msg == "" {
		t.Errorf("classify = %d %q %q retry after %d, want 503 \"unavailable\" with a sentence and Retry-After", ae.status, ae.code, ae.msg, ae.retryAfter)
	}
}

// A Host says its disk is full by returning an error wrapping ENOSPC; the
// plugin must hear STORAGE_FULL, not a generic host failure.
func TestHostENOSPCIsStorageFull(t *testing.T) {
	t.Parallel()
	err := toStatus("attach file", fmt.Errorf("save upload: %w", &os.PathError{Op: "write", Path: "/f", Err: syscall.ENOSPC}))
	st := status.Convert(err)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("code = %v, want ResourceExhausted", st.Code())
	}
	if !errors.Is(fromStatus(err), ErrStorageFull) {
		t.Errorf("fromStatus(%v) is not ErrStorageFull", err)
	}
	if other := toStatus("attach file", errors.New("boom")); status.Code(other) != codes.Unavailable {
		t.Errorf("other host error = %v, want Unavailable", status.Code(other))
	}
}
