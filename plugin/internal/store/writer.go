package store

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pagechat/pagechat/plugin/internal/store/groupcommit"
)

type opKind uint8

const (
	opAppend opKind = iota + 1
	opTouch
	opMarker
	opMarkers
)

// request is one write waiting for the writer goroutine.
type request struct {
	ctx    context.Context
	kind   opKind
	roomID string
	msg    NewMessage   // opAppend
	part   Participant  // opTouch; opMarker uses its UserID
	seq    uint64       // opMarker
	marks  []ReadMarker // opMarkers
	done   chan result  // buffered (1) so the writer never blocks on a sender that gave up
}

type result struct {
	msg Message
	dup bool
	seq uint64 // opMarker: the marker as stored
	err error
	// changed is the target an edit or delete changed, as it is now.
	changed *Message
}

// submit queues r for the writer and waits for its commit.
func (b *Bolt) submit(ctx context.Context, r *request) (result, error) {
	if b.isClosed() {
		return result{}, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return result{}, err
	}
	r.ctx = ctx
	r.done = make(chan result, 1)
	return groupcommit.Submit(ctx, b.reqs, b.closing, ErrClosed, r, r.done)
}

// writer is the single goroutine that performs Append, TouchParticipant and
// SetReadMarker(s). It takes whatever is queued as soon as the previous
// batch is answered (package groupcommit), instead of waiting for more
// work like DB.Batch does, and journals it (journal.go). Between batches it
// runs what others need done on it (calls): a checkpoint a reader asks for
// (settle). It also makes one when the open transaction has been open for
// checkpointEvery.
func (b *Bolt) writer() {
	defer close(b.stopped)
	batch := make([]*request, 0, maxBatch)
	timer := time.NewTimer(b.opts.checkpointEvery)
	timer.Stop()
	armed := false
	for {
		// Checked first, so a steady stream of senders cannot keep the
		// writer busy after closing.
		select {
		case <-b.closing:
			b.shutdown()
			return
		default:
		}
		if b.open != nil && !armed {
			every := b.opts.checkpointEvery
			if b.stalled != nil {
				every = stalledRetry
			}
			timer.Reset(every)
			armed = true
		}
		select {
		case r := <-b.reqs:
			batch = groupcommit.Gather(b.reqs, append(batch[:0], r), maxBatch)
			b.commit(batch)
			clear(batch) // drop references to finished requests
		case call := <-b.calls:
			call()
		case <-timer.C:
			armed = false
			b.timedCheckpoint()
		case <-b.closing:
			b.shutdown()
			return
		}
		if b.open == nil && armed {
			timer.Stop()
			armed = false
		}
	}
}

// shutdown writes everything journaled to the file, so a clean Close
// leaves nothing to replay. If it cannot (a full disk), the batches are
// safe in the journal and the next Open applies them: that is worth a
// warning, not a failed Close.
func (b *Bolt) shutdown() {
	if err := b.checkpoint(); err != nil {
		if b.opts.Warn != nil {
			b.opts.Warn("acknowledged messages stay in the journal until the next start, which writes them to the database file", err)
		}
		if b.open != nil {
			_ = b.open.Rollback()
			b.open = nil
		}
	}
}

// timedCheckpoint is a checkpoint nobody waits for. Its error also
// answers the next read and the next batch, which try again, and the
// timer tries again too; only the first failure of a run is worth a
// warning.
func (b *Bolt) timedCheckpoint() {
	wasStalled := b.stalled != nil
	if err := b.checkpoint(); err != nil && !wasStalled && b.opts.Warn != nil {
		b.opts.Warn("cannot write acknowledged messages from the journal to the database file; new messages are refused until that succeeds, and every read or write tries again", err)
	}
}

// settled is the answer to settle.
type settled struct {
	ran bool  // read ran, and err is its result
	err error // else: the checkpoint's
}

