package hostsdk

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// A room feed is the one upstream a Handler holds per room that has
// viewers in this process. go-plugin puts every gRPC stream on a single
// connection, and fanning one message out to a thousand plugin streams
// takes tens of milliseconds, so browsers never get a plugin stream of
// their own: the feed reads Client.Feed once and copies each event into
// the bounded buffers of the room's browsers. Because Feed checks no user,
// the feed re-checks all of its viewers with one AuthorizeViewers call
// every half permission window and ends the streams of users who lost view.
//
// Goroutines: each feed runs readLoop (the upstream, reconnected with
// back-off) and manageLoop (presence, retirement); the Handler's sweeper
// (sweep.go) runs the feed's permission re-checks. All are counted in
// Handler.feedWG and end when the feed's context is cancelled, by
// retirement or by Handler.Close.

const (
	// feedRetryMin and feedRetryMax space the reconnects of a feed whose
	// plugin is down, so a restarting plugin is not hammered.
	feedRetryMin = 100 * time.Millisecond
	feedRetryMax = 5 * time.Second
	// rpcTimeout bounds the feed's own unary calls (AuthorizeViewers,
	// Join, Leave) so a stuck host cannot stall a room.
	rpcTimeout = 10 * time.Second
	// leaveTimeout bounds a Leave, and all the Leaves of a retiring feed
	// together.
	leaveTimeout = 2 * time.Second
	// maxViewersPerAuthorize is the plugin's limit per AuthorizeViewers.
	maxViewersPerAuthorize = 1000
	// drainBatch bounds how many queued events a stream writes before it
	// flushes, so a burst costs one flush rather than one per event.
	drainBatch = 64
)

// endReason says why the feed ended a viewer's stream.
type endReason int

const (
	endNone            endReason = iota
	endSlow                      // fell behind its buffer; the browser resumes from its last id
	endForbidden                 // the user lost view permission
	endUnauthenticated           // the stream's login (session) is no longer valid
	endReset                     // the room's epoch changed: reload history
	endGone                      // the room no longer exists
	endUnavailable               // the feed cannot serve (plugin gone, permissions unverifiable); retry later
	endRemoved                   // a moderator kicked or banned the user; viewer.final says which
)

// recheckInterval is how often open streams are re-checked (view
// permission by the feed, the login by each stream): twice per window, so
// a revocation takes effect within it.
func recheckInterval(window time.Duration) time.Duration {
	return max(window/2, MinHeartbeat)
}

// viewer is one browser event stream registered with a feed.
type viewer struct {
	user string
	// after is the last sequence the stream has (or is about to write from
	// the backlog) when it registers; the feed queues only later messages.
	// Set before registration, read under the feed's lock.
	after uint64
	// queue holds what the stream has yet to write, at most the
	// handler's stream buffer; guarded by the feed's lock. It grows only
	// when events come: an idle stream holds no buffer.
	queue []*frame
	// notify tells the stream that its queue has something, or that
	// done was closed; the feed calls it under its lock.
	notify func()
	done   chan struct{} // closed by the feed when it ends the stream
	// reason is written under the feed's lock before done is closed;
	// final, with endRemoved, is the event that tells the browser why.
	reason endReason
	final  *frame
	// reauth, if set, re-checks the stream's login; the sweeper runs it
	// as often as it re-checks view permission. A stream whose login has
	// a RecheckKey has none: its login is re-checked once for all of its
	// streams (logins.go).
	reauth func() endReason
}

// viewerUser is what a feed tracks per user: open streams and the last
// time the plugin confirmed view permission.
type viewerUser struct {
	streams   int
	confirmed time.Time
}

type roomFeed struct {
	h      *Handler
	roomID string
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{} // wakes manageLoop: viewers came or went
	// slot spreads the feeds' heartbeats over the interval (sweep.go).
	slot int
	// presenceRetry says a Join failed and presence needs another sync;
	// the sweeper wakes manageLoop for it.
	presenceRetry atomic.Bool

	mu        sync.Mutex
	epoch     string
	head      uint64   // last sequence received from upstream
	ring      []*frame // recent messages, contiguous, ending at head
	ringBytes int
	viewers   map[*viewer]struct{}
	users     map[string]*viewerUser
	ended     endReason // set once the feed can serve no one; it is detached

	refs int // streams holding the feed; guarded by h.mu
}

