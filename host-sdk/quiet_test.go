package hostsdk

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
)

// versionedHost is the test host with a permission version that every
// deny moves, as a real host's writes would.
type versionedHost struct {
	*testHost
	version atomic.Uint64
	unknown atomic.Bool // PermissionVersion says it cannot tell
}

func (h *versionedHost) PermissionVersion() (uint64, bool) {
	return h.version.Load(), !h.unknown.Load()
}

func (h *versionedHost) deny(user, page string, perm Permission) {
	h.testHost.deny(user, page, perm)
	h.version.Add(1)
}

var _ PermissionVersioner = (*versionedHost)(nil)

// newVersionedWebServer is newWebServer with a versionedHost.
func newVersionedWebServer(t *testing.T, window time.Duration) (*webServer, *versionedHost) {
	t.Helper()
	host := &versionedHost{testHost: newTestHost()}
	ws := newWebServerOn(t, host, host.testHost, []Option{WithPermissionCache(window)}, WithPermissionWindow(window))
	return ws, host
}

// While the host's permission version holds, re-check rounds stop asking
// the plugin about viewers; a change the host makes still ends a revoked
// viewer's stream, although the plugin's cache held the old answer.
func TestQuietRoundsAskNothingUntilTheVersionMoves(t *testing.T) {
	t.Parallel()
	window := 100 * time.Millisecond
	ws, host := newVersionedWebServer(t, window)
	alice := ws.openEvents(t, cookieUser("alice"), "after=0", nil)
	bob := ws.openEvents(t, cookieUser("bob"), "after=0", nil)
	ws.send(t, "alice", "1", "hello")
	alice.wantMessages(t, 1, 1)
	bob.wantMessages(t, 1, 1)

	testutil.Eventually(t, 30*time.Second, func() bool { return ws.h.recheckQuiet.Load() > 0 }, "a quiet round")
	calls, rounds := ws.h.recheckCalls.Load(), ws.h.recheckRounds.Load()
	testutil.Eventually(t, 30*time.Second, func() bool { return ws.h.recheckRounds.Load() >= rounds+5 }, "five more rounds")
	if got := ws.h.recheckCalls.Load(); got != calls {
		t.Errorf("%d permission calls to the plugin in five rounds while the version held; want none", got-calls)
	}

	// Bob reads the history, so the plugin's cache says he may view; the
	// rounds right after the change hear that answer and must not count.
	if resp, body := ws.do(t, http.MethodGet, ws.api(ws.room.ID)+"/messages", cookieUser("bob"), nil, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("bob's history: %s %s", resp.Status, body)
	}
	revoked := time.Now()
	host.deny("bob", "p1", PermissionView)
	wantCutForbidden(t, bob, revoked)
	if ws.h.recheckCalls.Load() == calls {
		t.Error("the version moved but no round asked the plugin")
	}
	ws.send(t, "alice", "2", "still here")
	alice.wantMessages(t, 2, 2)
}

// A host that cannot tell its version (ok false) gets every round asked.
func TestRoundsAskWhenTheHostCannotTell(t *testing.T) {
	t.Parallel()
	window := 50 * time.Millisecond
	ws, host := newVersionedWebServer(t, window)
	host.unknown.Store(true)
	alice := ws.openEvents(t, cookieUser("alice"), "after=0", nil)
	ws.send(t, "alice", "1", "hello")
	alice.wantMessages(t, 1, 1)
	rounds := ws.h.recheckRounds.Load()
	testutil.Eventually(t, 30*time.Second, func() bool { return ws.h.recheckRounds.Load() >= rounds+10 }, "ten rounds")
	if q := ws.h.recheckQuiet.Load(); q != 0 {
		t.Errorf("%d quiet rounds for a host that cannot tell its version", q)
	}
}

// quietRounds trusts a version only after a round that started a cache
// lifetime after the version was first seen heard every answer, and never
// for longer than QuietRecheckLimit.
func TestQuietRoundsDecision(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	procA, procB := &instance{}, &instance{}
	type round struct {
		at       time.Duration // after t0
		version  uint64
		ok       bool
		inst     *instance
		answered bool // the round, if it asks, hears every answer
		quiet    bool // want: the round may skip asking
	}
	for _, tc := range []struct {
		name   string
		rounds []round
	}{
		{"trusted a cache lifetime after the version was seen", []round{
			{0, 1, true, procA, true, false},
			{time.Second, 1, true, procA, true, false},
			{2 * time.Second, 1, true, procA, true, false}, // counts: 2 s after first seen
			{3 * time.Second, 1, true, procA, true, true},
			{20 * time.Second, 1, true, procA, true, true},
		}},
		{"asks again at the limit", []round{
			{0, 1, true, procA, true, false},
			{2 * time.Second, 1, true, procA, true, false},
			{2*time.Second + QuietRecheckLimit - time.Millisecond, 1, true, procA, true, true},
			{2*time.Second + QuietRecheckLimit, 1, true, procA, true, false},
			{3*time.Second + QuietRecheckLimit, 1, true, procA, true, true},
		}},
		{"a new version is not trusted for a cache lifetime", []round{
			{0, 1, true, procA, true, false},
			{2 * time.Second, 1, true, procA, true, false},
			{3 * time.Second, 1, true, procA, true, true},
			{4 * time.Second, 2, true, procA, true, false},
			{5 * time.Second, 2, true, procA, true, false},
			{6 * time.Second, 2, true, procA, true, false}, // counts
			{7 * time.Second, 2, true, procA, true, true},
		}},
		{"a round that missed answers does not count", []round{
			{0, 1, true, procA, true, false},
			{2 * time.Second, 1, true, procA, false, false},
			{3 * time.Second, 1, true, procA, true, false},
			{4 * time.Second, 1, true, procA, true, true},
		}},
		{"a new plugin process starts over", []round{
			{0, 1, true, procA, true, false},
			{2 * time.Second, 1, true, procA, true, false},
			{3 * time.Second, 1, true, procB, true, false},
			{4 * time.Second, 1, true, procB, true, false},
			{5 * time.Second, 1, true, procB, true, false},
			{6 * time.Second, 1, true, procB, true, true},
		}},
		{"a host that cannot tell is always asked", []round{
			{0, 1, false, procA, true, false},
			{2 * time.Second, 1, false, procA, true, false},
			{3 * time.Second, 1, false, procA, true, false},
			{10 * time.Second, 1, false, procA, true, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host := &versionedHost{testHost: newTestHost()}
			q := quietRounds{versions: host, ttl: ttl}
			for i, r := range tc.rounds {
				host.version.Store(r.version)
				host.unknown.Store(!r.ok)
				now := t0.Add(r.at)
				quiet := q.begin(now, r.inst)
				if quiet != r.quiet {
					t.Fatalf("round %d at +%v: quiet = %v, want %v", i, r.at, quiet, r.quiet)
				}
				if !quiet && r.answered {
					q.answered(now)
				}
			}
		})
	}
}

// A Handler whose host has no PermissionVersioner asks every round.
func TestQuietRoundsWithoutVersioner(t *testing.T) {
	t.Parallel()
	q := quietRounds{ttl: time.Second}
	t0 := time.Now()
	for i := range 5 {
		now := t0.Add(time.Duration(i) * 10 * time.Second)
		if q.begin(now, nil) {
			t.Fatalf("round %d quiet without a versioner", i)
		}
		q.answered(now)
	}
}
