package hostsdk

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
)

// sessionStore stands for a host's server-side sessions: a cookie names a
// session id, and logging out deletes it.
type sessionStore struct {
	mu       sync.Mutex
	sessions map[string]string // session id -> user
	failing  error             // if set, every lookup fails with it
	// identified and rechecked count successful identifies and Recheck
	// calls.
	identified, rechecked int
	// keyed makes identifyWithRecheck name each session in RecheckKey;
	// perSession counts Recheck calls by session id.
	keyed      bool
	perSession map[string]int
}

func (s *sessionStore) set(sid, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sid] = user
}

func (s *sessionStore) logout(sid string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, sid)
}

func (s *sessionStore) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = err
}

func (s *sessionStore) identify(r *http.Request) (Identity, error) {
	c, err := r.Cookie("sid")
	if err != nil {
		return Identity{}, fmt.Errorf("no session cookie: %w", ErrUnauthenticated)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failing != nil {
		return Identity{}, s.failing
	}
	u, ok := s.sessions[c.Value]
	if !ok {
		return Identity{}, fmt.Errorf("session expired or logged out: %w", ErrUnauthenticated)
	}
	s.identified++
	return Identity{UserID: u, CookieSession: true}, nil
}

// identifyWithRecheck is identify for a host that gives each Identity a
// Recheck of the session it found.
func (s *sessionStore) identifyWithRecheck(r *http.Request) (Identity, error) {
	id, err := s.identify(r)
	if err != nil {
		return id, err
	}
	c, _ := r.Cookie("sid")
	sid, user := c.Value, id.UserID
	if s.keyed {
		id.RecheckKey = sid
	}
	id.Recheck = func() error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.rechecked++
		if s.perSession == nil {
			s.perSession = make(map[string]int)
		}
		s.perSession[sid]++
		if s.failing != nil {
			return s.failing
		}
		if s.sessions[sid] != user {
			return fmt.Errorf("session logged out or taken over: %w", ErrUnauthenticated)
		}
		return nil
	}
	return id, nil
}

// counts returns how often identify and a Recheck ran.
func (s *sessionStore) counts() (identified, rechecked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.identified, s.rechecked
}

func withSession(sid string) who {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "sid", Value: sid}) }
}

// TestStreamEndsWhenItsSessionEnds checks security finding #8: an open
// event stream is re-checked against the host's login, not only against
// page permission, and ends within the permission window once its
// session is gone, while other sessions' streams carry on.
func TestStreamEndsWhenItsSessionEnds(t *testing.T) {
	t.Parallel()
	const window = 100 * time.Millisecond
	tests := []struct {
		name     string
		end      func(s *sessionStore)
		wantCode string
	}{
		{"logout", func(s *sessionStore) { s.logout("bob-1") }, "unauthenticated"},
		{"session now another user's", func(s *sessionStore) { s.set("bob-1", "mallory") }, "unauthenticated"},
		{"session store failing", func(s *sessionStore) { s.fail(errors.New("session database down")) }, "unavailable"},
	}
	for _, tt := range tests {
		for _, recheck := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/recheck=%v", tt.name, recheck), func(t *testing.T) {
				t.Parallel()
				p := newFakePlugin()
				store := &sessionStore{sessions: map[string]string{"alice-1": "alice", "bob-1": "bob"}}
				identify := store.identify
				if recheck {
					identify = store.identifyWithRecheck
				}
				h, err := newHandler(p, newTestHost(), config{}, hclog.NewNullLogger(), identify, WithPermissionWindow(window))
				if err != nil {
					t.Fatalf("newHandler: %v", err)
				}
				ws := &webServer{h: h, room: p.room}
				ws.serve(t)
				alice := ws.openEvents(t, withSession("alice-1"), "", nil)
				bob := ws.openEvents(t, withSession("bob-1"), "", nil)
				p.post(1)
				alice.wantMessages(t, 1, 1)
				bob.wantMessages(t, 1, 1)

				ended := time.Now()
				tt.end(store)
				if ev := bob.nextTerminal(t); ev.Event != "error" || !jsonHasCode(ev.Data, tt.wantCode) {
					t.Fatalf("bob's stream got %+v, want an error event with code %s", ev, tt.wantCode)
				}
				bob.waitEnd(t)
				// Within the window, with a wide margin for a busy machine;
				// before the fix the stream never ended.
				if d := time.Since(ended); d > 20*window {
					t.Fatalf("bob's stream ended %v after the session did, want within about %v", d, window)
				}
				// With a Recheck the streams' re-checks use it, and the
				// host's identify runs only for the requests.
				identified, rechecked := store.counts()
				if recheck && (rechecked == 0 || identified > 2) {
					t.Errorf("with Recheck: %d identifies and %d rechecks, want 2 identifies (the two requests) and some rechecks", identified, rechecked)
				}
				if !recheck && rechecked != 0 {
					t.Errorf("%d rechecks without Recheck", rechecked)
				}
				if tt.wantCode == "unavailable" {
					return // alice's session cannot be verified either
				}
				p.post(1)
				alice.wantMessages(t, 2, 2)
				if tt.name == "logout" {
					resp, body := ws.do(t, http.MethodGet, ws.api(p.room.ID)+"/events", withSession("bob-1"), nil, nil)
					wantError(t, resp, body, http.StatusUnauthorized, "unauthenticated")
				}
			})
		}
	}
}

