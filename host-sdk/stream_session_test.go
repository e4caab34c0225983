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
	return Identity{UserID: u, CookieSession: true}, nil
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
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newFakePlugin()
			store := &sessionStore{sessions: map[string]string{"alice-1": "alice", "bob-1": "bob"}}
			h, err := newHandler(p, newTestHost(), config{}, hclog.NewNullLogger(), store.identify, WithPermissionWindow(window))
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
