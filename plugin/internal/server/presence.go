package server

import "sync"

// presence counts, per room, the open streams and joins of each user. It is
// in memory on purpose: after a restart nobody is online until their
// browser reconnects, which is the truth.
type presence struct {
	mu    sync.Mutex
	rooms map[string]map[string]int
}

func newPresence() *presence {
	return &presence{rooms: make(map[string]map[string]int)}
}

// inc counts one more presence and reports whether the user just came online.
func (p *presence) inc(roomID, userID string) (cameOnline bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	users := p.rooms[roomID]
	if users == nil {
		users = make(map[string]int)
		p.rooms[roomID] = users
	}
	users[userID]++
	return users[userID] == 1
}

// dec counts one presence less and reports whether the user just went
// offline. Extra calls (a Leave without a Join) are ignored.
func (p *presence) dec(roomID, userID string) (wentOffline bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	users := p.rooms[roomID]
	if users[userID] == 0 {
		return false
	}
	users[userID]--
	if users[userID] > 0 {
		return false
	}
	delete(users, userID)
	if len(users) == 0 {
		delete(p.rooms, roomID)
	}
	return true
}

// online reports whether the user is present in the room.
func (p *presence) online(roomID, userID string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rooms[roomID][userID] > 0
}

// onlineIn returns the users present in the room.
func (p *presence) onlineIn(roomID string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	users := p.rooms[roomID]
	out := make([]string, 0, len(users))
	for u := range users {
		out = append(out, u)
	}
	return out
}

// presenceKey is a user online in a room.
type presenceKey struct{ room, user string }

// snapshot returns everyone online on this node.
func (p *presence) snapshot() []presenceKey {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []presenceKey
	for room, users := range p.rooms {
		for user := range users {
			out = append(out, presenceKey{room, user})
		}
	}
	return out
}

// presenceCounter is what the chat service asks of presence: the local
// counter above on one node, clusterPresence (cluster.go) across nodes.
type presenceCounter interface {
	// inc counts one more stream or join and reports whether the user
	// just came online.
	inc(roomID, userID string) bool
	// dec undoes one inc and reports whether the user just went offline.
	dec(roomID, userID string) bool
	// online reports whether the user is present in the room.
	online(roomID, userID string) bool
	// onlineIn returns the users present in the room, in no order.
	onlineIn(roomID string) []string
}

var _ presenceCounter = (*presence)(nil)
