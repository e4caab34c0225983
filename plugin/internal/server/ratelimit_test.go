package server

import (
	"testing"
	"time"
)

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newRateLimiter(60, func() time.Time { return now })
	for i := range 60 {
		if ok, _ := l.allow("u", "r"); !ok {
			t.Fatalf("message %d of the first 60 refused", i+1)
		}
	}
	ok, wait := l.allow("u", "r")
	if ok || wait < time.Second {
		t.Fatalf("61st message: ok=%v retry after %v; want refused with a retry hint", ok, wait)
	}
	if ok, _ := l.allow("u", "other room"); !ok {
		t.Fatal("another room shares the user's bucket")
	}
	if ok, _ := l.allow("v", "r"); !ok {
		t.Fatal("another user shares the bucket")
	}
	now = now.Add(2 * time.Second)
	for i := range 2 {
		if ok, _ := l.allow("u", "r"); !ok {
			t.Fatalf("refill message %d refused after 2s at 1/s", i+1)
		}
	}
	if ok, _ := l.allow("u", "r"); ok {
		t.Fatal("more refilled than elapsed time allows")
	}
	if ok, _ := newRateLimiter(0, time.Now).allow("u", "r"); !ok {
		t.Fatal("a disabled limiter refused")
	}
}
