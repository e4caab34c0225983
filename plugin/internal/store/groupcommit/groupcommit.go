// Package groupcommit is the writer loop both stores share: one goroutine
// takes whatever requests are queued and commits them together, in one
// transaction, as soon as the previous commit returns. Many senders then
// share one durable commit (one fsync) instead of queueing for one each.
package groupcommit

import (
	"context"
	"runtime"
)

// yieldRounds bounds how often Run lets other goroutines run while it
// gathers a batch; each round that brings no new request ends the
// gathering at once.
const yieldRounds = 4

// Run takes requests from reqs and hands them to commit in batches of at
// most limit (at least one), until closing is closed. commit must answer
// every request of its batch; the slice is reused afterwards.
//
// A commit wakes all of its senders at once. Starting the next commit
// straight away would take only the few of them that have run again by
// then, and the rest would wait a whole commit for the one after: under a
// steady load the senders split into two groups taking turns, and every
// commit carries half of them. So before committing, Run yields the
// processor for as long as that brings more requests (a few rounds at
// most), which lets the woken senders queue their next request and join
// this batch. A lone sender finds nothing more after one yield, which
// costs it microseconds.
func Run[R any](reqs <-chan R, closing <-chan struct{}, limit int, commit func([]R)) {
	limit = max(limit, 1)
	batch := make([]R, 0, limit)
	for {
		// Checked first, so that a steady stream of senders cannot keep
		// the writer busy after closing.
		select {
		case <-closing:
			return
		default:
		}
		select {
		case r := <-reqs:
			batch = append(batch[:0], r)
		case <-closing:
			return
		}
		batch = Gather(reqs, batch, limit)
		commit(batch)
		clear(batch) // drop references to finished requests
	}
}

// Gather adds to batch what reqs brings while the woken senders of the
// last commit queue again (see Run), up to limit requests in all, and
// returns the batch. It is Run's gathering, for a writer that needs a
// loop of its own.
func Gather[R any](reqs <-chan R, batch []R, limit int) []R {
	limit = max(limit, 1)
	batch = drain(reqs, batch, limit)
	for range yieldRounds {
		if len(batch) >= limit {
			break
		}
		n := len(batch)
		runtime.Gosched()
		if batch = drain(reqs, batch, limit); len(batch) == n {
			break
		}
	}
	return batch
}

// drain appends what is queued on reqs, without waiting, up to limit.
func drain[R any](reqs <-chan R, batch []R, limit int) []R {
	for len(batch) < limit {
		select {
		case r := <-reqs:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// Submit hands r to the writer through reqs and waits for its answer on
// done, which must be buffered (capacity 1) so that the writer never
// blocks on a sender that gave up. reqs is unbuffered, so once the writer
// has stopped no request can be stranded in a buffer: each is either taken
// (and answered) or refused here, with errClosed when closing is closed.
// A ctx that ends while the request waits returns ctx.Err(); the request
// may still be committed, which is why sends carry client ids. An answer
// that races the cancellation wins, so the caller learns the outcome
// instead of having to retry.
func Submit[R, A any](ctx context.Context, reqs chan<- R, closing <-chan struct{}, errClosed error, r R, done <-chan A) (A, error) {
	var zero A
	select {
	case reqs <- r:
	case <-closing:
		return zero, errClosed
	case <-ctx.Done():
		return zero, ctx.Err()
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
