package wiki

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// A client that invents a new name for every attempt is throttled by its
// address, while other addresses log in as before (finding #4).
func TestAuthenticateThrottlesClientAddress(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	for i := range DefaultClientFreeFailures + 1 {
		if _, err := w.AuthenticateFrom("192.0.2.7", fmt.Sprintf("made-up-%d", i), "guess"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("guess %d: %v, want ErrBadCredentials", i+1, err)
		}
	}
	tests := []struct {
		name, client, user string
		throttled          bool
	}{
		{"same address, new name", "192.0.2.7", "made-up-again", true},
		{"same address, real account", "192.0.2.7", "bob", true},
		{"other address", "192.0.2.8", "bob", false},
		{"no address (in-process callers)", "", "carol", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := w.AuthenticateFrom(tt.client, tt.user, testPassword)
			var throttled *ThrottledError
			if got := errors.As(err, &throttled) && throttled.Client; got != tt.throttled {
				t.Fatalf("err %v, want throttled by address: %v", err, tt.throttled)
			}
			if !tt.throttled && err != nil {
				t.Fatalf("err %v", err)
			}
		})
	}
}

// Password checks beyond MaxPasswordChecks wait for a slot and then fail
// with ErrBusy, known name or not, instead of queueing without bound.
func TestAuthenticateBoundsConcurrentChecks(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	if cap(w.checks) != DefaultMaxPasswordChecks() {
		t.Fatalf("%d check slots, want %d", cap(w.checks), DefaultMaxPasswordChecks())
	}
	w.checkWait = 10 * time.Millisecond
	for range cap(w.checks) { // every slot taken by checks in progress
		w.checks <- struct{}{}
	}
	for _, name := range []string{"bob", "nobody"} {
		if _, err := w.AuthenticateFrom("192.0.2.9", name, testPassword); !errors.Is(err, ErrBusy) {
			t.Errorf("%s with every slot taken: %v, want ErrBusy", name, err)
		}
	}
	<-w.checks
	if _, err := w.AuthenticateFrom("192.0.2.9", "bob", testPassword); err != nil {
		t.Errorf("with a free slot: %v", err)
	}
}
