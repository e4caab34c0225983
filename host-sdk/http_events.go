package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/pagechat/pagechat/internal/limits"
)

// openStream counts a new event stream of user, refusing it past the
// per-user limit or after Close. The returned func undoes it and must be
// called before the handler returns.
func (h *Handler) openStream(user string, s *sseWriter) (func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errShuttingDown
	}
	if h.userStreams[user] >= h.cfg.maxStreamsPerUser {
		return nil, &apiError{
			status:     http.StatusTooManyRequests,
			code:       "too_many_streams",
			msg:        fmt.Sprintf("at most %d chat streams per user; close other chat windows", h.cfg.maxStreamsPerUser),
			retryAfter: retryAfterBusy,
		}
	}
	h.userStreams[user]++
	h.streams[s] = struct{}{}
	h.streamWG.Add(1)
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.userStreams[user]--; h.userStreams[user] <= 0 {
			delete(h.userStreams, user)
		}
		// Under h.mu, so Close cannot interrupt the stream after this.
		delete(h.streams, s)
		s.clearDeadline()
		h.streamWG.Done()
	}, nil
}

// resumePosition returns the sequence a stream resumes after: the
// Last-Event-ID header a reconnecting EventSource sends, else ?after=,
// else 0 (the whole room).
func resumePosition(r *http.Request) (uint64, error) {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		n, err := parseSeq(id)
		if err != nil {
			return 0, badRequest("Last-Event-ID: %v", err)
		}
		return n, nil
	}
	if s := r.URL.Query().Get("after"); s != "" {
		n, err := parseSeq(s)
		if err != nil {
			return 0, badRequest("after: %v", err)
		}
		return n, nil
	}
	return 0, nil
}

// serveEvents serves GET {prefix}api/rooms/{roomID}/events: the room as
// server-sent events, from the resume position on, then live.
func (h *Handler) serveEvents(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	after, err := resumePosition(r)
	if err != nil {
		return err
	}
	epoch := r.URL.Query().Get("epoch")
	if len(epoch) > maxEpochBytes {
		return badRequest("epoch is too long")
	}
	s := newSSEWriter(w, h.cfg.writeTimeout)
	release, err := h.openStream(id.UserID, s)
	if err != nil {
		return err
	}
	// A stream on a taken-over connection outlives this call: its
	// goroutine releases it instead.
	handedOff := false
	defer func() {
		if !handedOff {
			s.close()
			release()
		}
	}()
	ctx := r.Context()
	// RoomInfo authorises the viewer (view permission, as the plugin asks
	// the host) and gives the epoch and last sequence to check the resume
	// position against, in one call.
	room, err := h.client.RoomInfo(ctx, id.UserID, roomID)
	if err != nil {
		return err
	}
	reset := epoch != "" && epoch != room.Epoch
	if !reset && after > room.LastSeq {
		return badRequest("resume position %d is beyond the room's last message %d", after, room.LastSeq)
	}

	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	hijacked, err := s.start(w, r, hdr)
	if err != nil {
		return nil // the browser is gone
	}
	// Suggest a quick reconnect: after a cut the browser comes back with
	// its Last-Event-ID and resumes.
	if err := s.write([]byte("retry: " + strconv.FormatInt(h.cfg.retryHint.Milliseconds(), 10) + "\n\n")); err != nil {
		if errors.Is(err, http.ErrNotSupported) {
			h.logger.Error("chat event stream cannot be flushed: serve the chat handler without buffering or compressing middleware")
		}
		return nil
	}
	if reset {
		h.endStream(s, endReset, room.Epoch)
		return nil
	}

	f, err := h.acquireFeed(room)
	if err != nil {
		return nil // shutting down; the browser reconnects elsewhere or later
	}
	// The stream's context: on a taken-over connection the request's no
	// longer ends when the browser leaves, so the stream has its own,
	// which holds on to nothing of the request; otherwise the request's,
	// ended by Close as well.
	base := ctx
	if hijacked {
		base = h.ctx
	}
	sctx, cancel := context.WithCancel(base)
	if !hijacked {
		defer context.AfterFunc(h.ctx, cancel)()
	}
	e := &browserStream{h: h, ctx: sctx, s: s, f: f, running: true, ended: make(chan struct{})}
	v := &viewer{user: id.UserID, notify: e.wake, done: make(chan struct{})}
	e.v = v
	var shared func() endReason // the check of a login with a RecheckKey
	switch {
	case id.Recheck != nil && id.RecheckKey != "":
		// Holds on to nothing of the request.
		shared = func() endReason { return h.loginEnded(id, id.Recheck()) }
	case id.Recheck != nil:
		v.reauth = func() endReason { return h.loginEnded(id, id.Recheck()) }
	default:
		v.reauth = func() endReason { return h.reidentify(r, id) }
	}
	if hijacked {
		s.watchClose(h.closeWatcher(), cancel)
	}
	// While catchUp writes, e is marked running, so the feed's signals
	// only leave it work for later.
	cursor, ok := h.catchUp(sctx, s, f, v, id.UserID, roomID, after, room.Epoch)
	if !ok {
		cancel()
		h.releaseFeed(f)
		return nil
	}
	e.cursor = cursor
	leaveLogin := func() {}
	if shared != nil {
		l := h.joinLogin(id.UserID+"\x00"+id.RecheckKey, shared, v, f)
		leaveLogin = func() { h.leaveLogin(l, v) }
	}
	context.AfterFunc(sctx, e.wake)
	if hijacked {
		// The stream goes on without a goroutine of its own, and this
		// one, with the stack it grew and net/http's buffers, ends.
		handedOff = true
		e.finish = func() {
			f.unregister(v)
			leaveLogin()
			h.releaseFeed(f)
			cancel()
			s.close()
			release()
		}
		go e.run()
		return nil
	}
	e.finish = func() {
		f.unregister(v)
		leaveLogin()
		h.releaseFeed(f)
		cancel()
	}
	go e.run()
	// net/http ends the response when its handler returns.
	<-e.ended
	return nil
}

