package hostsdk

import (
	"context"
	"errors"
	"io"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// failedStream is a stream whose Recv fails with err.
type failedStream struct{ err error }

func (f failedStream) Recv() (*chatv1.RoomEvent, error) { return nil, f.err }

// A stream cancelled by the caller ends quietly (io.EOF); one cancelled
// because gRPC closed the dead plugin's connection under it must say the
// plugin went away, or the caller would not resume it.
func TestSubscriptionEndTellsOwnCancelFromAClosedConnection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		err       error
		cancelled bool
		wantEOF   bool
		wantCateg error
	}{
		{"closed by the caller", status.FromContextError(context.Canceled).Err(), true, true, nil},
		{"connection closed under it", status.Error(codes.Canceled, "grpc: the client connection is closing"), false, false, ErrPluginUnavailable},
		{"plugin stopped", status.Error(codes.Unavailable, "shutting down"), false, false, ErrPluginUnavailable},
		{"plugin ended it cleanly", io.EOF, false, false, ErrPluginUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sub := &Subscription{ctx: ctx, cancel: cancel, stream: failedStream{tt.err}}
			if tt.cancelled {
				sub.Close()
			}
			_, err := sub.Next()
			if tt.wantEOF {
				if !errors.Is(err, io.EOF) {
					t.Fatalf("Next = %v, want io.EOF", err)
				}
				return
			}
			if !errors.Is(err, tt.wantCateg) || errors.Is(err, io.EOF) {
				t.Fatalf("Next = %v, want %v", err, tt.wantCateg)
			}
		})
	}
}
