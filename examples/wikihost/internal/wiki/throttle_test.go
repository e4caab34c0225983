package wiki

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
)

func TestLoginThrottleLockoutGrows(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		failures int
		want     time.Duration
	}{
		{freeFailures, 0},
		{freeFailures + 1, time.Second},
		{freeFailures + 2, 2 * time.Second},
		{freeFailures + 5, 16 * time.Second},
		{freeFailures + 9, 256 * time.Second},
		{freeFailures + 10, maxLockout},
		{freeFailures + 100, maxLockout},
	}
	for _, tc := range tests {
		th := newLoginThrottle()
		for range tc.failures {
			th.failed("bob", now)
		}
		if got := th.wait("bob", now); got != tc.want {
			t.Errorf("after %d failures: wait %v, want %v", tc.failures, got, tc.want)
		}
		if got := th.wait("carol", now); got != 0 {
			t.Errorf("another account waits %v", got)
		}
	}
}

func TestLoginThrottleForgetsAndStaysBounded(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	th := newLoginThrottle()
	for range freeFailures {
		th.failed("bob", now)
	}
	// Long after, the old failures no longer count.
	later := now.Add(failuresForgotten + time.Minute)
	th.failed("bob", later)
	if w := th.wait("bob", later); w != 0 {
		t.Errorf("old failures still count: wait %v", w)
	}
	// Names sprayed by an attacker cannot grow the table without bound.
	for i := range maxThrottled + 500 {
		th.failed(fmt.Sprint("spray", i), later)
	}
	if n := len(th.m); n > maxThrottled {
		t.Errorf("%d entries, want at most %d", n, maxThrottled)
	}
}

// Guessing passwords is slowed down for every name, known or not, and a
// correct password after the wait logs in and starts over.
func TestAuthenticateThrottlesRepeatedFailures(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	clock := testutil.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	w.now = clock.Now
	for _, name := range []string{"bob", "nobody"} {
		for i := range freeFailures + 1 {
			if _, err := w.Authenticate(name, "guess"); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("%s, guess %d: %v, want ErrBadCredentials", name, i+1, err)
			}
		}
		_, err := w.Authenticate(name, testPassword)
		var throttled *ThrottledError
		if !errors.As(err, &throttled) || !errors.Is(err, ErrTooManyAttempts) || throttled.Wait != time.Second {
			t.Fatalf("%s after %d failures: %v, want a 1 s ThrottledError", name, freeFailures+1, err)
		}
		if throttled.RetryAfterSeconds() != 1 {
			t.Errorf("RetryAfterSeconds = %d", throttled.RetryAfterSeconds())
		}
	}
	clock.Advance(time.Second)
	if _, err := w.Authenticate("bob", testPassword); err != nil {
		t.Fatalf("right password after the wait: %v", err)
	}
	// The success started over: a typo is just a typo again.
	for range freeFailures {
		if _, err := w.Authenticate("bob", "typo"); !errors.Is(err, ErrBadCredentials) {
			t.Fatalf("typo after a success: %v", err)
		}
	}
	if _, err := w.Authenticate("bob", testPassword); err != nil {
		t.Errorf("right password after %d typos: %v", freeFailures, err)
	}
}
