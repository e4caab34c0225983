package pgstore

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// Every chat call asks the wiki who its caller is and what they may do
// with the page, and on a cluster each answer was a round trip or three to
// PostgreSQL: a session, a user and a page's permission lists. Those rows
// change rarely (a log-in or log-out, a permission edit), so each node
// keeps the ones it read, and every write of such a row tells every node
// to forget it with a NOTIFY on the same transaction.
//
// A node serves from its cache only while its LISTEN connection is open:
// the cache is emptied whenever that connection is lost and when it is
// back, and nothing read in between is kept. A row read while a change to
// it was being heard is not kept either (the generation check in fill).
// Entries also expire after cacheMaxAge, which bounds what a node could
// serve if a notification never came (a silently dead connection, or a
// node of an older release that does not notify, during a rolling
// upgrade). A change made on another node is seen here once its
// notification arrives, normally within milliseconds of its commit; a
// change made on this node is seen here at once.

const (
	// cacheChannel is the NOTIFY channel of the wiki's changes; a
	// payload is the key of the row that changed (cacheKey), or
	// forgetAll.
	cacheChannel = "pagechat_wiki"
	// forgetAll is the payload that empties every node's cache.
	forgetAll = "*"
	// cacheMaxAge bounds how long an entry is served without a read.
	cacheMaxAge = 5 * time.Second
	// maxCacheEntries bounds the cache's memory; past it an arbitrary
	// entry makes room.
	maxCacheEntries = 100_000
	// listenRetryMax caps the wait between reconnects of the listener.
	listenRetryMax = 5 * time.Second
)

// Keys of the cached rows: a kind letter, a colon and the row's key.
func userKey(id string) string       { return "u:" + id }
func sessionKey(hash string) string  { return "s:" + hash }
func pageKey(id int64) string        { return "p:" + formatID(id) }
func isCacheKey(payload string) bool { return payload == forgetAll || strings.Contains(payload, ":") }

// cacheEntry is one cached row: a store.User, store.Session or store.Page
// (without body).
type cacheEntry struct {
	val any
	at  time.Time
}

// readCache holds the rows this node read while it heard every change.
type readCache struct {
	now func() time.Time

	mu      sync.Mutex
	live    bool   // the listener is connected and listening
	gen     uint64 // moves on every change heard, loss and reconnect
	entries map[string]cacheEntry
}

func newReadCache() *readCache {
	return &readCache{now: time.Now, entries: make(map[string]cacheEntry)}
}

// get returns the cached row under key, if the cache may serve it.
func (c *readCache) get(key string) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.live {
		return nil, false
	}
	if c.now().Sub(e.at) > cacheMaxAge {
		delete(c.entries, key)
		return nil, false
	}
	return e.val, true
}

// begin returns the generation a read starts in, and whether its result
// may be kept at all.
func (c *readCache) begin() (uint64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen, c.live
}

// fill keeps val under key if nothing changed since the read began in gen.
func (c *readCache) fill(gen uint64, key string, val any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if len(c.entries) >= maxCacheEntries {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cacheEntry{val: val, at: c.now()}
}

// forget drops the row of a notification's payload (everything for
// forgetAll), and stops fills of reads that began before.
func (c *readCache) forget(payload string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if payload == forgetAll {
		clear(c.entries)
		return
	}
	delete(c.entries, payload)
}

// setLive empties the cache and says whether it may serve from now on.
func (c *readCache) setLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.entries)
}

// cached reads the row under key through the cache: from it when it may
// serve, else with read, keeping what read returns when that is safe.
// Callers get their own copy (clone), never the cached value itself, so
// they may change what they got.
func cached[T any](c *readCache, key string, clone func(T) T, read func() (T, error)) (T, error) {
	if v, ok := c.get(key); ok {
		return clone(v.(T)), nil
	}
	gen, keep := c.begin()
	v, err := read()
	if err == nil && keep {
		c.fill(gen, key, clone(v))
	}
	return v, err
}

func cloneUser(u store.User) store.User {
	u.PasswordHash = slices.Clone(u.PasswordHash)
	return u
}

func cloneSession(s store.Session) store.Session { return s }

func clonePage(p store.Page) store.Page {
	p.View, p.Edit = slices.Clone(p.View), slices.Clone(p.Edit)
	return p
}

// notifySQL queues the notification of a changed row on a transaction; it
// is delivered to every node (this one included) when the transaction
// commits, and not at all if it rolls back.
const notifySQL = `SELECT pg_notify('` + cacheChannel + `', $1)`

// changed forgets key on this node at once, after a write committed, so
// this node's next read sees the write without waiting for its own
// notification.
func (s *Store) changed(key string) { s.cache.forget(key) }

// listen keeps the LISTEN connection of the cache open until ctx ends,
// reconnecting with backoff; the cache serves only while it is open.
func (s *Store) listen(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		cfg := s.pool.Config().ConnConfig.Copy()
		cfg.RuntimeParams["application_name"] = "pagechat-wiki-cache"
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			if _, err = conn.Exec(ctx, `LISTEN `+cacheChannel); err == nil {
				backoff = 100 * time.Millisecond
				s.cache.setLive(true)
				for {
					n, werr := conn.WaitForNotification(ctx)
					if werr != nil {
						break
					}
					if isCacheKey(n.Payload) {
						s.cache.forget(n.Payload)
					}
				}
				s.cache.setLive(false)
			}
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			_ = conn.Close(closeCtx)
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, listenRetryMax)
	}
}
