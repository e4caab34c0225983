// Package pgcache is a read cache for rows of a PostgreSQL database that
// several processes share and change, kept correct by notifications: every
// write of a cached row sends a NOTIFY on its own transaction, every
// process LISTENs, and each forgets what it is told changed.
//
// The cache serves only while its owner says it hears every notification
// (SetLive(true) once LISTEN succeeded, SetLive(false) when the connection
// is lost); both empty it, so nothing read while changes could go unheard
// is ever served. A read that began before a change was heard is not kept
// (the generation check of Fill). Entries also expire after MaxAge, which
// bounds what a process could serve if a notification never came (a
// connection that died silently, or a process of an older release that
// does not notify, during a rolling upgrade).
package pgcache

import (
	"sync"
	"time"
)

// MaxAge bounds how long an entry is served without a read.
const MaxAge = 5 * time.Second

// MaxEntries bounds a cache's memory; past it an arbitrary entry makes
// room.
const MaxEntries = 100_000

// Cache maps keys to values read from the database. The zero value is not
// usable; call New. It is safe for concurrent use.
type Cache[V any] struct {
	now func() time.Time

	mu      sync.Mutex
	live    bool   // the owner hears every change
	gen     uint64 // moves on every change heard, loss and reconnect
	entries map[string]entry[V]
}

type entry[V any] struct {
	val V
	at  time.Time
}

// New returns an empty cache that does not serve until SetLive(true).
func New[V any]() *Cache[V] {
	return &Cache[V]{now: time.Now, entries: make(map[string]entry[V])}
}

// Get returns the value under key, if the cache may serve it.
func (c *Cache[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !c.live {
		var zero V
		return zero, false
	}
	if c.now().Sub(e.at) > MaxAge {
		delete(c.entries, key)
		var zero V
		return zero, false
	}
	return e.val, true
}

// Begin returns the generation a read starts in, for Fill.
func (c *Cache[V]) Begin() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// Fill keeps val under key if the cache is live and nothing changed since
// the read began in gen.
func (c *Cache[V]) Fill(gen uint64, key string, val V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || c.gen != gen {
		return
	}
	if len(c.entries) >= MaxEntries {
		for k := range c.entries {
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = entry[V]{val: val, at: c.now()}
}

// Forget drops key, and keeps reads that began before from being kept.
func (c *Cache[V]) Forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	delete(c.entries, key)
}

// ForgetAll empties the cache, and keeps reads that began before from
// being kept.
func (c *Cache[V]) ForgetAll() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	clear(c.entries)
}

// SetLive empties the cache and says whether it may serve from now on.
func (c *Cache[V]) SetLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.live = live
	clear(c.entries)
}

// Read returns the value under key from the cache when it may serve it,
// else from read, keeping what read returns when that is safe. copyOf
// makes the copy each side gets, so that neither the caller nor the cache
// sees the other's changes to a shared slice or map.
func Read[V any](c *Cache[V], key string, copyOf func(V) V, read func() (V, error)) (V, error) {
	if v, ok := c.Get(key); ok {
		return copyOf(v), nil
	}
	gen := c.Begin()
	v, err := read()
	if err == nil {
		c.Fill(gen, key, copyOf(v))
	}
	return v, err
}
