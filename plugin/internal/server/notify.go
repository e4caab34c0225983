package server

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/macro"
	"github.com/pagechat/pagechat/plugin/internal/store"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
	hostv1 "github.com/pagechat/pagechat/proto/gen/pagechat/host/v1"
)

// Notification settings and their reasons.
const (
	// defaultQuietPeriod is the least time between two alerts to one user
	// about one watched room: a conversation then costs its watchers one
	// alert every ten minutes, not one per message.
	defaultQuietPeriod = 10 * time.Minute
	// notifyPace is the least time between two passes of the notifier.
	// Each pass judges everything committed since the last one and costs
	// one commit, so under load the notifier adds at most a few commits a
	// second next to the writer's, while a mention still arrives within a
	// fraction of a second.
	notifyPace = 250 * time.Millisecond
	// notifyPoll is how often an idle notifier looks whether a digest's
	// quiet period ended or a failed delivery is due again.
	notifyPoll = time.Second
	// markerFlushEvery is how long read markers collect in memory before
	// one commit writes them all. A crash loses at most this much reading
	// progress, which the next report restores.
	markerFlushEvery = time.Second
	// remoteGrace is how long another node has to judge the messages it
	// committed before this one looks whether it did (cluster mode): a
	// node judges its own commits, and the others take over only the
	// rooms of a node that died before judging.
	remoteGrace = 5 * time.Second
	// judgePerPass bounds the messages of one room judged in one pass, so
	// one busy room cannot starve the others or grow a transaction without
	// bound; the rest is judged in the next pass.
	judgePerPass = 1024
	// alertRetryMin and alertRetryMax bound the back-off after a failed
	// Notify, as for transcript writes.
	alertRetryMin = time.Second
	alertRetryMax = 5 * time.Minute
	// unreadScanCap bounds how many messages an unread count reads; beyond
	// it the count says "at least".
	unreadScanCap = 1000
	// authorTTL is how long a page's author is reused.
	authorTTL = time.Minute
	// bodyRunes bounds the excerpt of a message in an alert.
	bodyRunes = 200
)

// notifySettings is the validated notification part of a ConfigureRequest.
type notifySettings struct {
	quiet        time.Duration
	authorsWatch bool
	// roomMentionsPerHour: 0 only moderators may @room, -1 everyone who may
	// post, n > 0 non-moderators n per room and hour.
	roomMentionsPerHour int64
}

// quietPolicy decides when a watcher's digest may become an alert.
type quietPolicy struct {
	period time.Duration
}

// add records message m in d.
func (p quietPolicy) add(d *store.Digest, m store.Message) {
	if d.Count == 0 {
		d.FirstSeq = m.Seq
		d.Senders = d.Senders[:0]
	}
	d.Count++
	d.LastSeq = m.Seq
	name := m.UserName
	if name == "" {
		name = m.UserID
	}
	for _, s := range d.Senders {
		if s == name {
			return
		}
	}
	if len(d.Senders) < store.MaxDigestSenders {
		d.Senders = append(d.Senders, name)
	}
}

// due reports whether d holds something and its quiet period is over: the
// first activity after a quiet period is told at once, and everything
// during the period waits for its end and goes out as one summary.
func (p quietPolicy) due(d store.Digest, now time.Time) bool {
	return d.Count > 0 && (d.LastAlert.IsZero() || !now.Before(d.LastAlert.Add(p.period)))
}

// summary is the alert text of a digest: "5 new messages from Bob and
// Carol".
func summary(d store.Digest) string {
	what := "1 new message"
	if d.Count != 1 {
		what = fmt.Sprintf("%d new messages", d.Count)
	}
	if len(d.Senders) == 0 {
		return what
	}
	return what + " from " + joinNames(d.Senders)
}

