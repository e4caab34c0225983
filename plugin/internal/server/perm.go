package server

import (
	"context"
	"sync"
	"time"

	"github.com/pagechat/pagechat/internal/limits"
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

// permFlight is one permission question on its way to the host. Callers
// asking the same question while it is out wait for the same answer.
type permFlight struct {
	key     permKey
	done    chan struct{} // closed when allowed and err are set
	allowed bool
	err     error
}

const (
	// maxPermBatch is the most checks in one CheckPermissions call (the
	// host's limit).
	maxPermBatch = limits.ViewersPerCheck
	// maxPermBatchesOut bounds the CheckPermissions calls in flight. While
	// they are all out, new questions queue and leave together in the next
	// call, so under load the number of round trips stays flat while the
	// batches grow.
	maxPermBatchesOut = 2
	// maxRenewDelay bounds how long a background renewal waits for
	// others to go with it (see renewDelay).
	maxRenewDelay = 100 * time.Millisecond
)

// permCache remembers the host's permission answers for a short time. The
// host is the only authority; the cache just spares it a call per message.
//
// Answers are renewed in the background once they are half way to expiry,
// so that an active user's checks do not wait on the host; an answer is
// still never used after ttl.
//
// Questions that miss the cache are batched: the first one goes to the host
// at once, and those that arrive while the host is busy answering go
// together in one CheckPermissions call. Background renewals, which nobody
// waits for, are held for up to renewDelay and leave together (or with the
// next question someone does wait for): at light load every active sender
// and every open stream renews an answer about once a window, and sent one
// by one those renewals were a host round trip, with its CPU on both sides,
// for every few messages. A popular room re-checking all of
// its viewers, or a thousand senders whose answers expire in the same
// second, cost a handful of round trips instead of one each.
type permCache struct {
	host   *hostClient
	window time.Duration // the configured permission cache window
	now    func() time.Time

	// ctx bounds the batch calls, which serve many callers and so cannot
	// use any one caller's context; close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	entries map[permKey]permEntry
	flights map[permKey]*permFlight // asked or queued, not yet answered
	queue   []*permFlight           // not yet sent
	// renewals are background renewals not yet queued; renewTimer,
	// when set, moves them to queue.
	renewals   []*permFlight
	renewTimer *time.Timer
	out        int  // batches in flight
	closed     bool // set by close: no new batches
}

// newPermCache makes a cache for the configured permission window. Post
// and moderate answers are reused for up to window. View answers last half
// of it, because open streams re-check view every half window and a
// revoked viewer must be cut within window.
func newPermCache(host *hostClient, window time.Duration, now func() time.Time) *permCache {
	ctx, cancel := context.WithCancel(context.Background())
	return &permCache{
		host: host, window: window, now: now, ctx: ctx, cancel: cancel,
		entries: make(map[permKey]permEntry),
		flights: make(map[permKey]*permFlight),
	}
}

// ttl is how long an answer about perm may be reused.
func (c *permCache) ttl(perm hostv1.Permission) time.Duration {
	if perm == hostv1.Permission_PERMISSION_VIEW {
		return c.window / 2
	}
	return c.window
}

// renewDelay is how long a background renewal may wait for company: an
// eighth of the window, at most maxRenewDelay. Renewals start at half an
// answer's life (a quarter of the window for view answers), so the answer
// still has most of that left when the renewal comes back, and nobody ever
// waits for it.
func (c *permCache) renewDelay() time.Duration {
	return min(c.window/8, maxRenewDelay)
}

// close fails the questions still out and waits for the batch calls to
// return. It must be called before the host connection closes.
func (c *permCache) close() {
	c.mu.Lock()
	c.closed = true
	if c.renewTimer != nil {
		c.renewTimer.Stop()
		c.renewTimer = nil
	}
	c.queue = append(c.queue, c.renewals...)
	c.renewals = nil
	c.dispatchLocked() // fails what is queued
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
}

// errPermCacheClosed answers questions asked after close.
var errPermCacheClosed = failf(errStopping, "plugin is shutting down")

// check answers from the cache or asks the host. Errors (the host is down or
// slow) are not cached, so the next call asks again.
func (c *permCache) check(ctx context.Context, userID, pageID string, perm hostv1.Permission) (bool, error) {
	allowed, err := c.checkMany(ctx, []permKey{{userID, pageID, perm}})
	if err != nil {
		return false, err
	}
	return allowed[0], nil
}

// checkMany answers several questions, asking the host about those the
// cache cannot answer in as few calls as the batching allows. It fails if
// any answer cannot be had.
func (c *permCache) checkMany(ctx context.Context, keys []permKey) ([]bool, error) {
	allowed := make([]bool, len(keys))
	var waits []*permFlight
	var waitIdx []int
	now := c.now()
	c.mu.Lock()
	for i, k := range keys {
		f := c.flights[k]
		if e, ok := c.entries[k]; ok && now.Before(e.expires) {
			allowed[i] = e.allowed
			// An answer in the second half of its life is renewed in
			// the background: a user who keeps sending then never waits
			// for the host, and no answer served is older than ttl.
			if f == nil && !now.Before(e.expires.Add(-c.ttl(k.perm)/2)) {
				c.renewLocked(k)
			}
			continue
		}
		if f == nil {
			f = c.enqueueLocked(k)
		}
		waits = append(waits, f)
		waitIdx = append(waitIdx, i)
	}
	if len(waits) > 0 {
		// Someone waits: held renewals go along now, and one of
		// them may be the flight a caller joined.
		c.flushRenewalsLocked()
	}
	c.dispatchLocked()
	c.mu.Unlock()

	for j, f := range waits {
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			return nil, f.err
		}
		allowed[waitIdx[j]] = f.allowed
	}
	return allowed, nil
}

