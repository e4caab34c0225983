package hostsdk

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pagechat/pagechat/internal/limits"
)

// The sweeper is the one clock of a Handler's open event streams. Each
// stream used to keep two tickers (its heartbeat and its login re-check)
// and each room feed a third (view permission and presence): with ten
// thousand idle viewers that was twenty thousand timers and as many
// goroutine wake-ups every second or so, for streams with nothing to say.
// Now one goroutine per Handler ticks twice: every half permission window
// it re-checks view permission (one AuthorizeViewers per room and
// thousand users, as before) and every stream's login, each room by one
// of a few workers; every heartbeat it queues the heartbeat comment to
// every stream, which the stream writes as it writes messages. The
// guarantees are the ones each stream kept alone: view and login
// re-checked twice per window, a comment line at least every heartbeat.
//
// Goroutines: the sweeper starts with the first room feed and ends when
// the Handler closes or no feed runs; it and its workers are counted in
// Handler.feedWG.

// sweepWorkers bounds the rooms re-checked at once. A few in parallel keep
// one slow host answer from delaying every room; many would only queue on
// the plugin's single connection.
const sweepWorkers = 8

// heartbeatFrame is the heartbeat comment as a frame without sequence,
// queued to every stream alike.
var heartbeatFrame = &frame{data: heartbeatLine}

// startSweeperLocked starts the sweeper if it is not running; h.mu is held.
func (h *Handler) startSweeperLocked() {
	if h.sweeping {
		return
	}
	h.sweeping = true
	h.feedWG.Add(1)
	go h.sweep()
}

// heartbeatSlots is how many parts the feeds' heartbeats are spread over:
// a part a second, at most 20.
func heartbeatSlots(interval time.Duration) int {
	return int(min(max(interval/time.Second, 1), 20))
}

// sweep runs the re-checks and heartbeats until the Handler closes or no
// feed is left.
func (h *Handler) sweep() {
	defer h.feedWG.Done()
	recheck := time.NewTicker(recheckInterval(h.cfg.permWindow))
	defer recheck.Stop()
	// Each tick beats for one slot of feeds in turn, so that every
	// stream gets its heartbeat once per interval but not all at once: a
	// stream writes from a goroutine started for the write, and ten
	// thousand of them at the same moment would each want a stack.
	slots := heartbeatSlots(h.cfg.heartbeat)
	heartbeat := time.NewTicker(h.cfg.heartbeat / time.Duration(slots))
	defer heartbeat.Stop()
	slot := 0
	var lastInstance *instance
	var rechecking atomic.Bool // a round is still running from an earlier tick
	for {
		select {
		case <-h.closing:
			return
		case <-heartbeat.C:
			for _, f := range h.runningFeeds() {
				if f.slot%slots == slot {
					f.queueAll(heartbeatFrame)
				}
			}
			slot = (slot + 1) % slots
		case <-recheck.C:
			feeds := h.runningFeeds()
			if feeds == nil {
				h.mu.Lock()
				if len(h.running) == 0 {
					h.sweeping = false
					h.mu.Unlock()
					return
				}
				h.mu.Unlock()
				continue
			}
			// A new plugin process has lost every Join: have every
			// feed join its users again.
			cur := h.client.currentInstance()
			restarted := cur != lastInstance
			lastInstance = cur
			for _, f := range feeds {
				if restarted || f.presenceRetry.Load() {
					f.poke()
				}
			}
			// A round runs beside the sweeper, so that a slow host
			// delays no heartbeat; a round still running when the next
			// is due makes that one wait a tick.
			if !rechecking.CompareAndSwap(false, true) {
				continue
			}
			h.feedWG.Add(1)
			go func() {
				defer h.feedWG.Done()
				defer rechecking.Store(false)
				h.recheckRound(feeds)
			}()
		}
	}
}

// roomsAuthorizer is an upstream that checks many rooms in one call (the
// Client; tests' fakes may not).
type roomsAuthorizer interface {
	authorizeRooms(ctx context.Context, rooms []roomUsers) ([]roomAuthorization, error)
}

