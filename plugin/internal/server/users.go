package server

import (
	"context"
	"sync"
	"time"
)

// userNameTTL is how long a display name is reused. A rename shows up in
// new messages after at most this long; old messages keep the name they
// were sent with.
const userNameTTL = time.Minute

type userEntry struct {
	name    string
	expires time.Time
}

// userCache remembers display names from HostAPI.GetUser.
type userCache struct {
	host *hostClient
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]userEntry
}

func newUserCache(host *hostClient, now func() time.Time) *userCache {
	return &userCache{host: host, now: now, entries: make(map[string]userEntry)}
}

// displayName returns the user's display name. A user the host does not
// know is shown by id rather than refused: the permission check, not the
// name lookup, decides who may act.
func (c *userCache) displayName(ctx context.Context, userID string) (string, error) {
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[userID]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.name, nil
	}
	name, err := c.host.displayName(ctx, userID)
	if err != nil {
		return "", err
	}
	if name == "" {
		name = userID
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCacheEntries {
		clear(c.entries)
	}
	c.entries[userID] = userEntry{name: name, expires: now.Add(userNameTTL)}
	return name, nil
}

// cachedName returns a known display name without calling the host, or the
// user id; for paths such as leaving that must not block on the host.
func (c *userCache) cachedName(userID string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.entries[userID]; ok {
		return e.name
	}
	return userID
}