// reidentify runs the host's identify function again on a stream's
// original request. The request's cookies and headers are fixed for the
// stream's lifetime, so this asks the host's session store whether the
// session the stream was opened with is still valid: after a logout or
// session expiry it no longer is, and the stream must not keep delivering
// messages. It returns endNone while the request still names id's user.
func (h *Handler) reidentify(r *http.Request, id Identity) endReason {
	if id.Recheck != nil {
		return h.loginEnded(id, id.Recheck())
	}
	now, err := h.identify(r)
	if err == nil && now.UserID != id.UserID {
		h.logger.Info("chat stream closed: its session now belongs to another user", "user", id.UserID)
		return endUnauthenticated
	}
	return h.loginEnded(id, err)
}

// loginEnded says how a stream ends whose login re-check failed with err,
// or endNone for no error.
func (h *Handler) loginEnded(id Identity, err error) endReason {
	switch {
	case errors.Is(err, ErrUnauthenticated):
		h.logger.Info("chat stream closed: session no longer valid", "user", id.UserID)
		return endUnauthenticated
	case err != nil:
		// The host cannot say who this is right now: the stream is not
		// served unverified, and the browser reconnects (and is asked to
		// log in if its session is really gone).
		h.logger.Warn("chat stream closed: cannot re-check its session", "user", id.UserID, "error", err)
		return endUnavailable
	}
	return endNone
}

// catchUp registers v with the feed, first writing from History whatever
// the feed no longer holds in memory. It reports the stream's position,
// or false if the stream has ended.
func (h *Handler) catchUp(ctx context.Context, s *sseWriter, f *roomFeed, v *viewer, user, roomID string, cursor uint64, epoch string) (uint64, bool) {
	for {
		reg := f.register(v, cursor, epoch)
		if reg.end != endNone {
			h.endStream(s, reg.end, "")
			return 0, false
		}
		if reg.historyTo == 0 {
			chunks := make([][]byte, 0, len(reg.backlog))
			for _, fr := range reg.backlog {
				chunks = append(chunks, fr.data)
			}
			if len(chunks) > 0 {
				if err := s.write(chunks...); err != nil {
					f.unregister(v)
					return 0, false
				}
			}
			return v.after, true
		}
		// Page forward through history: sequences have no gaps, so the
		// page before cursor+n+1 is exactly cursor+1..cursor+n.
		h.historyFills.Add(1)
		for cursor < reg.historyTo {
			n := min(reg.historyTo-cursor, limits.MaxHistoryPage)
			page, err := h.client.History(ctx, user, roomID, cursor+n+1, int(n))
			if err != nil {
				// A ban that lands while the stream catches up is told
				// as a ban, as it is to a stream already live.
				if fr := bannedFrame(err); fr != nil {
					_ = s.write(fr.data)
				} else {
					h.endStream(s, endReasonOf(err), "")
				}
				return 0, false
			}
			if page.Epoch != epoch {
				h.endStream(s, endReset, page.Epoch)
				return 0, false
			}
			chunks := make([][]byte, 0, len(page.Messages))
			for _, m := range page.Messages {
				if m.Seq <= cursor {
					continue
				}
				if m.Seq != cursor+1 {
					h.logger.Error("chat history has a gap", "room", roomID, "after", cursor, "got", m.Seq)
					return 0, false
				}
				fr, err := messageFrame(m)
				if err != nil {
					h.logger.Error("chat: encode message", "room", roomID, "error", err)
					return 0, false
				}
				chunks = append(chunks, fr.data)
				cursor = m.Seq
			}
			if len(chunks) == 0 {
				h.logger.Error("chat history ended before the live feed", "room", roomID, "after", cursor, "want", reg.historyTo)
				return 0, false
			}
			if err := s.write(chunks...); err != nil {
				return 0, false
			}
		}
	}
}

