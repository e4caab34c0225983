package server

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/plugin/internal/hub"
	"github.com/pagechat/pagechat/plugin/internal/store/pgstore"
)

// Cluster mode: the plugin keeps its data in PostgreSQL, shared with the
// plugins of the other nodes. Messages cross nodes through the store (its
// follower feeds the hub); presence and the rate limits cross them here.

// Cluster timing. Both can be shortened through the plugin's environment
// (host-sdk's WithPluginEnv), which the tests do to see a dead node's
// users drop off, and its rooms' transcripts taken over, in seconds.
const (
	// defaultPresenceTTL is how long a node's presence rows stay valid
	// without a heartbeat: the most a dead node's users stay listed as
	// online elsewhere. Heartbeats come every presenceTTL/5.
	defaultPresenceTTL = 10 * time.Second
	// envPresenceTTL and envLeaseTTL override defaultPresenceTTL and the
	// transcript lease (pgstore.DefaultLeaseTTL), as Go durations.
	envPresenceTTL = "PAGECHAT_PRESENCE_TTL"
	envLeaseTTL    = "PAGECHAT_TRANSCRIPT_LEASE_TTL"
	// clusterCallTimeout bounds a presence or rate-limit call to the
	// database on a request's path.
	clusterCallTimeout = 2 * time.Second
)

// clusterDB is what cluster mode needs of the PostgreSQL store beyond
// store.Store.
type clusterDB interface {
	SyncPresence(ctx context.Context, entries []pgstore.PresenceEntry, ttl time.Duration) ([]pgstore.PresenceEntry, error)
	SetPresence(ctx context.Context, e pgstore.PresenceEntry, online bool, ttl time.Duration) error
	SpendBucket(ctx context.Context, key string, capacity, perSecond, n float64) (bool, time.Duration, error)
	RefundBucket(ctx context.Context, key string, capacity, n float64) error
}

// durationEnv reads a duration from the environment, def if unset.
func durationEnv(name string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, failf(errInvalid, "%s=%q is not a positive duration", name, v)
	}
	return d, nil
}

// clusterPresence is presence across nodes: this node's streams are
// counted in memory as on one node, and written to the database (at once
// on a change, and by a heartbeat that renews them); other nodes' users
// are read back by the same heartbeat. A user is online if online here or
// on any live node, and the hub hears when that changes.
type clusterPresence struct {
	local  *presence
	db     clusterDB
	hub    *hub.Hub
	name   func(userID string) string
	logger hclog.Logger
	ttl    time.Duration

	mu     sync.Mutex
	remote map[presenceKey]string // online on other nodes, with display names

	stopCh chan struct{}
	done   chan struct{}
}

func newClusterPresence(db clusterDB, h *hub.Hub, name func(string) string, logger hclog.Logger, ttl time.Duration) *clusterPresence {
	c := &clusterPresence{
		local:  newPresence(),
		db:     db,
		hub:    h,
		name:   name,
		logger: logger,
		ttl:    ttl,
		remote: map[presenceKey]string{},
		stopCh: make(chan struct{}),
		done:   make(chan struct{}),
	}
	go c.run()
	return c
}

var _ presenceCounter = (*clusterPresence)(nil)

func (c *clusterPresence) remoteOnline(roomID, userID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.remote[presenceKey{roomID, userID}]
	return ok
}

func (c *clusterPresence) set(roomID, userID string, online bool) {
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	e := pgstore.PresenceEntry{RoomID: roomID, UserID: userID, DisplayName: c.name(userID)}
	if err := c.db.SetPresence(ctx, e, online, c.ttl); err != nil {
		// The heartbeat writes the whole local state again soon.
		c.logger.Warn("presence not shared with the other nodes yet", "room", roomID, "user", userID, "error", err)
	}
}

func (c *clusterPresence) inc(roomID, userID string) bool {
	if !c.local.inc(roomID, userID) {
		return false
	}
	c.set(roomID, userID, true)
	return !c.remoteOnline(roomID, userID)
}

func (c *clusterPresence) dec(roomID, userID string) bool {
	if !c.local.dec(roomID, userID) {
		return false
	}
	c.set(roomID, userID, false)
	return !c.remoteOnline(roomID, userID)
}

func (c *clusterPresence) online(roomID, userID string) bool {
	return c.local.online(roomID, userID) || c.remoteOnline(roomID, userID)
}

func (c *clusterPresence) onlineIn(roomID string) []string {
	out := c.local.onlineIn(roomID)
	here := make(map[string]bool, len(out))
	for _, u := range out {
		here[u] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for k := range c.remote {
		if k.room == roomID && !here[k.user] {
			out = append(out, k.user)
		}
	}
	return out
}

// run is the heartbeat, until stop.
func (c *clusterPresence) run() {
	defer close(c.done)
	t := time.NewTicker(min(max(c.ttl/5, 100*time.Millisecond), 2*time.Second))
	defer t.Stop()
	for {
		c.beat()
		select {
		case <-c.stopCh:
			return
		case <-t.C:
		}
	}
}

// beat renews this node's rows, reads the other nodes' and announces who
// came or went there.
func (c *clusterPresence) beat() {
	keys := c.local.snapshot()
	entries := make([]pgstore.PresenceEntry, len(keys))
	for i, k := range keys {
		entries[i] = pgstore.PresenceEntry{RoomID: k.room, UserID: k.user, DisplayName: c.name(k.user)}
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterCallTimeout)
	defer cancel()
	others, err := c.db.SyncPresence(ctx, entries, c.ttl)
	if err != nil {
		c.logger.Debug("presence heartbeat failed", "error", err)
		return
	}
	now := time.Now()
	remote := make(map[presenceKey]string, len(others))
	for _, e := range others {
		remote[presenceKey{e.RoomID, e.UserID}] = e.DisplayName
	}
	c.mu.Lock()
	old := c.remote
	c.remote = remote
	c.mu.Unlock()
	for k, name := range remote {
		if _, was := old[k]; !was && !c.local.online(k.room, k.user) {
			c.hub.Publish(k.room, hub.Event{Presence: &hub.Presence{UserID: k.user, DisplayName: name, Online: true, At: now}})
		}
	}
	for k, name := range old {
		if _, is := remote[k]; !is && !c.local.online(k.room, k.user) {
			c.hub.Publish(k.room, hub.Event{Presence: &hub.Presence{UserID: k.user, DisplayName: name, Online: false, At: now}})
		}
	}
}

// stop ends the heartbeat and removes this node's rows, so its users go
// offline elsewhere at once rather than after the TTL.
func (c *clusterPresence) stop() {
	close(c.stopCh)
	<-c.done
	// Short: Shutdown has a few seconds in all, and the rows expire
	// anyway if the database cannot be reached now.
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = c.db.SyncPresence(ctx, nil, c.ttl)
}

// bucketKey names a user's bucket of one kind in a room, unambiguously
// whatever the ids hold.
func bucketKey(kind, userID, roomID string) string {
	return fmt.Sprintf("%s:%d:%s:%s", kind, len(userID), userID, roomID)
}