func joinNames(names []string) string {
	switch len(names) {
	case 1:
		return names[0]
	case 2:
		return names[0] + " and " + names[1]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// notifier turns committed messages into alerts and delivers them. It is
// one goroutine: the store's commit callback marks rooms dirty and wakes
// it; each pass judges every dirty room's new messages in order, commits
// the judgement with the alerts it produced (store.CommitNotifications),
// turns digests whose quiet period ended into alerts, delivers the outbox
// and writes the collected read markers. Since the judged sequence and the
// alerts commit together and alerts carry stable ids, a crash at any point
// neither repeats a judgement nor loses an alert, and a repeated Notify
// after a crash names an id the host already has.
type notifier struct {
	logger     hclog.Logger
	store      store.Store
	host       *hostClient
	perms      *permCache
	presence   presenceCounter
	now        func() time.Time
	chatPrefix string
	set        notifySettings
	policy     quietPolicy
	markers    *markerBuffer
	pace, poll time.Duration

	wake chan struct{}

	mu    sync.Mutex
	dirty map[string]struct{}
	// remote holds, per room, when this node first saw other nodes'
	// messages that may be unjudged, and the newest seq it saw then
	// (cluster mode).
	remote map[string]remoteMark

	// Used by the notifier goroutine only.
	judged map[string]uint64
	names  map[string]string // room id -> room name
	noHost bool              // the host answered Notify with Unimplemented

	authorMu sync.Mutex
	authors  map[string]authorEntry // shared with readState

	// passes counts finished passes, for tests that wait for quiet.
	passes atomic.Int64

	cancel context.CancelFunc
	done   chan struct{}
}

// remoteMark is what a node keeps of a room's messages from other nodes
// until it has checked that they were judged.
type remoteMark struct {
	seq    uint64    // newest seq of the delivery that made the mark
	since  time.Time // when that delivery came
	latest uint64    // newest seq delivered since, checked by a later mark
}

type authorEntry struct {
	id      string
	expires time.Time
}

func newNotifier(logger hclog.Logger, now func() time.Time, set notifySettings, chatPrefix string) *notifier {
	return &notifier{
		logger:     logger.Named("notify"),
		now:        now,
		chatPrefix: chatPrefix,
		set:        set,
		policy:     quietPolicy{period: set.quiet},
		pace:       notifyPace,
		poll:       notifyPoll,
		wake:       make(chan struct{}, 1),
		dirty:      make(map[string]struct{}),
		remote:     make(map[string]remoteMark),
		judged:     make(map[string]uint64),
		names:      make(map[string]string),
		authors:    make(map[string]authorEntry),
	}
}

// onCommit wraps the next commit callback so every commit also marks its
// rooms dirty. It only touches a map and a channel: senders do not wait.
func (n *notifier) onCommit(next store.CommitFunc) store.CommitFunc {
	return func(added []store.Message) {
		next(added)
		n.mu.Lock()
		for i := range added {
			n.dirty[added[i].RoomID] = struct{}{}
		}
		n.mu.Unlock()
		n.poke()
	}
}

// onFollow wraps the commit callback of other nodes' messages (cluster
// mode): their rooms are judged by the node that committed them, so here
// they are only noted, for the check after remoteGrace (dueRemote).
func (n *notifier) onFollow(next store.CommitFunc) store.CommitFunc {
	return func(added []store.Message) {
		next(added)
		now := n.now()
		n.mu.Lock()
		// A mark is checked against the newest seq of the delivery that
		// made it, not of later ones: after remoteGrace those messages are
		// that old, and a node that is alive has judged them, while it may
		// well not have judged what arrived a moment ago. The later ones
		// are kept in latest, for the mark that follows (dueRemote).
		var fresh map[string]bool
		for i := range added {
			m := &added[i]
			r, ok := n.remote[m.RoomID]
			if !ok {
				r = remoteMark{since: now}
				if fresh == nil {
					fresh = make(map[string]bool)
				}
				fresh[m.RoomID] = true
			}
			if fresh[m.RoomID] {
				r.seq = max(r.seq, m.Seq)
			}
			r.latest = max(r.latest, m.Seq)
			n.remote[m.RoomID] = r
		}
		n.mu.Unlock()
	}
}

// dueRemote returns the rooms whose other nodes' messages are older than
// remoteGrace and still unjudged, to be judged here. A room whose marked
// messages were judged meanwhile is forgotten, unless later messages came
// that are not judged yet: those get a mark of their own, due a grace
// from now, so none is left unjudged if their node dies.
func (n *notifier) dueRemote(ctx context.Context) []string {
	now := n.now()
	n.mu.Lock()
	var due []string
	marks := make(map[string]remoteMark)
	for id, r := range n.remote {
		if now.Sub(r.since) >= remoteGrace || now.Before(r.since) {
			due = append(due, id)
			marks[id] = r
			delete(n.remote, id)
		}
	}
	n.mu.Unlock()
	var out []string
	for _, id := range due {
		mark := marks[id]
		judged, err := n.store.JudgedSeq(ctx, id)
		switch {
		case err == nil && judged < mark.seq:
			n.judged[id] = judged
			out = append(out, id)
		case err != nil || judged < mark.latest:
			// Looked at again after the next grace.
			next := remoteMark{seq: mark.latest, since: now, latest: mark.latest}
			n.mu.Lock()
			if r, ok := n.remote[id]; ok {
				// Delivered meanwhile, so about now too.
				next.seq, next.latest = max(next.seq, r.seq), max(next.latest, r.latest)
			}
			n.remote[id] = next
			n.mu.Unlock()
		}
	}
	return out
}

func (n *notifier) poke() {
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// start runs the notifier once the store and the host connection exist.
func (n *notifier) start(st store.Store, host *hostClient, perms *permCache, pres presenceCounter) {
	n.store, n.host, n.perms, n.presence = st, host, perms, pres
	n.markers = newMarkerBuffer(st)
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.done = make(chan struct{})
	go n.run(ctx)
}

// stop ends the goroutine and writes the collected read markers; call it
// before the store closes.
func (n *notifier) stop() {
	if n.cancel == nil {
		return
	}
	n.cancel()
	<-n.done
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := n.markers.flush(ctx); err != nil {
		n.logger.Warn("read markers not written at shutdown", "error", err)
	}
}

func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	// What a crash left unjudged is judged first.
	if rooms, err := n.store.Unjudged(ctx); err == nil {
		n.mu.Lock()
		for _, id := range rooms {
			n.dirty[id] = struct{}{}
		}
		n.mu.Unlock()
	} else if ctx.Err() == nil {
		n.logger.Error("cannot list rooms to judge", "error", err)
	}
	poll := time.NewTicker(n.poll)
	defer poll.Stop()
	lastMarkers := n.now()
	for {
		n.pass(ctx)
		if d := n.now().Sub(lastMarkers); d >= markerFlushEvery || d < 0 {
			if err := n.markers.flush(ctx); err != nil && ctx.Err() == nil {
				n.logger.Warn("cannot write read markers; kept for the next try", "error", err)
			}
			lastMarkers = n.now()
		}
		// Pace passes, so a busy site costs a few commits a second.
		select {
		case <-ctx.Done():
			return
		case <-time.After(n.pace):
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-poll.C:
		}
	}
}

// pass judges dirty rooms, flushes due digests and delivers the outbox.
func (n *notifier) pass(ctx context.Context) {
	n.mu.Lock()
	rooms := make([]string, 0, len(n.dirty))
	for id := range n.dirty {
		rooms = append(rooms, id)
	}
	clear(n.dirty)
	n.mu.Unlock()
	for _, id := range n.dueRemote(ctx) {
		if !slices.Contains(rooms, id) {
			rooms = append(rooms, id)
		}
	}
	// In id order, so the judgements of two nodes that overlap take
	// their rows in the same order instead of deadlocking.
	slices.Sort(rooms)

	pre := n.prefetch(ctx, rooms)
	var batches []store.NotifyBatch
	for _, id := range rooms {
		b, more, err := n.judgeRoom(ctx, id, pre)
		if err != nil {
			if ctx.Err() == nil {
				n.logger.Warn("cannot judge room; retrying", "room", id, "error", err)
			}
			n.markDirty(id)
			continue
		}
		if more {
			n.markDirty(id)
		}
		if b.JudgedSeq != 0 {
			batches = append(batches, b)
		}
	}
	if len(batches) > 0 {
		if err := n.store.CommitNotifications(ctx, batches); err != nil {
			switch {
			case errors.Is(err, store.ErrStaleJudgement):
				// In cluster mode another node judged these messages first;
				// rereading the judged sequences skips them.
				n.logger.Debug("messages already judged elsewhere; rereading", "error", err)
			case ctx.Err() == nil:
				n.logger.Error("cannot store notifications; judging again", "error", err)
			}
			for _, b := range batches {
				delete(n.judged, b.RoomID) // reread from the store
				n.markDirty(b.RoomID)
			}
		} else {
			for _, b := range batches {
				n.judged[b.RoomID] = b.JudgedSeq
			}
		}
	}
	if err := n.flushDigests(ctx); err != nil && ctx.Err() == nil {
		n.logger.Warn("cannot send watch summaries", "error", err)
	}
	if err := n.deliver(ctx); err != nil && ctx.Err() == nil {
		n.logger.Warn("cannot deliver notifications", "error", err)
	}
	n.passes.Add(1)
}

func (n *notifier) markDirty(roomID string) {
	n.mu.Lock()
	n.dirty[roomID] = struct{}{}
	n.mu.Unlock()
}

// roomsReader is what a store may offer to read a pass's rooms at once
// (the PostgreSQL store: a round trip per room and pass was the largest
// share of a busy cluster node's queries).
type roomsReader interface {
	AfterRooms(ctx context.Context, rooms []string, after []uint64, limit int) (map[string][]store.Message, error)
	DigestsOfRooms(ctx context.Context, rooms []string) (map[string][]store.Digest, error)
}

// passReads are the new messages and the digests of a pass's rooms, read
// together; nil when the store reads room by room.
type passReads struct {
	after   map[string][]store.Message
	digests map[string][]store.Digest
}

// prefetch reads the rooms' new messages and digests in two queries, if
// the store can; on any failure judgeRoom reads room by room.
func (n *notifier) prefetch(ctx context.Context, rooms []string) *passReads {
	rr, ok := n.store.(roomsReader)
	if !ok || len(rooms) < 2 {
		return nil
	}
	after := make([]uint64, len(rooms))
	for i, id := range rooms {
		judged, err := n.judgedSeq(ctx, id)
		if err != nil {
			return nil
		}
		after[i] = judged
	}
	msgs, err := rr.AfterRooms(ctx, rooms, after, judgePerPass)
	if err != nil {
		return nil
	}
	digests, err := rr.DigestsOfRooms(ctx, rooms)
	if err != nil {
		return nil
	}
	return &passReads{after: msgs, digests: digests}
}

func (p *passReads) digestsOf(roomID string) []store.Digest {
	if p == nil {
		return nil
	}
	return p.digests[roomID]
}

// judgedSeq is how far roomID is judged, as this notifier last knew.
func (n *notifier) judgedSeq(ctx context.Context, roomID string) (uint64, error) {
	judged, ok := n.judged[roomID]
	if !ok {
		var err error
		if judged, err = n.store.JudgedSeq(ctx, roomID); err != nil {
			return 0, err
		}
		n.judged[roomID] = judged
	}
	return judged, nil
}

// judgeRoom decides what a room's new messages notify. It writes nothing:
// the batch it returns is committed with the others. pre, if not nil,
// holds the room's new messages and digests.
func (n *notifier) judgeRoom(ctx context.Context, roomID string, pre *passReads) (store.NotifyBatch, bool, error) {
	batch := store.NotifyBatch{RoomID: roomID}
	judged, err := n.judgedSeq(ctx, roomID)
	if err != nil {
		return batch, false, err
	}
	var msgs []store.Message
	if pre != nil {
		msgs = pre.after[roomID]
	} else if msgs, err = n.store.After(ctx, roomID, judged, judgePerPass); err != nil {
		return batch, false, err
	}
	if len(msgs) == 0 {
		return batch, false, nil
	}
	more := len(msgs) == judgePerPass
	batch.JudgedSeq = msgs[len(msgs)-1].Seq

	pageID, _, err := macro.SplitRoomID(roomID)
	if err != nil {
		return batch, more, nil // not a room a page carries: nothing to tell
	}
	watchers, err := n.watchers(ctx, roomID, pageID)
	if err != nil {
		return batch, false, err
	}
	// A user banned from the room hears nothing of it, even where the
	// page lets them view (moderation's rule for every room call).
	bans, err := n.store.Bans(ctx, roomID)
	if err != nil {
		return batch, false, err
	}
	banned := make(map[string]bool, len(bans))
	for _, b := range bans {
		banned[b.UserID] = true
		delete(watchers, b.UserID)
	}
	anyMention := false
	for i := range msgs {
		if len(msgs[i].Mentions) > 0 || msgs[i].MentionsRoom {
			anyMention = true
			break
		}
	}
	if len(watchers) == 0 && !anyMention {
		return batch, more, nil
	}
	name, err := n.roomName(ctx, roomID)
	if err != nil {
		return batch, false, err
	}
	digests := make(map[string]*store.Digest)
	if len(watchers) > 0 {
		stored := pre.digestsOf(roomID)
		if pre == nil {
			if stored, err = n.store.Digests(ctx, roomID); err != nil {
				return batch, false, err
			}
		}
		for i := range stored {
			digests[stored[i].UserID] = &stored[i]
		}
	}
	changed := make(map[string]bool)
	mayView := func(userID string) (bool, error) {
		if banned[userID] {
			return false, nil
		}
		return n.perms.check(ctx, userID, pageID, hostv1.Permission_PERMISSION_VIEW)
	}
	for _, m := range msgs {
		if m.Kind != store.KindMessage || m.Erased {
			continue
		}
		told := make(map[string]bool)
		targets := append([]string(nil), m.Mentions...)
		if m.MentionsRoom {
			for w := range watchers {
				targets = append(targets, w)
			}
		}
		for _, u := range targets {
			if u == m.UserID || told[u] || n.presence.online(roomID, u) {
				continue
			}
			ok, err := mayView(u)
			if err != nil {
				return batch, false, err
			}
			if !ok {
				continue
			}
			told[u] = true
			batch.Alerts = append(batch.Alerts, n.mentionAlert(m, name, u))
		}
		for w := range watchers {
			if w == m.UserID || told[w] {
				continue
			}
			d := digests[w]
			if d == nil {
				d = &store.Digest{RoomID: roomID, UserID: w}
				digests[w] = d
			}
			if n.presence.online(roomID, w) {
				// In the room: they see it; nothing is pending.
				if d.Count > 0 {
					d.Count = 0
					changed[w] = true
				}
				continue
			}
			n.policy.add(d, m)
			changed[w] = true
		}
	}
	for w := range changed {
		batch.Digests = append(batch.Digests, *digests[w])
	}
	return batch, more, nil
}

// watchers returns who watches a room: those who chose to, and the page's
// author unless they chose not to (when authors watch by default).
func (n *notifier) watchers(ctx context.Context, roomID, pageID string) (map[string]bool, error) {
	explicit, err := n.store.Watches(ctx, roomID)
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool)
	for u, st := range explicit {
		if st == store.WatchOn {
			out[u] = true
		}
	}
	if n.set.authorsWatch {
		author, err := n.author(ctx, pageID)
		if err != nil {
			return nil, err
		}
		if author != "" && explicit[author] != store.WatchOff {
			out[author] = true
		}
	}
	return out, nil
}

// author returns a page's author, cached for authorTTL.
func (n *notifier) author(ctx context.Context, pageID string) (string, error) {
	now := n.now()
	n.authorMu.Lock()
	e, ok := n.authors[pageID]
	n.authorMu.Unlock()
	if ok && now.Before(e.expires) {
		return e.id, nil
	}
	id, err := n.host.pageAuthor(ctx, pageID)
	if err != nil {
		return "", err
	}
	n.authorMu.Lock()
	defer n.authorMu.Unlock()
	if len(n.authors) >= maxCacheEntries {
		clear(n.authors)
	}
	n.authors[pageID] = authorEntry{id: id, expires: now.Add(authorTTL)}
	return id, nil
}

func (n *notifier) roomName(ctx context.Context, roomID string) (string, error) {
	if name, ok := n.names[roomID]; ok {
		return name, nil
	}
	room, err := n.store.Room(ctx, roomID)
	if err != nil {
		return "", err
	}
	if len(n.names) >= maxCacheEntries {
		clear(n.names)
	}
	n.names[roomID] = room.Name
	return room.Name, nil
}

// messageURL links a message in the popup.
func (n *notifier) messageURL(roomID string, seq uint64) string {
	return fmt.Sprintf("%srooms/%s#m-%d", n.chatPrefix, url.PathEscape(roomID), seq)
}

func (n *notifier) mentionAlert(m store.Message, roomName, userID string) store.Alert {
	who := m.UserName
	if who == "" {
		who = m.UserID
	}
	return store.Alert{
		ID:      fmt.Sprintf("pagechat/%s/%d/mention/%s", m.RoomID, m.Seq, userID),
		RoomID:  m.RoomID,
		UserID:  userID,
		Kind:    "mention",
		Seq:     m.Seq,
		Subject: fmt.Sprintf("%s mentioned you in %s", who, roomName),
		Body:    excerpt(m.Text),
		URL:     n.messageURL(m.RoomID, m.Seq),
		Created: n.now(),
	}
}

// excerpt shortens a message for an alert.
func excerpt(text string) string {
	text = strings.Join(strings.Fields(text), " ")
	if utf8.RuneCountInString(text) <= bodyRunes {
		return text
	}
	r := []rune(text)
	return string(r[:bodyRunes]) + "…"
}

// flushDigests turns digests whose quiet period is over into alerts. A
// watcher who is in the room, has read past the digest or may no longer
// view the page gets nothing, and the digest is emptied.
func (n *notifier) flushDigests(ctx context.Context) error {
	pending, err := n.store.Digests(ctx, "")
	if err != nil {
		return err
	}
	now := n.now()
	byRoom := make(map[string]*store.NotifyBatch)
	var order []string
	for _, d := range pending {
		if !n.policy.due(d, now) {
			continue
		}
		pageID, _, err := macro.SplitRoomID(d.RoomID)
		if err != nil {
			continue
		}
		b := byRoom[d.RoomID]
		if b == nil {
			b = &store.NotifyBatch{RoomID: d.RoomID}
			byRoom[d.RoomID] = b
			order = append(order, d.RoomID)
		}
		read, err := n.markers.get(ctx, d.RoomID, d.UserID)
		if err != nil {
			return err
		}
		ok, err := n.perms.check(ctx, d.UserID, pageID, hostv1.Permission_PERMISSION_VIEW)
		if err != nil {
			return err
		}
		alert := ok && read < d.LastSeq && !n.presence.online(d.RoomID, d.UserID)
		if alert {
			name, err := n.roomName(ctx, d.RoomID)
			if err != nil {
				return err
			}
			what := "1 new message"
			if d.Count != 1 {
				what = fmt.Sprintf("%d new messages", d.Count)
			}
			b.Alerts = append(b.Alerts, store.Alert{
				ID:      fmt.Sprintf("pagechat/%s/%d/watch/%s", d.RoomID, d.LastSeq, d.UserID),
				RoomID:  d.RoomID,
				UserID:  d.UserID,
				Kind:    "watch",
				Seq:     max(d.FirstSeq, read+1),
				Subject: fmt.Sprintf("%s in %s", what, name),
				Body:    summary(d),
				URL:     n.messageURL(d.RoomID, max(d.FirstSeq, read+1)),
				Created: now,
			})
			d.LastAlert = now
		}
		d.Count, d.FirstSeq, d.LastSeq, d.Senders = 0, 0, 0, nil
		b.Digests = append(b.Digests, d)
	}
	if len(order) == 0 {
		return nil
	}
	batches := make([]store.NotifyBatch, 0, len(order))
	for _, id := range order {
		batches = append(batches, *byRoom[id])
	}
	return n.store.CommitNotifications(ctx, batches)
}

// deliver sends due outbox alerts to the host, checking view permission
// again first (it may have been revoked since the message was judged).
func (n *notifier) deliver(ctx context.Context) error {
	out, err := n.store.Outbox(ctx, 100)
	if err != nil {
		return err
	}
	now := n.now()
	var due []store.Alert
	for _, a := range out {
		if !a.NextTry.After(now) {
			due = append(due, a)
		}
	}
	if len(due) == 0 {
		return nil
	}
	// Asked of the host directly, not the cache: this is the last moment
	// to keep a page's name and text from someone who lost access.
	keys := make([]permKey, len(due))
	for i, a := range due {
		pageID, _, err := macro.SplitRoomID(a.RoomID)
		if err != nil {
			pageID = ""
		}
		keys[i] = permKey{a.UserID, pageID, hostv1.Permission_PERMISSION_VIEW}
	}
	allowed, err := n.host.checkPermissions(ctx, keys)
	if err != nil {
		return err
	}
	for i, a := range due {
		if allowed[i] && keys[i].page != "" {
			// A ban since the alert was judged counts like lost access.
			switch _, err := n.store.Ban(ctx, a.RoomID, a.UserID); {
			case err == nil:
				allowed[i] = false
			case !errors.Is(err, store.ErrBanNotFound) && !errors.Is(err, store.ErrRoomNotFound):
				return err
			}
		}
		if !allowed[i] || keys[i].page == "" || n.noHost {
			if err := n.store.AlertDone(ctx, a.ID); err != nil {
				return err
			}
			continue
		}
		err := n.host.notify(ctx, a)
		switch {
		case err == nil:
			if err := n.store.AlertDone(ctx, a.ID); err != nil {
				return err
			}
		case errors.Is(err, errNoNotifier):
			n.logger.Info("host takes no notifications; dropping them")
			n.noHost = true
			if err := n.store.AlertDone(ctx, a.ID); err != nil {
				return err
			}
		case ctx.Err() != nil:
			return ctx.Err()
		default:
			wait := alertRetryMin << min(a.Tries, 20)
			wait = min(wait, alertRetryMax)
			tries, ferr := n.store.AlertFailed(ctx, a.ID, now.Add(wait))
			if ferr != nil {
				return ferr
			}
			n.logger.Warn("notification not delivered; retrying", "id", a.ID, "tries", tries, "retry_in", wait.String(), "error", err)
		}
	}
	return nil
}

// markerBuffer collects read markers in memory until the notifier writes
// them in one commit.
type markerBuffer struct {
	store store.Store

	mu      sync.Mutex
	pending map[markerKey]uint64
}

type markerKey struct{ room, user string }

func newMarkerBuffer(st store.Store) *markerBuffer {
	return &markerBuffer{store: st, pending: make(map[markerKey]uint64)}
}

// set moves a marker forward in memory.
func (b *markerBuffer) set(roomID, userID string, seq uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k := markerKey{roomID, userID}
	if seq > b.pending[k] {
		b.pending[k] = seq
	}
}

// get returns a marker: the stored one, or the collected one if further.
func (b *markerBuffer) get(ctx context.Context, roomID, userID string) (uint64, error) {
	stored, err := b.store.ReadMarkers(ctx, roomID, userID)
	if err != nil {
		return 0, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(stored[userID], b.pending[markerKey{roomID, userID}]), nil
}

// flush writes what was collected; on failure it keeps it for next time.
func (b *markerBuffer) flush(ctx context.Context) error {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return nil
	}
	batch := make([]store.ReadMarker, 0, len(b.pending))
	for k, seq := range b.pending {
		batch = append(batch, store.ReadMarker{RoomID: k.room, UserID: k.user, Seq: seq})
	}
	clear(b.pending)
	b.mu.Unlock()
	err := b.store.SetReadMarkers(ctx, batch)
	if err != nil {
		for _, m := range batch {
			b.set(m.RoomID, m.UserID, m.Seq)
		}
	}
	return err
}

// notifySettingsFrom validates the notification part of a ConfigureRequest.
func notifySettingsFrom(req *chatv1.ConfigureRequest) (notifySettings, error) {
	ms := req.GetWatchQuietPeriodMs()
	if ms < 0 || ms > maxQuietPeriod.Milliseconds() {
		return notifySettings{}, failf(errInvalid, "watch_quiet_period_ms %d out of range 1..%d", ms, maxQuietPeriod.Milliseconds())
	}
	set := notifySettings{quiet: time.Duration(ms) * time.Millisecond, authorsWatch: !req.GetAuthorsDoNotWatch()}
	if set.quiet == 0 {
		set.quiet = defaultQuietPeriod
	}
	set.roomMentionsPerHour = req.GetRoomMentionsPerHour()
	if set.roomMentionsPerHour < -1 {
		return notifySettings{}, failf(errInvalid, "room_mentions_per_hour %d: use a positive rate, 0 for moderators only or -1 for no limit", set.roomMentionsPerHour)
	}
	return set, nil
}

// maxQuietPeriod bounds the quiet period: a day between alerts is already
// a daily digest.
const maxQuietPeriod = 24 * time.Hour
