package hostsdk

import (
	"maps"
	"sync"
)

// A login is what the open event streams of one user on one session (or
// one password) have in common: one Identity.RecheckKey. The sweeper
// re-checks each login once per round and ends all of its streams when it
// has ended. Before, a round walked every stream and looked its login's
// answer up by key, so ten thousand streams of 1,250 logins cost ten
// thousand string-keyed lookups a round for 1,250 checks.
type login struct {
	key   string
	check func() endReason // the first stream's; all of them check the same thing

	mu      sync.Mutex
	streams map[*viewer]*roomFeed // guarded by mu
}

// joinLogin counts v, a stream on f, under the login named key (user and
// RecheckKey), registering the login with check if it is new. The caller
// hands the result to leaveLogin when the stream ends.
func (h *Handler) joinLogin(key string, check func() endReason, v *viewer, f *roomFeed) *login {
	h.loginsMu.Lock()
	defer h.loginsMu.Unlock()
	l := h.logins[key]
	if l == nil {
		if h.logins == nil {
			h.logins = make(map[string]*login)
		}
		l = &login{key: key, check: check, streams: make(map[*viewer]*roomFeed)}
		h.logins[key] = l
	}
	l.mu.Lock()
	l.streams[v] = f
	l.mu.Unlock()
	return l
}

// leaveLogin forgets v's membership of l, and l itself with its last
// stream.
func (h *Handler) leaveLogin(l *login, v *viewer) {
	h.loginsMu.Lock()
	defer h.loginsMu.Unlock()
	l.mu.Lock()
	delete(l.streams, v)
	empty := len(l.streams) == 0
	l.mu.Unlock()
	if empty && h.logins[l.key] == l {
		delete(h.logins, l.key)
	}
}

// loginList returns the logins of the open streams.
func (h *Handler) loginList() []*login {
	h.loginsMu.Lock()
	defer h.loginsMu.Unlock()
	out := make([]*login, 0, len(h.logins))
	for _, l := range h.logins {
		out = append(out, l)
	}
	return out
}

// recheck runs the login's check and, if the login has ended, ends every
// stream it has.
func (l *login) recheck() {
	why := l.check()
	if why == endNone {
		return
	}
	// Ending a stream takes its feed's lock, which is not taken under
	// l.mu: copy the streams first.
	l.mu.Lock()
	ended := maps.Clone(l.streams)
	l.mu.Unlock()
	for v, f := range ended {
		f.mu.Lock()
		f.endLocked(v, why)
		f.mu.Unlock()
	}
}
