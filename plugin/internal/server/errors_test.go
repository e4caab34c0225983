package server

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/internal/handshake"
)

// reasonOf returns the reason of our ErrorInfo on err's status, or "".
func reasonOf(err error) string {
	for _, d := range status.Convert(err).Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() == handshake.ErrorDomain {
			return info.GetReason()
		}
	}
	return ""
}

// A full disk, the plugin's or the host's, must reach the host as
// RESOURCE_EXHAUSTED with STORAGE_FULL (finding #1), not as INTERNAL or as
// a retryable host failure.
func TestFullDiskIsStorageFull(t *testing.T) {
	t.Parallel()
	enospc := &os.PathError{Op: "write", Path: "/data/chat.db", Err: syscall.ENOSPC}
	hostFull, err := status.New(codes.ResourceExhausted, "attach file: the host's disk is full").
		WithDetails(&errdetails.ErrorInfo{Domain: handshake.ErrorDomain, Reason: handshake.ReasonStorageFull})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		err    error
		code   codes.Code
		reason string
	}{
		{"store write", storeErr(fmt.Errorf("store: commit: %w", enospc), "r1"), codes.ResourceExhausted, handshake.ReasonStorageFull},
		{"bare wrapped ENOSPC", fmt.Errorf("upload: spool: %w", enospc), codes.ResourceExhausted, handshake.ReasonStorageFull},
		{"host disk full", &hostError{what: "upload: the host did not store the file", err: hostFull.Err()}, codes.ResourceExhausted, handshake.ReasonStorageFull},
		{"host failed otherwise", &hostError{what: "upload", err: status.Error(codes.Unavailable, "boom")}, codes.Unavailable, handshake.ReasonHostCallbackFailed},
		{"other store failure", storeErr(errors.New("disk on fire"), "r1"), codes.Internal, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := toStatus(tt.err)
			if status.Code(got) != tt.code || reasonOf(got) != tt.reason {
				t.Errorf("toStatus(%v) = %v with reason %q, want %v with %q", tt.err, status.Code(got), reasonOf(got), tt.code, tt.reason)
			}
		})
	}
}
