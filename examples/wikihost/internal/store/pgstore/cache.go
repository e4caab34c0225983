package pgstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/internal/pgcache"
)

// Every chat call asks the wiki who its caller is and what they may do
// with the page, and on a cluster each answer was a round trip or three to
// PostgreSQL: a session, a user and a page's permission lists. Those rows
// change rarely (a log-in or log-out, a permission edit), so each node
// keeps the ones it read (package pgcache), and every write of such a row
// tells every node to forget it with a NOTIFY on the same transaction. A
// change made on another node is seen here once its notification
// arrives, normally within milliseconds of its commit; a change made on
// this node is seen here at once.

const (
	// cacheChannel is the NOTIFY channel of the wiki's changes; a
	// payload is the key of the row that changed (userKey, sessionKey,
	// pageKey), or forgetAll.
	cacheChannel = "pagechat_wiki"
	// forgetAll is the payload that empties every node's cache.
	forgetAll = "*"
	// listenRetryMax caps the wait between reconnects of the listener.
	listenRetryMax = 5 * time.Second
)

// Keys of the cached rows: a kind letter, a colon and the row's key.
func userKey(id string) string       { return "u:" + id }
func sessionKey(hash string) string  { return "s:" + hash }
func pageKey(id int64) string        { return "p:" + formatID(id) }
func isCacheKey(payload string) bool { return payload == forgetAll || strings.Contains(payload, ":") }

// A cached row is a store.User, store.Session or store.Page (without
// body); copyOf copies what a caller could change.
func copyOf(v any) any {
	switch v := v.(type) {
	case store.User:
		v.PasswordHash = slices.Clone(v.PasswordHash)
		return v
	case store.Page:
		v.View, v.Edit = slices.Clone(v.View), slices.Clone(v.Edit)
		return v
	}
	return v
}

// cached reads a row through the node's cache.
func cached[T any](s *Store, key string, read func() (T, error)) (T, error) {
	v, err := pgcache.Read(s.cache, key, copyOf, func() (any, error) { return read() })
	if err != nil {
		var zero T
		return zero, err
	}
	return v.(T), nil
}

// notifySQL queues the notification of a changed row on a transaction; it
// is delivered to every node (this one included) when the transaction
// commits, and not at all if it rolls back.
const notifySQL = `SELECT pg_notify('` + cacheChannel + `', $1)`

// changed forgets key on this node at once, after a write committed, so
// this node's next read sees the write without waiting for its own
// notification.
func (s *Store) changed(key string) {
	if key == forgetAll {
		s.cache.ForgetAll()
		return
	}
	s.cache.Forget(key)
}

// listen keeps the LISTEN connection of the cache open until ctx ends,
// reconnecting with backoff; the cache serves only while it is open.
func (s *Store) listen(ctx context.Context) {
	pgcache.Listen(ctx, pgcache.Listener{
		Config:   s.pool.Config().ConnConfig,
		Name:     "pagechat-wiki-cache",
		Channels: []string{cacheChannel},
		Up:       func() { s.cache.SetLive(true) },
		Down:     func() { s.cache.SetLive(false) },
		Note: func(n *pgconn.Notification) {
			if isCacheKey(n.Payload) {
				s.changed(n.Payload)
			}
		},
		MaxBackoff: listenRetryMax,
	})
}