// The streams of one login, named by RecheckKey, are re-checked with one
// call per round, and all end together when the login does; without a
// key each stream is re-checked on its own.
func TestStreamsOfOneLoginShareTheirRecheck(t *testing.T) {
	t.Parallel()
	const window = 100 * time.Millisecond
	for _, keyed := range []bool{true, false} {
		t.Run(fmt.Sprintf("keyed=%v", keyed), func(t *testing.T) {
			t.Parallel()
			p := newFakePlugin()
			store := &sessionStore{sessions: map[string]string{"alice-1": "alice", "bob-1": "bob"}, keyed: keyed}
			h, err := newHandler(p, newTestHost(), config{}, hclog.NewNullLogger(), store.identifyWithRecheck, WithPermissionWindow(window))
			if err != nil {
				t.Fatalf("newHandler: %v", err)
			}
			ws := &webServer{h: h, room: p.room}
			ws.serve(t)
			alice := ws.openEvents(t, withSession("alice-1"), "", nil)
			bobs := []*sseConn{
				ws.openEvents(t, withSession("bob-1"), "", nil),
				ws.openEvents(t, withSession("bob-1"), "", nil),
				ws.openEvents(t, withSession("bob-1"), "", nil),
			}
			p.post(1)
			alice.wantMessages(t, 1, 1)
			for _, b := range bobs {
				b.wantMessages(t, 1, 1)
			}
			time.Sleep(10 * window)
			store.mu.Lock()
			a, b := store.perSession["alice-1"], store.perSession["bob-1"]
			store.mu.Unlock()
			if a < 3 {
				t.Fatalf("alice's session was re-checked %d times in %v, want several", a, 10*window)
			}
			// A round checks alice's one stream and bob's three; the
			// counts are read between rounds or during one.
			if shared := b <= a+2; shared != keyed {
				t.Errorf("keyed=%v: bob's three streams were re-checked %d times while alice's one was %d times", keyed, b, a)
			}
			store.logout("bob-1")
			for i, b := range bobs {
				if ev := b.nextTerminal(t); ev.Event != "error" || !jsonHasCode(ev.Data, "unauthenticated") {
					t.Fatalf("bob's stream %d got %+v, want an error event with code unauthenticated", i, ev)
				}
			}
			p.post(1)
			alice.wantMessages(t, 2, 2)
			// Ended streams leave their login: bob's is forgotten, and
			// only alice's is re-checked from now on.
			want := 0
			if keyed {
				want = 1
			}
			for deadline := time.Now().Add(10 * time.Second); len(h.loginList()) != want; {
				if time.Now().After(deadline) {
					t.Fatalf("%d logins kept after bob's streams ended, want %d", len(h.loginList()), want)
				}
				time.Sleep(window / 10)
			}
		})
	}
}
