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
// SetReadMarker. It commits whatever is queued as soon as the previous
// commit returns (package groupcommit), instead of waiting for more work
// like DB.Batch does.
func (b *Bolt) writer() {
	defer close(b.stopped)
	groupcommit.Run(b.reqs, b.closing, maxBatch, b.commit)
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

// commit applies batch in one transaction, reports the added messages to
// OnCommit and then answers every request. Per-request problems (unknown
// room, bad client id) fail only that request and are detected before it
// writes anything; a failing transaction fails them all, and since bbolt
// rolls it back nothing of it is visible.
func (b *Bolt) commit(batch []*request) {
	results := make([]result, len(batch))
	var added, changed []Message
	now := b.opts.Now().UTC()

	var touched []string // the rooms this commit may have changed
	err := b.db.Update(func(tx *bolt.Tx) error {
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
			touched = append(touched, id)
			return s, nil
		}

		for i, r := range batch {
			// A sender that already gave up would get ctx.Err() anyway;
			// skipping it saves the write.
			if err := r.ctx.Err(); err != nil {
				results[i].err = err
				continue
			}
			if r.kind == opMarkers {
				for _, mk := range r.marks {
					s, err := load(mk.RoomID)
					if err != nil {
						continue // a room that is gone; see SetReadMarkers
					}
					if _, err := setMarker(s, mk.UserID, mk.Seq); err != nil {
						return err
					}
				}
				continue
			}
			s, err := load(r.roomID)
			if err != nil {
				results[i].err = err
				continue
			}
			switch r.kind {
			case opTouch:
				seen := r.part.LastSeen
				if seen.IsZero() {
					seen = now
				}
				s.touch(r.part.UserID, r.part.DisplayName, seen.UTC())
			case opMarker:
				seq, err := setMarker(s, r.part.UserID, r.seq)
				if err != nil {
					return err
				}
				results[i].seq = seq
			case opAppend:
				res, err := appendOne(s, r, now)
				if err != nil {
					return err
				}
				results[i] = res
				if res.err == nil && !res.dup {
					added = append(added, res.msg)
					if res.changed != nil {
						changed = append(changed, *res.changed)
					}
				}
			}
		}

		// In the same transaction as the messages, so a crash can never
		// leave a stored message whose transcript page nobody will write.
		if err := b.trackTranscripts(tx, added, changed, now); err != nil {
			return err
		}
		if len(changed) > 0 {
			if err := markScrub(tx); err != nil {
				return err
			}
		}

		for _, s := range order {
			if err := s.flush(rooms); err != nil {
				return err
			}
		}
		return nil
	})
	// Before anyone hears of the commit: a table rendered after an
	// Append returned must show it.
	b.previews.changed(touched...)
	if err != nil {
		err = fmt.Errorf("store: commit: %w", mapErr(err))
		for i := range results {
			results[i] = result{err: err}
		}
		added, changed = nil, nil
	}
	if len(added) > 0 && b.opts.OnCommit != nil {
		b.opts.OnCommit(added)
	}
	b.scrubPending = b.scrubPending || len(changed) > 0
	if b.scrubPending {
		if err := b.scrub(); err != nil {
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