// acquireFeed returns the room's feed, starting one if needed, and counts
// the caller as holding it until releaseFeed. room comes from the caller's
// RoomInfo: a new feed starts from its epoch and last sequence.
func (h *Handler) acquireFeed(room Room) (*roomFeed, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil, errShuttingDown
	}
	f := h.feeds[room.ID]
	if f == nil {
		ctx, cancel := context.WithCancel(context.Background())
		f = &roomFeed{
			h:       h,
			roomID:  room.ID,
			ctx:     ctx,
			cancel:  cancel,
			kick:    make(chan struct{}, 1),
			epoch:   room.Epoch,
			head:    room.LastSeq,
			viewers: make(map[*viewer]struct{}),
			users:   make(map[string]*viewerUser),
			slot:    h.feedsStarted,
		}
		h.feedsStarted++
		h.feeds[room.ID] = f
		h.running[f] = struct{}{}
		h.feedWG.Add(2)
		go f.readLoop()
		go f.manageLoop()
		h.startSweeperLocked()
		h.logger.Debug("room feed started", "room", room.ID, "after", room.LastSeq)
	}
	f.refs++
	return f, nil
}

// releaseFeed undoes acquireFeed.
func (h *Handler) releaseFeed(f *roomFeed) {
	h.mu.Lock()
	f.refs--
	h.mu.Unlock()
	f.poke()
}

// retire removes an unused feed from the handler; it reports false if a
// stream took the feed meanwhile.
func (h *Handler) retire(f *roomFeed) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if f.refs > 0 {
		return false
	}
	if h.feeds[f.roomID] == f {
		delete(h.feeds, f.roomID)
	}
	return true
}

// detach removes a feed that can serve no one, so the next viewer starts
// a fresh one; streams holding it still release it.
func (h *Handler) detach(f *roomFeed) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.feeds[f.roomID] == f {
		delete(h.feeds, f.roomID)
	}
}

func (h *Handler) idle(f *roomFeed) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return f.refs == 0
}

func (f *roomFeed) poke() {
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

// registration is the outcome of register.
type registration struct {
	backlog   []*frame  // messages after the viewer's cursor, from memory
	historyTo uint64    // if non-zero: fetch (cursor, historyTo] from History, then register again
	end       endReason // if not endNone: the stream cannot be served
	epoch     string    // the feed's epoch
}

// register adds v, whose stream has everything up to cursor in epoch, to
// the feed. If the messages after cursor are no longer in memory, it asks
// the caller to fetch them from History first.
func (f *roomFeed) register(v *viewer, cursor uint64, epoch string) registration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended != endNone {
		return registration{end: f.ended, epoch: f.epoch}
	}
	if epoch != f.epoch {
		// The viewer saw another epoch than the feed's: one of them is
		// stale, and the feed finds out on its next reconnect. Let the
		// browser come back shortly.
		return registration{end: endUnavailable, epoch: f.epoch}
	}
	base := f.head - uint64(len(f.ring)) // the ring holds (base, head]
	if cursor < base {
		return registration{historyTo: base, epoch: f.epoch}
	}
	var backlog []*frame
	if cursor < f.head {
		backlog = append(backlog, f.ring[cursor-base:]...)
	}
	v.after = max(cursor, f.head)
	f.viewers[v] = struct{}{}
	u := f.users[v.user]
	if u == nil {
		// The caller has just checked the user with RoomInfo.
		u = &viewerUser{confirmed: time.Now()}
		f.users[v.user] = u
	}
	u.streams++
	f.poke()
	return registration{backlog: backlog, epoch: f.epoch}
}

// unregister removes a registered viewer when its stream ends.
func (f *roomFeed) unregister(v *viewer) {
	f.mu.Lock()
	delete(f.viewers, v)
	if u := f.users[v.user]; u != nil {
		u.streams--
		if u.streams <= 0 {
			delete(f.users, v.user)
		}
	}
	f.mu.Unlock()
	f.poke()
}

// endLocked ends one viewer's stream; f.mu is held. Removing it from the
// map first makes this happen at most once.
func (f *roomFeed) endLocked(v *viewer, why endReason) {
	if _, ok := f.viewers[v]; !ok {
		return
	}
	delete(f.viewers, v)
	v.reason = why
	close(v.done)
	v.signal()
}

