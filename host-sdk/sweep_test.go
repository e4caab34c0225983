package hostsdk

import (
	"fmt"
	"testing"
	"time"
)

// TestOneRecheckRoundAsksForEveryRoomAtOnce checks that the sweeper
// re-checks the viewers of all rooms with one call to the plugin per
// round, not one per room.
func TestOneRecheckRoundAsksForEveryRoomAtOnce(t *testing.T) {
	t.Parallel()
	window := 100 * time.Millisecond
	ws := newWebServer(t, []Option{WithPermissionCache(window)}, WithPermissionWindow(window))
	first := ws.room
	for i := range 3 {
		if i > 0 {
			ws.room = openRoom(t, ws.client, fmt.Sprint("Room ", i))
		}
		s := ws.openEvents(t, cookieUser("alice"), "after=0", nil)
		ws.send(t, "alice", fmt.Sprint("c", i), "hello")
		s.nextMessage(t) // registered with its room's feed
	}
	ws.room = first
	// Wait for rounds that saw all three rooms; this bounds a hang, it
	// times nothing.
	start := ws.h.recheckRounds.Load()
	for deadline := time.Now().Add(30 * time.Second); ws.h.recheckRounds.Load() < start+3; {
		if time.Now().After(deadline) {
			t.Fatal("no re-check rounds")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Every call belongs to a round counted before it, so calls read
	// first can be at most the rounds read after.
	calls := ws.h.recheckCalls.Load()
	rounds := ws.h.recheckRounds.Load()
	if calls == 0 || calls > rounds {
		t.Errorf("%d permission calls in %d rounds over 3 rooms; want one per round", calls, rounds)
	}
}

// Heartbeats are spread over a part a second of their interval, so that
// ten thousand idle streams do not all write (and each start a goroutine)
// at the same moment; a short interval beats everyone at once.
func TestHeartbeatSlots(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		interval time.Duration
		want     int
	}{
		{10 * time.Millisecond, 1},
		{1500 * time.Millisecond, 1},
		{2 * time.Second, 2},
		{DefaultHeartbeat, 20},
		{time.Hour, 20},
	} {
		if got := heartbeatSlots(tc.interval); got != tc.want {
			t.Errorf("heartbeatSlots(%v) = %d, want %d", tc.interval, got, tc.want)
		}
	}
}