// recheckRound re-checks every feed's viewers (one AuthorizeRooms call
// per ten thousand users, or one AuthorizeViewers per room) and their
// logins, a few rooms at a time. While the host's permission version
// vouches for the viewers (quiet.go), it re-checks only the logins.
func (h *Handler) recheckRound(feeds []*roomFeed) {
	type result struct {
		users   []string
		allowed map[string]bool
		err     error
	}
	h.recheckRounds.Add(1)
	started := time.Now()
	if h.quiet.begin(started, h.client.currentInstance()) {
		h.recheckQuiet.Add(1)
		parallel(feeds, func(f *roomFeed) {
			f.confirmAll(started)
			f.reauthAll()
		}, h.closing)
		parallel(h.loginList(), (*login).recheck, h.closing)
		return
	}
	var results map[*roomFeed]*result
	complete := false // every room asked about and answered
	if ra, ok := h.client.(roomsAuthorizer); ok {
		complete = true
		results = make(map[*roomFeed]*result, len(feeds))
		var (
			batch []roomUsers
			owner []*result
			n     int
		)
		flush := func() {
			if len(batch) == 0 {
				return
			}
			ctx, cancel := context.WithTimeout(h.ctx, rpcTimeout)
			h.recheckCalls.Add(1)
			res, err := ra.authorizeRooms(ctx, batch)
			cancel()
			complete = complete && err == nil
			for j, r := range owner {
				switch {
				case err != nil:
					r.err = err
				case res[j].err != "":
					r.err = errors.New(res[j].err)
					complete = false
				default:
					for _, u := range res[j].allowed {
						r.allowed[u] = true
					}
				}
			}
			batch, owner, n = batch[:0], owner[:0], 0
		}
		for _, f := range feeds {
			users := f.userList()
			if len(users) == 0 {
				continue
			}
			r := &result{users: users, allowed: make(map[string]bool, len(users))}
			results[f] = r
			for part := range chunks(users, limits.ViewersPerRoomsCheck) {
				if n+len(part) > limits.ViewersPerRoomsCheck {
					flush()
				}
				batch = append(batch, roomUsers{roomID: f.roomID, users: part})
				owner = append(owner, r)
				n += len(part)
			}
		}
		flush()
	}
	// The rooms' viewers, then the logins, each spread over a few
	// workers in contiguous parts: a slow host answer holds up one part,
	// and no item costs a hand-off between goroutines.
	parallel(feeds, func(f *roomFeed) {
		if results == nil {
			f.recheck()
		} else if r := results[f]; r != nil {
			f.applyRecheck(r.users, r.allowed, started, r.err)
		}
		f.reauthAll()
	}, h.closing)
	parallel(h.loginList(), (*login).recheck, h.closing)
	if complete {
		h.quiet.answered(started)
	}
}

// parallel calls do for every item, in up to sweepWorkers goroutines that
// each take a contiguous part, and returns when all have ended. Once
// stop is closed the rest is skipped.
func parallel[T any](items []T, do func(T), stop <-chan struct{}) {
	workers := min(sweepWorkers, len(items))
	if workers == 0 {
		return
	}
	var wg sync.WaitGroup
	per := (len(items) + workers - 1) / workers
	for part := range slices.Chunk(items, per) {
		wg.Go(func() {
			for _, it := range part {
				select {
				case <-stop:
					return
				default:
				}
				do(it)
			}
		})
	}
	wg.Wait()
}

// runningFeeds returns the feeds whose goroutines run, or nil.
func (h *Handler) runningFeeds() []*roomFeed {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.running) == 0 {
		return nil
	}
	out := make([]*roomFeed, 0, len(h.running))
	for f := range h.running {
		out = append(out, f)
	}
	return out
}

// queueAll queues an event without sequence (the heartbeat) for every
// viewer that has room for it. A viewer whose buffer is full is not cut
// for it: it has events to write, which keep its connection busy anyway.
func (f *roomFeed) queueAll(fr *frame) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for v := range f.viewers {
		if len(v.queue) < f.h.cfg.streamBuffer {
			v.queue = append(v.queue, fr)
			v.signal()
		}
	}
}

// reauthAll runs the login re-check of every viewer that has its own
// (one without a RecheckKey) and ends the streams whose login has ended.
func (f *roomFeed) reauthAll() {
	f.mu.Lock()
	var vs []*viewer // most streams share their login's check and need none here
	for v := range f.viewers {
		if v.reauth != nil {
			vs = append(vs, v)
		}
	}
	f.mu.Unlock()
	for _, v := range vs {
		if f.ctx.Err() != nil {
			return
		}
		if why := v.reauth(); why != endNone {
			f.mu.Lock()
			f.endLocked(v, why)
			f.mu.Unlock()
		}
	}
}