// readLoop follows the room upstream, from the last sequence it has, until
// the feed's context ends. It reconnects when the plugin restarts or cuts
// the feed; browsers keep their streams meanwhile.
func (f *roomFeed) readLoop() {
	defer f.h.feedWG.Done()
	delay := feedRetryMin
	failing := false
	for {
		f.mu.Lock()
		after, epoch := f.head, f.epoch
		f.mu.Unlock()
		sub, err := f.h.client.Feed(f.ctx, f.roomID, after, epoch)
		if err == nil {
			f.h.feedOpens.Add(1)
			if failing {
				f.h.logger.Info("room feed resumed", "room", f.roomID, "after", after)
				failing = false
			}
			delay = feedRetryMin
			err = f.pump(sub)
			sub.Close()
		}
		if f.ctx.Err() != nil {
			return
		}
		switch {
		case errors.Is(err, ErrEpochChanged), errors.Is(err, ErrInvalidArgument):
			// A new log (restored or recreated database): positions of
			// the old one mean nothing. Browsers reload history.
			f.h.logger.Warn("room log changed under its feed; viewers reload history", "room", f.roomID, "epoch", epoch, "error", err)
			f.terminate(endReset)
			return
		case errors.Is(err, ErrRoomNotFound):
			f.h.logger.Warn("room feed: room no longer exists", "room", f.roomID)
			f.terminate(endGone)
			return
		case errors.Is(err, ErrClosed):
			f.terminate(endUnavailable)
			return
		case errors.Is(err, ErrSlowConsumer):
			// The plugin cut the feed itself for lagging (a stalled
			// host); resume at once from where it was.
			f.h.logger.Warn("room feed fell behind the plugin; resuming", "room", f.roomID)
			continue
		}
		if !failing {
			f.h.logger.Warn("room feed lost; reconnecting", "room", f.roomID, "error", err)
			failing = true
		}
		t := time.NewTimer(delay)
		select {
		case <-f.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		delay = min(delay*2, feedRetryMax)
	}
}

// pump delivers a subscription's events until it ends.
func (f *roomFeed) pump(sub *Subscription) error {
	for {
		ev, err := sub.Next()
		if err != nil {
			return err
		}
		switch {
		case ev.Message != nil:
			fr, err := messageFrame(*ev.Message)
			if err != nil {
				return err
			}
			if f.publish(fr) {
				f.removeUser(*ev.Message)
			}
		case ev.Presence != nil:
			fr, err := presenceFrame(*ev.Presence)
			if err != nil {
				return err
			}
			f.broadcast(fr)
		case ev.Typing != nil:
			fr, err := typingFrame(*ev.Typing)
			if err != nil {
				return err
			}
			f.broadcast(fr)
		}
	}
}

// publish stores a message in the ring and queues it for every viewer
// that does not have it, and reports whether it was new. It never blocks:
// a viewer whose buffer is full is cut and resumes by itself.
func (f *roomFeed) publish(fr *frame) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fr.seq <= f.head {
		return false // replayed after a reconnect: already delivered
	}
	if fr.seq != f.head+1 {
		// Feed promises no gaps; should one appear anyway, nobody may
		// be served across it from memory. Streams end and resume from
		// their own positions through History.
		f.h.logger.Error("room feed skipped sequences; restarting viewers", "room", f.roomID, "head", f.head, "got", fr.seq)
		for v := range f.viewers {
			f.endLocked(v, endUnavailable)
		}
		clear(f.ring)
		f.ring = f.ring[:0]
		f.ringBytes = 0
	}
	f.head = fr.seq
	f.ring = append(f.ring, fr)
	f.ringBytes += len(fr.data)
	for len(f.ring) > 1 && (len(f.ring) > f.h.cfg.ringMessages || f.ringBytes > f.h.cfg.ringBytes) {
		f.ringBytes -= len(f.ring[0].data)
		f.ring[0] = nil
		f.ring = f.ring[1:]
	}
	for v := range f.viewers {
		if fr.seq <= v.after {
			continue
		}
		f.queueLocked(v, fr)
	}
	return true
}

// removeUser ends the streams of the user a new kick or ban event names,
// at once, with an error event that says so. A ban also holds for later
// requests (the plugin refuses them); a kicked user may reconnect.
func (f *roomFeed) removeUser(m Message) {
	if m.Subject == "" || (m.Kind != KindKick && m.Kind != KindBan) {
		return
	}
	fr := removedFrame(m)
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for v := range f.viewers {
		if v.user == m.Subject {
			v.final = fr
			f.endLocked(v, endRemoved)
			n++
		}
	}
	if n > 0 {
		f.h.logger.Info("chat streams closed by a moderator", "room", f.roomID, "user", m.Subject, "action", string(m.Kind), "by", m.UserID, "streams", n)
	}
}

// broadcast queues an event without a sequence for every viewer.
func (f *roomFeed) broadcast(fr *frame) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for v := range f.viewers {
		f.queueLocked(v, fr)
	}
}

