package hostsdk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

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
	v := &viewer{user: id.UserID, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if id.Recheck != nil {
		// Holds on to nothing of the request.
		v.reauth = func() endReason { return h.loginEnded(id, id.Recheck()) }
	} else {
		v.reauth = func() endReason { return h.reidentify(r, id) }
	}
	if hijacked {
		// The request's context no longer ends when the browser leaves;
		// the stream's own does. It holds on to nothing of the request.
		ctx, cancel := context.WithCancel(h.ctx)
		s.watchClose(h.closeWatcher(), cancel)
		cursor, ok := h.catchUp(ctx, s, f, v, id.UserID, roomID, after, room.Epoch)
		if !ok {
			cancel()
			h.releaseFeed(f)
			return nil
		}
		// The stream goes on in a goroutine of its own, and this one,
		// with the stack it grew and net/http's buffers, ends.
		handedOff = true
		go func() {
			defer release()
			defer s.close()
			defer cancel()
			defer h.releaseFeed(f)
			defer f.unregister(v)
			h.follow(ctx, s, f, v, cursor)
		}()
		return nil
	}
	defer h.releaseFeed(f)
	cursor, ok := h.catchUp(ctx, s, f, v, id.UserID, roomID, after, room.Epoch)
	if !ok {
		return nil
	}
	defer f.unregister(v)
	h.follow(ctx, s, f, v, cursor)
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
				h.endStream(s, endReasonOf(err), "")
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

// follow writes the feed's events to the browser until the stream ends:
// the browser leaves, the feed ends the stream (it fell behind, lost view
// permission, or the sweeper's re-check of v.reauth found its login
// gone), or the handler closes. It keeps no timer of its own: heartbeats
// arrive in v's queue like events (sweep.go). Its buffers start empty and
// are let go after a burst, so a quiet stream holds next to nothing.
func (h *Handler) follow(ctx context.Context, s *sseWriter, f *roomFeed, v *viewer, cursor uint64) {
	var (
		frames []*frame
		batch  [][]byte
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.closing:
			return
		case <-v.done:
			// Read under the feed's lock before done was closed.
			f.mu.Lock()
			why, final := v.reason, v.final
			f.mu.Unlock()
			if final != nil {
				_ = s.write(final.data)
				return
			}
			h.endStream(s, why, "")
			return
		case <-v.wake:
			// Write everything already queued, up to a batch, with one
			// flush; more waits its turn in the select.
			var more bool
			frames, more = f.drain(v, frames[:0])
			batch = batch[:0]
			for _, fr := range frames {
				switch {
				case fr.seq == 0:
					batch = append(batch, fr.data)
				case fr.seq <= cursor:
					// Already written; the feed queues only later
					// messages, so this is defensive.
				case fr.seq == cursor+1:
					batch = append(batch, fr.data)
					cursor = fr.seq
				default:
					h.logger.Error("chat stream would skip messages; ending it so the browser resumes", "room", f.roomID, "after", cursor, "got", fr.seq)
					_ = s.write(batch...)
					return
				}
			}
			if len(batch) > 0 {
				if err := s.write(batch...); err != nil {
					return
				}
			}
			if more {
				v.signal()
			}
			clear(frames)
			if cap(frames) > idleQueueCap {
				frames, batch = nil, nil
			}
		}
	}
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
