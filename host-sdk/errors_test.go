package hostsdk

import (
	"errors"
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
			if got := transportFailure(tt.err); got != tt.transport {
				t.Errorf("transportFailure = %v, want %v", got, tt.transport)
			}
		})
	}
}