func (f *roomFeed) queueLocked(v *viewer, fr *frame) {
	if len(v.queue) >= f.h.cfg.streamBuffer {
		f.h.slowCuts.Add(1)
		f.h.logger.Info("cut a browser stream that fell behind; it resumes from its last event", "room", f.roomID, "user", v.user)
		f.endLocked(v, endSlow)
		return
	}
	v.queue = append(v.queue, fr)
	v.signal()
}

// idleQueueCap is the most queue a drained stream keeps for next time; a
// burst's larger buffer is let go.
const idleQueueCap = 8

// signal wakes the stream's writer.
func (v *viewer) signal() {
	if v.notify != nil {
		v.notify()
	}
}

// drain moves up to drainBatch queued frames of v to dst and reports
// whether more remain.
func (f *roomFeed) drain(v *viewer, dst []*frame) ([]*frame, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := min(len(v.queue), drainBatch)
	dst = append(dst, v.queue[:n]...)
	rest := copy(v.queue, v.queue[n:])
	clear(v.queue[rest:])
	v.queue = v.queue[:rest]
	if rest == 0 && cap(v.queue) > idleQueueCap {
		v.queue = nil
	}
	return dst, rest > 0
}

// terminate ends every stream with why and detaches the feed.
func (f *roomFeed) terminate(why endReason) {
	f.mu.Lock()
	f.ended = why
	for v := range f.viewers {
		f.endLocked(v, why)
	}
	f.mu.Unlock()
	f.h.detach(f)
	f.poke()
}

// manageLoop keeps the plugin's presence in step with the open streams,
// and retires the feed once it has had no viewer for the grace period. It
// sleeps until viewers come or go, or the sweeper asks it to retry.
func (f *roomFeed) manageLoop() {
	defer f.h.feedWG.Done()
	defer func() {
		f.cancel() // ends readLoop too, whatever ended this loop
		f.h.mu.Lock()
		delete(f.h.running, f)
		f.h.mu.Unlock()
	}()
	joined := make(map[string]*instance) // user -> plugin process that has their Join
	defer f.leaveAll(joined)
	var grace *time.Timer
	var graceC <-chan time.Time
	defer func() {
		if grace != nil {
			grace.Stop()
		}
	}()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-f.kick:
		case <-graceC:
			graceC = nil
			if f.h.retire(f) {
				f.h.logger.Debug("room feed stopped: no viewers", "room", f.roomID)
				f.cancel()
				return
			}
		}
		f.syncPresence(joined)
		idle := f.h.idle(f)
		switch {
		case idle && graceC == nil:
			d := f.h.cfg.feedGrace
			f.mu.Lock()
			if f.ended != endNone {
				d = 0 // nothing to keep warm
			}
			f.mu.Unlock()
			grace = time.NewTimer(d)
			graceC = grace.C
		case !idle && graceC != nil:
			grace.Stop()
			graceC = nil
		}
	}
}

// recheck asks the plugin, in one call per thousand users, which of the
// feed's viewers may still view the room, and ends the streams of the
// others (see applyRecheck). The sweeper asks for many rooms at once when
// the plugin allows it, and uses this only as a fallback.
func (f *roomFeed) recheck() {
	users := f.userList()
	if len(users) == 0 {
		return
	}
	started := time.Now()
	allowed := make(map[string]bool, len(users))
	var err error
	for chunk := range chunks(users, maxViewersPerAuthorize) {
		ctx, cancel := context.WithTimeout(f.ctx, rpcTimeout)
		var ok []string
		f.h.recheckCalls.Add(1)
		ok, err = f.h.client.AuthorizeViewers(ctx, f.roomID, chunk)
		cancel()
		if err != nil {
			break
		}
		for _, u := range ok {
			allowed[u] = true
		}
	}
	f.applyRecheck(users, allowed, started, err)
}

// userList returns the users with streams on the feed.
func (f *roomFeed) userList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	users := make([]string, 0, len(f.users))
	for u := range f.users {
		users = append(users, u)
	}
	return users
}

