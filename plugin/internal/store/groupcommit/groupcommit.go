// Package groupcommit is the commit loop both stores share: requests that
// arrive while a commit runs are committed together, in one transaction,
// as soon as it returns. Many senders then share one durable commit (one
// fsync) instead of queueing for one each.
//
// A request that finds no commit running is committed at once on its
// caller's goroutine. A lone sender, the common case on a quiet site, so
// pays for no hand-off to another goroutine and back: each of those wakes
// a sleeping thread, which costs tens of microseconds of latency and CPU
// per message on a machine that is otherwise idle. Only while commits
// follow one another does the Committer's own goroutine take over.
package groupcommit

import (
	"context"
	"runtime"
	"sync"
)

// yieldRounds bounds how often the committer lets other goroutines run
// while it gathers a batch; each round that brings no new request ends the
// gathering at once.
const yieldRounds = 4

// Committer serialises commits of requests of type R: at most one runs at
// a time, either on the goroutine of the request that found the Committer
// idle or on the Committer's own goroutine, which commits what queued up
// meanwhile. Create it with New and stop it with Close.
type Committer[R any] struct {
	limit  int
	commit func([]R)

	mu     sync.Mutex
	queue  []R
	busy   bool // a commit runs; the queue is empty whenever busy is false
	handed bool // the queue is the goroutine's to commit
	closed bool

	kick    chan struct{} // capacity 1: wakes the goroutine to look at the state again
	stopped chan struct{} // closed when the goroutine has exited
	one     []R           // the batch of an inline commit; only its committer uses it
}

// New starts a Committer that hands batches of at most limit requests (at
// least one) to commit. commit must answer every request of its batch,
// never runs twice at once, and must not submit to the same Committer; the
// slice is reused afterwards.
func New[R any](limit int, commit func([]R)) *Committer[R] {
	c := &Committer[R]{
		limit:   max(limit, 1),
		commit:  commit,
		kick:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
		one:     make([]R, 1),
	}
	go c.run()
	return c
}

// Close refuses new requests, waits until everything already queued is
// committed and answered, and stops the goroutine. It may be called more
// than once.
func (c *Committer[R]) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.wake()
	<-c.stopped
}

// Stopped is closed once Close has finished its work.
func (c *Committer[R]) Stopped() <-chan struct{} { return c.stopped }

func (c *Committer[R]) wake() {
	select {
	case c.kick <- struct{}{}:
	default: // a wake-up is already pending; it will see the new state
	}
}

// Submit commits r through c and waits for its answer on done, which must
// be buffered (capacity 1) so that a commit never blocks on a caller that
// gave up. It returns errClosed once c is closed. A ctx that ends while r
// waits in the queue returns ctx.Err(); r may still be committed, which is
// why sends carry client ids (commit functions skip requests whose
// context has ended before they write). An answer that races the
// cancellation wins, so the caller learns the outcome instead of having
// to retry.
func Submit[R, A any](ctx context.Context, c *Committer[R], errClosed error, r R, done <-chan A) (A, error) {
	var zero A
	c.mu.Lock()
	switch {
	case c.closed:
		c.mu.Unlock()
		return zero, errClosed
	case c.busy:
		c.queue = append(c.queue, r)
		c.mu.Unlock()
	default:
		c.busy = true
		c.mu.Unlock()
		c.one[0] = r
		c.commit(c.one)
		clear(c.one)
		c.release()
	}
	select {
	case a := <-done:
		return a, nil
	case <-ctx.Done():
		select {
		case a := <-done:
			return a, nil
		default:
			return zero, ctx.Err()
		}
	}
}

// release ends an inline commit: what queued meanwhile goes to the
// goroutine, so that the caller can return with its own answer.
func (c *Committer[R]) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) > 0 {
		c.handed = true
		c.wake()
		return
	}
	c.busy = false
	if c.closed {
		c.wake() // Close waits for the goroutine, which waits for this commit
	}
}

// run is the Committer's goroutine: it commits what an inline commit left
// queued, and then whatever queues during its own commits, until the
// queue is empty.
func (c *Committer[R]) run() {
	defer close(c.stopped)
	batch := make([]R, 0, c.limit)
	for range c.kick {
		c.mu.Lock()
		if !c.handed {
			stop := c.closed && !c.busy
			c.mu.Unlock()
			if stop {
				return
			}
			continue
		}
		c.handed = false
		for {
			batch = c.take(batch[:0])
			c.mu.Unlock()
			batch = c.gather(batch)
			c.commit(batch)
			clear(batch) // drop references to finished requests
			c.mu.Lock()
			if len(c.queue) == 0 {
				break
			}
		}
		c.busy = false
		stop := c.closed
		c.mu.Unlock()
		if stop {
			return
		}
	}
}

// take moves up to the limit of queued requests into batch; c.mu is held.
func (c *Committer[R]) take(batch []R) []R {
	n := min(len(c.queue), c.limit-len(batch))
	batch = append(batch, c.queue[:n]...)
	rest := copy(c.queue, c.queue[n:])
	clear(c.queue[rest:])
	c.queue = c.queue[:rest]
	return batch
}

// gather lets other goroutines run for as long as that brings more
// requests (a few rounds at most).
//
// A commit wakes all of its senders at once. Starting the next commit
// straight away would take only the few of them that have run again by
// then, and the rest would wait a whole commit for the one after: under a
// steady load the senders split into two groups taking turns, and every
// commit carries half of them. Yielding first lets the woken senders queue
// their next request and join this batch.
func (c *Committer[R]) gather(batch []R) []R {
	for range yieldRounds {
		if len(batch) >= c.limit {
			break
		}
		n := len(batch)
		runtime.Gosched()
		c.mu.Lock()
		batch = c.take(batch)
		c.mu.Unlock()
		if len(batch) == n {
			break
		}
	}
	return batch
}
