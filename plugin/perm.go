package plugin

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// maxCacheEntries bounds the permission and user caches. Past it, expired
// entries are swept; a cache full of live entries is cleared, which only
// costs extra host calls.
const maxCacheEntries = 50_000

type permKey struct {
	user, page string
	perm       hostv1.Permission
}

type permEntry struct {
	allowed bool
	expires time.Time
}

// permCache remembers the host's permission answers for a short time. The
// host is the only authority; the cache just spares it a call per message.
type permCache struct {
	host hostv1.HostAPIClient
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	entries map[permKey]permEntry
}

func newPermCache(host hostv1.HostAPIClient, ttl time.Duration, now func() time.Time) *permCache {
	return &permCache{host: host, ttl: ttl, now: now, entries: make(map[permKey]permEntry)}
}

// check answers from the cache or asks the host. Errors (the host is down or
// slow) are not cached, so the next call asks again.
func (c *permCache) check(ctx context.Context, userID, pageID string, perm hostv1.Permission) (bool, error) {
	key := permKey{userID, pageID, perm}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.allowed, nil
	}
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := c.host.CheckPermission(callCtx, &hostv1.CheckPermissionRequest{UserId: userID, PageId: pageID, Permission: perm})
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= maxCacheEntries {
		for k, v := range c.entries {
			if !now.Before(v.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= maxCacheEntries {
			clear(c.entries)
		}
	}
	c.entries[key] = permEntry{allowed: resp.GetAllowed(), expires: now.Add(c.ttl)}
	return resp.GetAllowed(), nil
}

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
	host hostv1.HostAPIClient
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]userEntry
}

func newUserCache(host hostv1.HostAPIClient, now func() time.Time) *userCache {
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
	callCtx, cancel := context.WithTimeout(ctx, hostCallTimeout)
	defer cancel()
	resp, err := c.host.GetUser(callCtx, &hostv1.GetUserRequest{UserId: userID})
	name := resp.GetUser().GetDisplayName()
	switch {
	case status.Code(err) == codes.NotFound:
		name = userID
	case err != nil:
		if ctxErr := ctx.Err(); ctxErr != nil {
			return "", status.FromContextError(ctxErr).Err()
		}
		return "", status.Errorf(codes.Unavailable, "cannot look up user %q with the host: %v", userID, status.Convert(err).Message())
	case name == "":
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