// applyRecheck acts on a re-check of users, asked at started: it ends the
// streams of those not allowed and marks the others confirmed. If the
// check failed (err), streams whose permission has gone unconfirmed for
// two windows are ended instead: an unverifiable viewer is not served for
// long.
func (f *roomFeed) applyRecheck(users []string, allowed map[string]bool, started time.Time, err error) {
	if err != nil {
		if f.ctx.Err() == nil {
			f.h.logger.Warn("cannot re-check chat viewers' permissions", "room", f.roomID, "error", err)
			f.cutUnconfirmed(started.Add(-2 * f.h.cfg.permWindow))
		}
		return
	}
	// A user refused because a moderator banned them learns that, not
	// just that access is gone: the re-check can see a ban before its
	// event reaches the feed. Refusals are rare, so asking costs little.
	bans := make(map[string]*frame)
	for _, u := range users {
		if allowed[u] {
			continue
		}
		ctx, cancel := context.WithTimeout(f.ctx, rpcTimeout)
		_, err := f.h.client.RoomInfo(ctx, u, f.roomID)
		cancel()
		if fr := bannedFrame(err); fr != nil {
			bans[u] = fr
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range users {
		vu := f.users[u]
		if vu == nil {
			continue
		}
		if allowed[u] {
			if started.After(vu.confirmed) {
				vu.confirmed = started
			}
			continue
		}
		n := 0
		for v := range f.viewers {
			if v.user != u {
				continue
			}
			if fr := bans[u]; fr != nil {
				v.final = fr
				f.endLocked(v, endRemoved)
			} else {
				f.endLocked(v, endForbidden)
			}
			n++
		}
		if n > 0 {
			f.h.logger.Info("chat streams closed: view permission revoked", "room", f.roomID, "user", u, "streams", n)
		}
	}
}

// confirmAll marks every viewer confirmed as of at, for a round the
// host's permission version vouched for.
func (f *roomFeed) confirmAll(at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.users {
		if at.After(u.confirmed) {
			u.confirmed = at
		}
	}
}

// cutUnconfirmed ends the streams of users last confirmed before cutoff.
func (f *roomFeed) cutUnconfirmed(cutoff time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for v := range f.viewers {
		if u := f.users[v.user]; u != nil && u.confirmed.Before(cutoff) {
			f.endLocked(v, endUnavailable)
		}
	}
}

func chunks(s []string, n int) func(func([]string) bool) {
	return func(yield func([]string) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

// syncPresence makes the plugin's presence match the open streams: one
// Join per user with a stream, one Leave when their last stream is gone.
// The plugin keeps presence in memory, so after it restarts every user is
// joined again; joined remembers which plugin process has each Join.
func (f *roomFeed) syncPresence(joined map[string]*instance) {
	cur := f.h.client.currentInstance()
	for u, in := range joined {
		if in == nil || in != cur {
			delete(joined, u) // that process, and its presence, is gone
		}
	}
	f.mu.Lock()
	want := make(map[string]bool, len(f.users))
	for u, vu := range f.users {
		if vu.streams > 0 {
			want[u] = true
		}
	}
	f.mu.Unlock()
	failed := false
	defer func() { f.presenceRetry.Store(failed) }()
	for u := range want {
		if _, ok := joined[u]; ok {
			continue
		}
		ctx, cancel := context.WithTimeout(f.ctx, rpcTimeout)
		_, err := f.h.client.Join(ctx, u, f.roomID)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				// Cut off by our own deadline or by the feed stopping:
				// the plugin may have counted the Join all the same, and
				// nothing would ever undo it. A Leave without a Join is
				// ignored, so undo it in case.
				f.leaveOwnBudget(u)
			}
			// Retried at the sweeper's next tick; a user who lost view
			// is cut by recheck meanwhile.
			failed = true
			if f.ctx.Err() == nil {
				f.h.logger.Debug("chat join failed", "room", f.roomID, "user", u, "error", err)
			}
			continue
		}
		joined[u] = f.h.client.currentInstance()
	}
	for u := range joined {
		if want[u] {
			continue
		}
		f.leaveOwnBudget(u)
		delete(joined, u)
	}
}

// leaveOwnBudget undoes a Join. It runs on its own budget, not the feed's
// context: a feed that is stopping still owes the plugin its Leaves, or
// the user would stay shown online.
func (f *roomFeed) leaveOwnBudget(userID string) {
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	f.leave(ctx, userID)
}

// leave undoes a Join within ctx. A failure is logged and not retried:
// the callers are done with the user.
func (f *roomFeed) leave(ctx context.Context, userID string) {
	if err := f.h.client.Leave(ctx, userID, f.roomID); err != nil {
		f.h.logger.Debug("chat leave failed", "room", f.roomID, "user", userID, "error", err)
	}
}

// leaveAll leaves every joined user when the feed stops, so nobody stays
// shown online in a room nobody streams.
func (f *roomFeed) leaveAll(joined map[string]*instance) {
	if len(joined) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaveTimeout)
	defer cancel()
	cur := f.h.client.currentInstance()
	for u, in := range joined {
		if in == nil || in != cur {
			continue
		}
		f.leave(ctx, u)
	}
}