// enqueueLocked queues a question for the host. Called with c.mu held.
func (c *permCache) enqueueLocked(k permKey) *permFlight {
	f := &permFlight{key: k, done: make(chan struct{})}
	c.flights[k] = f
	c.queue = append(c.queue, f)
	return f
}

// renewLocked holds a background renewal of k for up to renewDelay.
// Called with c.mu held.
func (c *permCache) renewLocked(k permKey) {
	if c.closed {
		return
	}
	f := &permFlight{key: k, done: make(chan struct{})}
	c.flights[k] = f
	c.renewals = append(c.renewals, f)
	if c.renewTimer == nil {
		c.renewTimer = time.AfterFunc(c.renewDelay(), func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.flushRenewalsLocked()
			c.dispatchLocked()
		})
	}
}

// flushRenewalsLocked moves held renewals to the queue. Called with c.mu
// held.
func (c *permCache) flushRenewalsLocked() {
	if c.renewTimer != nil {
		c.renewTimer.Stop()
		c.renewTimer = nil
	}
	c.queue = append(c.queue, c.renewals...)
	c.renewals = nil
}

// dispatchLocked sends the queue to the host if a batch slot is free.
// Called with c.mu held.
func (c *permCache) dispatchLocked() {
	if c.closed {
		for _, f := range c.queue {
			f.err = errPermCacheClosed
			delete(c.flights, f.key)
			close(f.done)
		}
		c.queue = nil
		return
	}
	for len(c.queue) > 0 && c.out < maxPermBatchesOut {
		n := min(len(c.queue), maxPermBatch)
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		if len(c.queue) == 0 {
			c.queue = nil // let the old backing array go
		}
		c.out++
		c.wg.Go(func() { c.ask(batch) })
	}
}

// ask puts one batch to the host and hands the answers to the waiters.
func (c *permCache) ask(batch []*permFlight) {
	// Answers count from when the question was asked: a slow host must
	// not stretch how long an answer is reused.
	asked := c.now()
	allowed, err := c.askHost(batch)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.sweepLocked(asked, len(batch))
	}
	for i, f := range batch {
		if err != nil {
			f.err = err
		} else {
			f.allowed = allowed[i]
			c.entries[f.key] = permEntry{allowed: allowed[i], expires: asked.Add(c.ttl(f.key.perm))}
		}
		delete(c.flights, f.key)
		close(f.done)
	}
	c.out--
	c.dispatchLocked()
}

// askHost puts a batch to the host.
func (c *permCache) askHost(batch []*permFlight) ([]bool, error) {
	keys := make([]permKey, len(batch))
	for i, f := range batch {
		keys[i] = f.key
	}
	allowed, err := c.host.checkPermissions(c.ctx, keys)
	if err != nil && c.ctx.Err() != nil {
		// The cache's own context ends only in close: the plugin is
		// stopping, which is what the waiting callers must hear.
		return nil, errPermCacheClosed
	}
	return allowed, err
}

// sweepLocked makes room for n new entries: expired entries go first, and
// a cache full of live entries is cleared, which only costs extra host
// calls.
func (c *permCache) sweepLocked(now time.Time, n int) {
	if len(c.entries)+n <= maxCacheEntries {
		return
	}
	for k, v := range c.entries {
		if !now.Before(v.expires) {
			delete(c.entries, k)
		}
	}
	if len(c.entries)+n > maxCacheEntries {
		clear(c.entries)
	}
}