// bannedFrame is the error event that tells a user the plugin refused
// with err that they are banned, and why; nil if err is no ban.
func bannedFrame(err error) *frame {
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrBanned) {
		return nil
	}
	fr, ferr := eventFrame("error", errorJSON{Error: e.Message, Code: "banned"})
	if ferr != nil {
		return nil
	}
	return fr
}

// endReasonOf maps an error met mid-stream to how the stream ends.
func endReasonOf(err error) endReason {
	switch {
	case errors.Is(err, ErrPermissionDenied), errors.Is(err, ErrBanned):
		return endForbidden
	case errors.Is(err, ErrRoomNotFound):
		return endGone
	case errors.Is(err, ErrEpochChanged):
		return endReset
	}
	return endUnavailable
}

// browserStream writes a registered viewer's events to its browser until
// the stream ends: the browser leaves, the feed ends the stream (it fell
// behind, lost view permission, or the sweeper's re-check of the viewer's
// login found it gone), or the handler closes.
//
// It keeps no goroutine while there is nothing to write. The feed's
// signal (wake) starts one that writes what is queued, a batch per write,
// and ends when the queue is empty; at most one runs at a time. An open,
// quiet stream therefore holds its state and no stack, which at thousands
// of idle viewers is most of what each would cost. Heartbeats arrive in
// the viewer's queue like events (sweep.go), so there is no timer either.
type browserStream struct {
	h      *Handler
	ctx    context.Context // ends the stream when done
	s      *sseWriter
	f      *roomFeed
	v      *viewer
	cursor uint64 // last sequence written
	// finish releases the stream; the goroutine that ends the stream runs
	// it, once, and then closes ended.
	finish func()
	ended  chan struct{}

	// Buffers of the running goroutine, kept between runs unless a burst
	// grew them.
	frames []*frame
	batch  [][]byte

	mu      sync.Mutex
	running bool // a goroutine writes, or catchUp still does
	again   bool // a signal came while running: look at the queue again
	over    bool // finished: signals are ignored
}

// wake makes sure a goroutine looks at the stream's queue and state. The
// feed calls it under its lock, so it never blocks.
func (e *browserStream) wake() {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case e.over:
	case e.running:
		e.again = true
	default:
		e.running = true
		go e.run()
	}
}

// run writes until the queue is empty, or ends the stream. e.running is
// set by whoever started it.
func (e *browserStream) run() {
	for {
		if !e.step() {
			e.mu.Lock()
			e.over = true
			e.mu.Unlock()
			e.finish()
			close(e.ended)
			return
		}
		e.mu.Lock()
		if !e.again {
			e.running = false
			e.mu.Unlock()
			return
		}
		e.again = false
		e.mu.Unlock()
	}
}

// step writes up to a batch of what is queued, with one flush, and
// reports whether the stream goes on.
func (e *browserStream) step() bool {
	h, s, f, v := e.h, e.s, e.f, e.v
	if e.ctx.Err() != nil {
		return false
	}
	select {
	case <-v.done:
		// Read under the feed's lock before done was closed.
		f.mu.Lock()
		why, final := v.reason, v.final
		f.mu.Unlock()
		if final != nil {
			_ = s.write(final.data)
			return false
		}
		h.endStream(s, why, "")
		return false
	default:
	}
	frames, more := f.drain(v, e.frames[:0])
	batch := e.batch[:0]
	defer func() {
		clear(frames)
		clear(batch)
		e.frames, e.batch = frames[:0], batch[:0]
		if cap(frames) > idleQueueCap {
			e.frames, e.batch = nil, nil
		}
	}()
	for _, fr := range frames {
		switch {
		case fr.seq == 0:
			batch = append(batch, fr.data)
		case fr.seq <= e.cursor:
			// Already written; the feed queues only later messages, so
			// this is defensive.
		case fr.seq == e.cursor+1:
			batch = append(batch, fr.data)
			e.cursor = fr.seq
		default:
			h.logger.Error("chat stream would skip messages; ending it so the browser resumes", "room", f.roomID, "after", e.cursor, "got", fr.seq)
			_ = s.write(batch...)
			return false
		}
	}
	if len(batch) > 0 {
		if err := s.write(batch...); err != nil {
			return false
		}
	}
	if more {
		e.mu.Lock()
		e.again = true
		e.mu.Unlock()
	}
	return true
}

// endStream writes the event that tells the browser why its stream ends.
// A stream cut for being slow just ends: the browser reconnects with its
// Last-Event-ID.
func (h *Handler) endStream(s *sseWriter, why endReason, epoch string) {
	var fr *frame
	switch why {
	case endForbidden:
		fr = forbiddenFrame
	case endUnauthenticated:
		fr = unauthenticatedFrame
	case endGone:
		fr = notFoundFrame
	case endUnavailable:
		fr = unavailableFrame
	case endReset:
		var err error
		if fr, err = eventFrame("reset", resetJSON{Epoch: epoch}); err != nil {
			return
		}
	default:
		return
	}
	_ = s.write(fr.data)
}
