package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// sender posts messages to one room on its own ticker, one at a time, as
// one user.
type sender struct {
	room           *room
	api            *apiClient
	cr             creds
	idPrefix       string // unique per run and sender; a message's client id adds a counter
	interval       time.Duration
	attemptTimeout time.Duration
	msgBytes       int
	clock          clock
	c              *counters
	errs           *errorLog

	ackLatency []uint32 // µs per acknowledged message; read after run ends
}

// run sends until sendCtx ends; a send still in flight then keeps
// retrying until ackCtx ends. The first send waits phase so that senders
// spread over an interval instead of firing together.
//
// At most one send is in flight: when the server is slower than the
// interval the ticker drops ticks, and the achieved rate, not a growing
// queue, shows it.
func (s *sender) run(sendCtx, ackCtx context.Context, phase time.Duration) {
	if !sleepCtx(sendCtx, phase) {
		return
	}
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for n := 1; sendCtx.Err() == nil; n++ {
		s.sendOne(ackCtx, n)
		select {
		case <-sendCtx.Done():
		case <-t.C:
		}
	}
}

// sendOne sends message n and retries it with the same client id, which
// the server deduplicates, until it is acknowledged, refused for good, or
// ctx ends.
func (s *sender) sendOne(ctx context.Context, n int) {
	clientID := fmt.Sprintf("%s-%d", s.idPrefix, n)
	sentAt := s.clock.Now()
	text := formatPayload(clientID, sentAt, s.msgBytes)
	s.c.sent.Add(1)
	backoff := minBackoff
	for {
		actx, cancel := context.WithTimeout(ctx, s.attemptTimeout)
		began := s.clock.Now()
		seq, err := s.api.send(actx, s.cr, s.room.id, clientID, text)
		cancel()
		if err == nil {
			s.c.acked.Add(1)
			if !s.room.ack(clientID, seq) {
				s.c.ackMismatch.Add(1)
				s.errs.report(fmt.Errorf("room %s: %s acknowledged as seq %d but delivered under another seq", s.room.id, clientID, seq))
			}
			s.ackLatency = append(s.ackLatency, uint32(min(time.Duration(s.clock.Now()-sentAt).Microseconds(), latencyUnknown-1)))
			return
		}
		if ctx.Err() != nil {
			// The run's time for sends is over; the attempt was cut
			// by that, not by the server.
			s.c.unacked.Add(1)
			return
		}
		s.c.sendErrors.Add(1)
		if he, ok := errors.AsType[*httpError](err); ok {
			switch {
			case he.Status == http.StatusTooManyRequests:
				s.c.rateLimited.Add(1)
			case he.Status == http.StatusServiceUnavailable && he.Code == "unavailable":
				s.c.unavailable.Add(1)
				took := time.Duration(s.clock.Now() - began).Microseconds()
				for old := s.c.slowest503.Load(); took > old && !s.c.slowest503.CompareAndSwap(old, took); old = s.c.slowest503.Load() {
				}
			}
		}
		s.errs.report(err)
		if !retryable(err) {
			s.c.unacked.Add(1)
			return
		}
		wait := backoff
		if ra := retryAfter(err); ra > 0 {
			wait = ra
		}
		if !sleepCtx(ctx, wait) {
			s.c.unacked.Add(1)
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}