// settle waits until the file holds every write acknowledged before it
// was called, so a read after it sees them all. It costs nothing while the
// journal holds nothing the file lacks. When the checkpoint fails (a full
// disk, say), the writer's open transaction still holds every
// acknowledged batch: settle then runs read, if given, in that
// transaction and reports ran, so that the history stays readable while
// writes wait for space.
func (b *Bolt) settle(ctx context.Context, read func(*bolt.Tx) error) (ran bool, err error) {
	if !b.unsettled.Load() {
		return false, nil
	}
	done := make(chan settled, 1) // the writer never waits for a reader that gave up
	call := func() {
		var err error
		if b.stalled != nil && b.open != nil && time.Since(b.stalledAt) < stalledRetry {
			// Each try applies every waiting batch again; readers
			// need not pay for one each while the disk stays full.
			err = b.stalled
		} else {
			err = b.checkpoint()
		}
		if err != nil && read != nil && b.open != nil {
			done <- settled{ran: true, err: read(b.open)}
			return
		}
		done <- settled{err: err}
	}
	select {
	case b.calls <- call:
	case <-b.stopped:
		// Close checkpointed on the way out.
		return false, ErrClosed
	case <-ctx.Done():
		return false, ctx.Err()
	}
	select {
	case res := <-done:
		if !res.ran && res.err != nil {
			return false, fmt.Errorf("store: %w", res.err)
		}
		return res.ran, res.err
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// begin returns the open write transaction, beginning one if needed.
func (b *Bolt) begin() (*bolt.Tx, error) {
	if b.open == nil {
		tx, err := b.db.Begin(true)
		if err != nil {
			return nil, mapErr(err)
		}
		b.open = tx
	}
	return b.open, nil
}

// checkpoint commits the open transaction, and with it every journaled
// batch, to the file. When the commit fails, bbolt has rolled the
// transaction back: the batches are still in the journal, and the writer
// applies them again to a new transaction for the next try (rebuild).
func (b *Bolt) checkpoint() error {
	if b.open == nil && len(b.inTx) == 0 && b.lsn == b.fileLSN {
		b.wipeIfOwed()
		return nil
	}
	if b.open == nil {
		if err := b.rebuild(); err != nil {
			return err
		}
	}
	// The open transaction, or a new one when there is nothing to apply
	// and only a spent number to record (journal).
	tx, err := b.begin()
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	b.open = nil
	owed := len(b.inTx) > 0 || b.lsn != b.fileLSN
	if b.lsn != b.fileLSN {
		if err = tx.Bucket(metaBucket).Put(journalKey, lsnBytes(b.lsn)); err != nil {
			_ = tx.Rollback()
		}
	}
	if err == nil {
		err = tx.Commit() // rolls back on failure
	}
	if err != nil {
		err = fmt.Errorf("checkpoint: %w", mapErr(err))
		if owed {
			b.stalled, b.stalledAt = err, time.Now()
			_ = b.rebuild() // on failure, the next checkpoint tries again
		}
		return err
	}
	b.fileLSN = b.lsn
	b.stalled = nil
	b.inTx = nil
	b.jr.restart()
	b.unsettled.Store(false)
	b.wipeIfOwed()
	return nil
}

// wipeIfOwed wipes the journal if recover asked for it. On a failure the
// wipe stays owed; the checkpoint before it stands either way.
func (b *Bolt) wipeIfOwed() {
	if !b.wipeOwed {
		return
	}
	if err := b.jr.wipe(); err != nil {
		if b.opts.Warn != nil {
			b.opts.Warn("cannot wipe the journal; trying again with the next checkpoint", err)
		}
		return
	}
	b.wipeOwed = false
}

// rebuild begins a new transaction and applies the journaled batches to
// it again, after the open one was rolled back.
func (b *Bolt) rebuild() error {
	if b.open != nil {
		_ = b.open.Rollback()
		b.open = nil
	}
	if len(b.inTx) == 0 {
		return nil
	}
	tx, err := b.db.Begin(true)
	if err != nil {
		return fmt.Errorf("apply journaled batches again: %w", mapErr(err))
	}
	for _, jb := range b.inTx {
		if _, err := b.apply(tx, jb.reqs, jb.now); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("apply journaled batch %d again: %w", jb.lsn, err)
		}
	}
	b.open = tx
	return nil
}

// roomState is a room's record and the participants the current batch
// changed; each is written back once per batch however many messages the
// room got. The room's lists are not loaded: a commit only adds to them.
type roomState struct {
	roomBucketSet
	room    Room                     // without its lists; LastSeq from the log (lastSeqIn)
	touched map[string]*memberRecord // participants changed in this batch, by user id
	order   []*memberRecord          // touched in first-touch order, so new ones rank in that order
	dirty   bool                     // the record changed: only a new topic does that
}

// lastSeenStep is how far a participant's stored last-seen time may fall
// behind before a message or join rewrites it. Rewriting it on every
// message would add the members bucket's page to nearly every commit, for
// a time the room shows to the minute.
const lastSeenStep = time.Minute

// touch records that userID was seen, under name unless name is empty.
func (s *roomState) touch(userID, name string, seen time.Time) {
	m, ok := s.touched[userID]
	if !ok {
		// An unreadable record is replaced rather than failing every
		// sender in the batch: it holds only what this write sets again
		// (the name, when known, and the time) and the rank, which is
		// given anew.
		rec, err := getMember(s.members, userID)
		if err != nil {
			rec = memberRecord{}
		}
		known := err == nil && !rec.LastSeen.IsZero()
		if known && (name == "" || name == rec.DisplayName) &&
			!seen.Before(rec.LastSeen) && seen.Sub(rec.LastSeen) < lastSeenStep {
			return // recent enough; a later touch in the batch reads it again
		}
		rec.UserID = userID
		m = &rec
		if s.touched == nil {
			s.touched = make(map[string]*memberRecord)
		}
		s.touched[userID] = m
		s.order = append(s.order, m)
	}
	if name != "" {
		m.DisplayName = name
	}
	m.LastSeen = seen
}

// flush writes back what the batch changed.
func (s *roomState) flush(rooms *bolt.Bucket) error {
	for _, m := range s.order {
		if err := putMember(s.members, m); err != nil {
			return fmt.Errorf("room %q: %w", s.room.ID, err)
		}
	}
	if !s.dirty {
		return nil
	}
	v, err := encodeRoom(&s.room)
	if err != nil {
		return err
	}
	if err := rooms.Put([]byte(s.room.ID), v); err != nil {
		return fmt.Errorf("write room %q: %w", s.room.ID, err)
	}
	return nil
}

// applied is what applying a batch did.
type applied struct {
	results []result
	added   []Message
	changed []Message
	touched []string   // the rooms the batch may have changed
	live    []*request // the requests that changed something, in order: what the journal keeps
}

// apply applies batch inside tx with commit time now. Per-request
// problems (unknown room, bad client id) fail only that request and are
// detected before it writes anything; a returned error means tx is in an
// unknown state and must be rolled back. Given the same file contents and
// now, it does the same: the journal's replay relies on that.
func (b *Bolt) apply(tx *bolt.Tx, batch []*request, now time.Time) (applied, error) {
	out := applied{results: make([]result, len(batch))}
	rooms := tx.Bucket(roomsBucket)
	states := make(map[string]*roomState)
	var order []*roomState

	load := func(id string) (*roomState, error) {
		if s, ok := states[id]; ok {
			return s, nil
		}
		v := rooms.Get([]byte(id))
		if v == nil {
			return nil, fmt.Errorf("store: room %q: %w", id, ErrRoomNotFound)
		}
		room, err := decodeRoom(id, v)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		rb, err := roomBuckets(tx, id)
		if err != nil {
			return nil, err
		}
		// The time of the room's last message is for readers; the
		// writer needs only where its sequence stands.
		last, _ := rb.log.Cursor().Last()
		room.LastSeq = lastSeqIn(last)
		s := &roomState{roomBucketSet: rb, room: room}
		states[id] = s
		order = append(order, s)
		out.touched = append(out.touched, id)
		return s, nil
	}

	for i, r := range batch {
		// A sender that already gave up would get ctx.Err() anyway;
		// skipping it saves the write.
		if r.ctx != nil {
			if err := r.ctx.Err(); err != nil {
				out.results[i].err = err
				continue
			}
		}
		if r.kind == opMarkers {
			out.live = append(out.live, r)
			for _, mk := range r.marks {
				s, err := load(mk.RoomID)
				if err != nil {
					continue // a room that is gone; see SetReadMarkers
				}
				if _, err := setMarker(s, mk.UserID, mk.Seq); err != nil {
					return out, err
				}
			}
			continue
		}
		s, err := load(r.roomID)
		if err != nil {
			out.results[i].err = err
			continue
		}
		switch r.kind {
		case opTouch:
			out.live = append(out.live, r)
			seen := r.part.LastSeen
			if seen.IsZero() {
				seen = now
			}
			s.touch(r.part.UserID, r.part.DisplayName, seen.UTC())
		case opMarker:
			seq, err := setMarker(s, r.part.UserID, r.seq)
			if err != nil {
				return out, err
			}
			out.results[i].seq = seq
			out.live = append(out.live, r)
		case opAppend:
			res, err := appendOne(s, r, now)
			if err != nil {
				return out, err
			}
			out.results[i] = res
			if res.err == nil && !res.dup {
				out.live = append(out.live, r)
				out.added = append(out.added, res.msg)
				if res.changed != nil {
					out.changed = append(out.changed, *res.changed)
				}
			}
		}
	}

	// In the same transaction as the messages, so a crash can never
	// leave a stored message whose transcript page nobody will write.
	if err := b.trackTranscripts(tx, out.added, out.changed, now); err != nil {
		return out, err
	}
	if len(out.changed) > 0 {
		if err := markScrub(tx); err != nil {
			return out, err
		}
	}
	for _, s := range order {
		if err := s.flush(rooms); err != nil {
			return out, err
		}
	}
	return out, nil
}

// commit applies batch to the open transaction, makes it durable, reports
// the added messages to OnCommit and then answers every request. Plain
// batches are made durable in the journal; a batch that edits or deletes
// goes to the file at once, with every journaled batch before it, so
// that the old text can be erased before the change is acknowledged. A
// failure fails the whole batch, and nothing of it stays: the open
// transaction is rebuilt from the journaled batches alone.
func (b *Bolt) commit(batch []*request) {
	now := b.opts.Now().UTC()
	out, err := b.commitBatch(batch, now)
	// Before anyone hears of the commit: a table rendered after an
	// Append returned must show it.
	b.previews.changed(out.touched...)
	if err != nil {
		err = fmt.Errorf("store: commit: %w", err)
		out.results = make([]result, len(batch))
		for i := range out.results {
			out.results[i] = result{err: err}
		}
		out.added, out.changed = nil, nil
	}
	results := out.results
	if len(out.added) > 0 && b.opts.OnCommit != nil {
		b.opts.OnCommit(out.added)
	}
	b.scrubPending = b.scrubPending || len(out.changed) > 0
	if b.scrubPending {
		if err := b.scrubAll(); err != nil {
			// The change is committed, but its old text may still be in
			// the file: its sender hears so, and so does a retry (a
			// duplicate by then) until a scrub succeeds.
			for i := range results {
				if results[i].err == nil && results[i].msg.Kind != KindMessage {
					results[i] = result{err: fmt.Errorf("store: %s committed as seq %d, but erasing the old text from the file failed: %w",
						results[i].msg.Kind, results[i].msg.Seq, err)}
				}
			}
		} else {
			b.scrubPending = false
		}
	}
	for i, r := range batch {
		r.done <- results[i]
	}
}

// commitBatch is commit's durable part.
func (b *Bolt) commitBatch(batch []*request, now time.Time) (applied, error) {
	// After a failed checkpoint no more is acknowledged until one
	// succeeds: the journal has room for more, but what it holds could
	// only be read through the writer (settle), and a disk that is full
	// now would be found full by the sender, who can retry.
	if b.stalled != nil {
		if err := b.checkpoint(); err != nil {
			return applied{}, err
		}
	}
	tx, err := b.begin()
	if err != nil {
		return applied{}, err
	}
	out, err := b.apply(tx, batch, now)
	if err != nil {
		if rerr := b.rebuild(); rerr != nil {
			err = fmt.Errorf("%w (and %w)", err, rerr)
		}
		return out, mapErr(err)
	}
	if len(out.changed) > 0 {
		if err := b.checkpoint(); err != nil {
			return out, err
		}
		return out, nil
	}
	if len(out.live) == 0 {
		if len(b.inTx) == 0 {
			_ = tx.Rollback() // nothing in it
			b.open = nil
		}
		return out, nil
	}
	if err := b.journal(out.live, now); err != nil {
		if rerr := b.rebuild(); rerr != nil {
			err = fmt.Errorf("%w (and %w)", err, rerr)
		} else if b.lsn != b.fileLSN+uint64(len(b.inTx)) {
			// A number spent on a failed write (journal) is recorded at
			// once: until then a crash could replay a record of this
			// batch, whose senders hear it was refused. If the disk
			// fails this too, the next batch tries again.
			_ = b.checkpoint()
		}
		return out, err
	}
	if b.jr.nearlyFull() {
		// The batch is durable in the journal and stays acknowledged
		// whatever this checkpoint does.
		b.timedCheckpoint()
	}
	return out, nil
}

// journal makes the applied requests of a batch durable: as a journal
// record, or with a checkpoint when the record does not fit.
func (b *Bolt) journal(live []*request, now time.Time) error {
	rec, err := b.jr.encode(b.lsn+1, now, live)
	if err != nil {
		return err
	}
	// The journal must hold, from its start, the batches after the
	// file's in an unbroken run: a replay stops at a gap. A number spent
	// on a failed write (below) breaks the run until a checkpoint has
	// recorded it. And a record must fit before the journal's end.
	if b.lsn != b.fileLSN+uint64(len(b.inTx)) || !b.jr.fits(len(rec)) {
		// The open transaction, which holds this batch too, goes to the
		// file, which is as durable. The batch then needs no record,
		// and the journal starts over.
		return b.checkpoint()
	}
	if err := b.jr.write(rec); err != nil {
		// The record may reach the disk all the same: a failed write or
		// flush does not say which of its pages did. So its number is
		// spent, and the next checkpoint records it as held, which
		// makes a replay skip the record if it is there.
		b.lsn++
		return err
	}
	b.lsn++
	reqs := make([]*request, len(live))
	for i, r := range live {
		c := *r
		c.ctx, c.done = nil, nil
		reqs[i] = &c
	}
	b.inTx = append(b.inTx, journalBatch{lsn: b.lsn, now: now, reqs: reqs})
	b.unsettled.Store(true)
	return nil
}

// appendOne adds one message to s inside the batch transaction. A returned
// error aborts the whole transaction; problems with this request alone go
// into the result instead.
func appendOne(s *roomState, r *request, now time.Time) (result, error) {
	m := r.msg
	if len(dedupeKey(m.UserID, m.ClientID)) > bolt.MaxKeySize {
		return result{err: fmt.Errorf("store: append to room %q: client id and user id together longer than %d bytes: %w",
			r.roomID, bolt.MaxKeySize, ErrInvalid)}, nil
	}
	// An empty client id opts out of deduplication (bbolt cannot store an
	// empty key, and "" would otherwise make all such sends one message).
	// Client ids are the sender's own, so a retry is the same client id
	// from the same user; another user's is a different message.
	if m.ClientID != "" {
		prev, found, err := dedupedMessage(s.roomBucketSet, r.roomID, m.UserID, m.ClientID)
		if err != nil {
			return result{err: err}, nil
		}
		if found {
			return result{msg: prev, dup: true}, nil
		}
	}

	var target *Message
	switch {
	case m.Kind.IsChange():
		t, err := checkChange(s, r)
		if err != nil {
			return result{err: err}, nil
		}
		target = &t
	case m.Kind != KindMessage:
		if err := checkEvent(r); err != nil {
			return result{err: err}, nil
		}
	case m.Reason != "" || m.Subject != "" || !m.Until.IsZero():
		return result{err: fmt.Errorf("store: append to room %q: a plain message names no reason or subject: %w", r.roomID, ErrInvalid)}, nil
	}

	msg := Message{
		RoomID:       r.roomID,
		Seq:          s.room.LastSeq + 1,
		ClientID:     m.ClientID,
		UserID:       m.UserID,
		UserName:     m.UserName,
		Text:         m.Text,
		HTML:         m.HTML,
		SentAt:       now,
		Kind:         m.Kind,
		Target:       m.Target,
		Reason:       m.Reason,
		Subject:      m.Subject,
		Mentions:     m.Mentions,
		MentionsRoom: m.MentionsRoom,
	}
	if !m.Until.IsZero() {
		msg.Until = m.Until.UTC()
	}
	if m.File != nil {
		f := *m.File
		f.UploadedAt, f.Seq = now, msg.Seq
		msg.File = &f
	}
	v, err := encodeMessage(&msg)
	if err != nil {
		return result{err: fmt.Errorf("store: %w", err)}, nil
	}
	k := seqKey(msg.Seq)
	if err := s.log.Put(k, v); err != nil {
		return result{}, fmt.Errorf("write message %d in room %q: %w", msg.Seq, r.roomID, err)
	}
	if m.ClientID != "" {
		if err := s.dedupe.Put(dedupeKey(m.UserID, m.ClientID), k); err != nil {
			return result{}, fmt.Errorf("write dedupe entry in room %q: %w", r.roomID, err)
		}
	}
	s.room.LastSeq = msg.Seq
	if msg.File != nil {
		if err := putFile(s.files, *msg.File); err != nil {
			return result{}, fmt.Errorf("room %q: %w", r.roomID, err)
		}
	}
	if target != nil {
		if err := applyChange(s, target, &msg); err != nil {
			return result{}, err
		}
	}
	if msg.Kind == KindTopic {
		s.room.Topic, s.room.TopicBy, s.room.TopicAt = msg.Text, msg.UserID, now
		s.dirty = true // the record holds the topic; the new seq is in the log
	}
	if m.UserID != "" {
		s.touch(m.UserID, m.UserName, now)
	}
	return result{msg: msg, changed: target}, nil
}

// checkChange validates an edit or delete before anything is written and
// returns its target. Everything applyChange will rewrite is read here, so
// a damaged record fails this request alone.
func checkChange(s *roomState, r *request) (Message, error) {
	m := r.msg
	what := fmt.Sprintf("store: %s of message %d in room %q", m.Kind, m.Target, r.roomID)
	switch {
	case m.Kind != KindEdit && m.Kind != KindDelete:
		return Message{}, fmt.Errorf("%s: unknown kind: %w", what, ErrInvalid)
	case m.File != nil:
		return Message{}, fmt.Errorf("%s: only plain messages announce files: %w", what, ErrInvalid)
	case m.Kind == KindDelete && (m.Text != "" || m.HTML != "" || len(m.Mentions) > 0 || m.MentionsRoom):
		return Message{}, fmt.Errorf("%s: a delete carries no text or mentions: %w", what, ErrInvalid)
	case m.Subject != "" || !m.Until.IsZero() || (m.Kind == KindEdit && m.Reason != ""):
		return Message{}, fmt.Errorf("%s: only a delete names a reason, and neither names a subject: %w", what, ErrInvalid)
	}
	k := seqKey(m.Target)
	v := s.log.Get(k)
	if m.Target == 0 || v == nil {
		return Message{}, fmt.Errorf("%s: %w", what, ErrMessageNotFound)
	}
	t, err := decodeMessage(r.roomID, k, v)
	if err != nil {
		return Message{}, err
	}
	switch {
	case t.Kind != KindMessage:
		return Message{}, fmt.Errorf("%s: it is a %s event, not a message: %w", what, t.Kind, ErrInvalid)
	case t.Erased:
		return Message{}, fmt.Errorf("%s: %w", what, ErrMessageDeleted)
	}
	if t.EditSeq != 0 {
		ek := seqKey(t.EditSeq)
		if _, err := decodeMessage(r.roomID, ek, s.log.Get(ek)); err != nil {
			return Message{}, fmt.Errorf("%s: its latest edit: %w", what, err)
		}
	}
	return t, nil
}

// checkEvent validates a topic or moderation event, which changes no
// earlier message.
func checkEvent(r *request) error {
	m := r.msg
	what := fmt.Sprintf("store: %s event in room %q", m.Kind, r.roomID)
	switch {
	case m.Kind != KindTopic && !m.Kind.IsModeration():
		return fmt.Errorf("%s: unknown kind: %w", what, ErrInvalid)
	case m.Target != 0 || m.File != nil:
		return fmt.Errorf("%s: it targets no message and announces no file: %w", what, ErrInvalid)
	case m.Kind == KindTopic && (m.Subject != "" || m.Reason != "" || !m.Until.IsZero()):
		return fmt.Errorf("%s: a topic names no subject or reason: %w", what, ErrInvalid)
	case m.Kind.IsModeration() && (m.Subject == "" || m.Text != "" || m.HTML != ""):
		return fmt.Errorf("%s: it names its subject and carries no text: %w", what, ErrInvalid)
	case m.Kind != KindBan && !m.Until.IsZero():
		return fmt.Errorf("%s: only a ban has an end: %w", what, ErrInvalid)
	}
	return nil
}

// applyChange makes event ev (already in the log) take effect on target,
// erasing the text it replaces, and leaves target as it is now stored.
func applyChange(s *roomState, target *Message, ev *Message) error {
	if target.EditSeq != 0 {
		// Its text is the version being replaced or deleted.
		k := seqKey(target.EditSeq)
		prev, err := decodeMessage(s.room.ID, k, s.log.Get(k))
		if err != nil {
			return err
		}
		prev.Text, prev.HTML, prev.Erased = "", "", true
		prev.Mentions, prev.MentionsRoom = nil, false
		if err := putMessage(s.log, &prev); err != nil {
			return err
		}
	}
	switch ev.Kind {
	case KindEdit:
		target.Text, target.HTML = ev.Text, ev.HTML
		target.Mentions, target.MentionsRoom = ev.Mentions, ev.MentionsRoom
		target.EditSeq, target.EditedAt = ev.Seq, ev.SentAt
	case KindDelete:
		if target.File != nil {
			if err := s.files.Delete(seqKey(target.Seq)); err != nil {
				return fmt.Errorf("room %q: remove file of message %d: %w", s.room.ID, target.Seq, err)
			}
		}
		target.Text, target.HTML, target.File, target.Erased = "", "", nil, true
		target.Mentions, target.MentionsRoom = nil, false
		target.DeleteSeq, target.DeletedBy = ev.Seq, ev.UserID
	}
	return putMessage(s.log, target)
}

// putMessage rewrites a message already in the log.
func putMessage(log *bolt.Bucket, m *Message) error {
	v, err := encodeMessage(m)
	if err != nil {
		return err
	}
	if err := log.Put(seqKey(m.Seq), v); err != nil {
		return fmt.Errorf("rewrite message %d in room %q: %w", m.Seq, m.RoomID, err)
	}
	return nil
}
