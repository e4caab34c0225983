package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagechat/pagechat/plugin/internal/store"
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
	msg    store.NewMessage
	part   store.Participant  // opTouch; opMarker uses its UserID
	seq    uint64             // opMarker
	marks  []store.ReadMarker // opMarkers
	done   chan result        // buffered (1): the writer never blocks on a sender that gave up
}

type result struct {
	msg store.Message
	dup bool
	seq uint64 // opMarker
	err error
}

func validUTF8(s string) bool { return utf8.ValidString(s) }

// Append hands m to the writer and waits for the commit. As with the bbolt
// store, a ctx that ends during the commit may leave the message stored;
// a retry with the same client id is deduplicated.
func (s *Store) Append(ctx context.Context, roomID string, m store.NewMessage) (store.Message, bool, error) {
	r, err := s.submit(ctx, &request{kind: opAppend, roomID: roomID, msg: m})
	if err != nil {
		return store.Message{}, false, err
	}
	return r.msg, r.dup, r.err
}

// TouchParticipant goes through the writer, sharing its commits.
func (s *Store) TouchParticipant(ctx context.Context, roomID string, p store.Participant) error {
	if p.UserID == "" {
		return fmt.Errorf("store: touch participant in room %q: empty user id: %w", roomID, store.ErrInvalid)
	}
	r, err := s.submit(ctx, &request{kind: opTouch, roomID: roomID, part: p})
	if err != nil {
		return err
	}
	return r.err
}

// SetReadMarker moves userID's marker forward to seq, capped at the room's
// last message.
func (s *Store) SetReadMarker(ctx context.Context, roomID, userID string, seq uint64) (uint64, error) {
	if err := checkKey("user id", userID); err != nil {
		return 0, fmt.Errorf("store: read marker in room %q: %w", roomID, err)
	}
	r, err := s.submit(ctx, &request{kind: opMarker, roomID: roomID, part: store.Participant{UserID: userID}, seq: seq})
	if err != nil {
		return 0, err
	}
	return r.seq, r.err
}

// SetReadMarkers applies markers in one commit of the writer (one
// transaction); markers of unknown rooms are skipped.
func (s *Store) SetReadMarkers(ctx context.Context, markers []store.ReadMarker) error {
	if len(markers) == 0 {
		return nil
	}
	for _, m := range markers {
		if err := checkKey("user id", m.UserID); err != nil {
			return fmt.Errorf("store: read marker in room %q: %w", m.RoomID, err)
		}
		if err := checkKey("room id", m.RoomID); err != nil {
			return fmt.Errorf("store: read marker: %w", err)
		}
	}
	r, err := s.submit(ctx, &request{kind: opMarkers, marks: markers})
	if err != nil {
		return err
	}
	return r.err
}

// submit queues r for the writer and waits for its commit.
func (s *Store) submit(ctx context.Context, r *request) (result, error) {
	if err := s.begin(ctx); err != nil {
		return result{}, err
	}
	r.ctx = ctx
	r.done = make(chan result, 1)
	return groupcommit.Submit(ctx, s.reqs, s.closing, store.ErrClosed, r, r.done)
}

// writer commits whatever is queued as soon as the previous commit
// returns (package groupcommit).
func (s *Store) writer() {
	defer close(s.stopped)
	groupcommit.Run(s.reqs, s.closing, maxBatch, s.commit)
}

// maxKnownDays bounds the room days the writer remembers as written (see
// trackTranscripts); past it, it starts over.
const maxKnownDays = 100_000

// commitTimeout bounds one batch transaction, so that a database that
// stops answering fails the senders instead of holding them.
const commitTimeout = 30 * time.Second

// commit applies batch in one transaction, hands the added messages to
// OnCommit and answers every request.
func (s *Store) commit(batch []*request) {
	results := make([]result, len(batch))
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	b := &batchState{s: s, reqs: batch, results: results}
	err := b.run(ctx)
	if err != nil {
		err = fmt.Errorf("store: commit: %w", s.mapErr(err))
		for i := range results {
			results[i] = result{err: err}
		}
		b.added = nil
	}
	if err == nil {
		if len(s.knownDays)+len(b.days) > maxKnownDays {
			clear(s.knownDays)
		}
		for _, d := range b.days {
			s.knownDays[d] = struct{}{}
		}
	}
	s.deliverLocal(b.added)
	for i, r := range batch {
		r.done <- results[i]
	}
}

// roomRow is a room locked for the batch.
type roomRow struct {
	lastSeq uint64
	dirty   bool
	// topicSet says a topic event of the batch set topic, topicBy and
	// topicAt, which the room row takes in the same commit.
	topicSet       bool
	topic, topicBy string
	topicAt        time.Time
}

// msgKey names a message by room and seq.
type msgKey struct {
	room string
	seq  uint64
}

// clientKey names a client id by room and sender.
type clientKey struct{ room, user, cid string }

// touchRec is a participant touched in the batch.
type touchRec struct {
	room, user, name string
	seen             time.Time
}

// batchState is one commit in the making.
type batchState struct {
	s       *Store
	reqs    []*request
	results []result
	now     time.Time

	rooms   map[string]*roomRow
	clients map[clientKey]store.Message
	targets map[msgKey]*store.Message // edit/delete targets as they are now, old or new
	newRows map[msgKey]*store.Message // messages this batch inserts, as they will be stored
	order   []*store.Message          // newRows in insert order
	updated map[msgKey]bool           // old rows to rewrite (targets, superseded edits)
	dropped []msgKey                  // files of deleted messages
	touched map[[2]string]*touchRec
	touches []*touchRec
	markers []int              // indexes of marker requests, in order
	marks   []store.ReadMarker // markers of batches (SetReadMarkers) in known rooms
	changed []store.Message
	added   []store.Message
	days    [][2]string // room days whose rows the batch writes
}

// run commits the batch in two pipelined round trips: BEGIN, the room
// locks and every read the batch needs; then, once the batch is worked
// out in memory, every write and COMMIT. A failure anywhere leaves the
// connection inside the transaction, and the pool discards such a
// connection on release, which rolls it back.
func (b *batchState) run(ctx context.Context) error {
	b.rooms = map[string]*roomRow{}
	b.clients = map[clientKey]store.Message{}
	b.targets = map[msgKey]*store.Message{}
	b.newRows = map[msgKey]*store.Message{}
	b.updated = map[msgKey]bool{}
	b.touched = map[[2]string]*touchRec{}

	// Lock the batch's rooms in id order, so batches on several nodes
	// wait for each other instead of deadlocking.
	var ids []string
	live := make([]bool, len(b.reqs))
	for i, r := range b.reqs {
		if err := r.ctx.Err(); err != nil {
			b.results[i].err = err
			continue
		}
		if err := b.validate(r); err != nil {
			b.results[i].err = err
			continue
		}
		live[i] = true
		if r.kind == opMarkers {
			for _, m := range r.marks {
				ids = append(ids, m.RoomID)
			}
			continue
		}
		ids = append(ids, r.roomID)
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return nil
	}
	// Earlier sends of the batch's client ids, and the targets of its
	// edits and deletes, read under the room locks.
	var cr, cu, cc, tr []string
	var tseq []int64
	for i, r := range b.reqs {
		if !live[i] || r.kind != opAppend {
			continue
		}
		if r.msg.ClientID != "" {
			cr, cu, cc = append(cr, r.roomID), append(cu, r.msg.UserID), append(cc, r.msg.ClientID)
		}
		if r.msg.Kind != store.KindMessage && r.msg.Target != 0 && r.msg.Target < 1<<63 {
			tr, tseq = append(tr, r.roomID), append(tseq, int64(r.msg.Target))
		}
	}

	conn, err := b.s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	q := &pgx.Batch{}
	q.Queue(`BEGIN`)
	q.Queue(`SELECT id, last_seq FROM pagechat.rooms WHERE id = ANY($1) ORDER BY id FOR UPDATE`, ids).Query(func(rows pgx.Rows) error {
		var (
			id  string
			seq int64
		)
		_, err := pgx.ForEachRow(rows, []any{&id, &seq}, func() error {
			b.rooms[id] = &roomRow{lastSeq: uint64(seq)}
			return nil
		})
		return err
	})
	if len(cr) > 0 {
		q.Queue(clientLookupSQL, cr, cu, cc).
			Query(func(rows pgx.Rows) error {
				msgs, err := collectMessages(rows)
				for _, m := range msgs {
					b.clients[clientKey{m.RoomID, m.UserID, m.ClientID}] = m
				}
				return err
			})
	}
	if len(tr) > 0 {
		q.Queue(targetLookupSQL, tr, tseq).
			Query(func(rows pgx.Rows) error {
				msgs, err := collectMessages(rows)
				for _, m := range msgs {
					b.targets[msgKey{m.RoomID, m.Seq}] = &m
				}
				return err
			})
	}
	if err := conn.SendBatch(ctx, q).Close(); err != nil {
		return err
	}
	// The commit time is read under the room locks, so that in each room
	// a later seq never has an earlier time, whichever node wrote it (as
	// far as the nodes' clocks agree).
	b.now = b.s.now()
	for i, r := range b.reqs {
		if live[i] && r.kind != opMarkers && b.rooms[r.roomID] == nil {
			b.results[i].err = fmt.Errorf("store: room %q: %w", r.roomID, store.ErrRoomNotFound)
			live[i] = false
		}
	}

	for i, r := range b.reqs {
		if !live[i] {
			continue
		}
		switch r.kind {
		case opTouch:
			seen := r.part.LastSeen
			if seen.IsZero() {
				seen = b.now
			}
			b.touch(r.roomID, r.part.UserID, r.part.DisplayName, seen.UTC().Truncate(time.Microsecond))
		case opMarker:
			b.markers = append(b.markers, i)
		case opMarkers:
			for _, m := range r.marks {
				if b.rooms[m.RoomID] != nil { // a stale report of a removed room is skipped
					b.marks = append(b.marks, m)
				}
			}
		case opAppend:
			b.results[i] = b.appendOne(r)
		}
	}
	return b.write(ctx, conn.Conn())
}

// The batch's lookups by client id and by seq are one index probe per
// key, written as LATERAL … LIMIT 1 so that the plan stays so whatever the
// table's statistics: a plain join of the table with unnest, prepared
// while the table is small or not yet analyzed, keeps a hash join over a
// scan of every message for the life of the connection (each commit then
// costs time in proportion to the whole log). Saying that the client id
// is not empty lets the partial unique index serve.
const (
	clientLookupSQL = `SELECT ` + msgCols + ` FROM unnest($1::text[], $2::text[], $3::text[]) AS k(r, u, c)
		CROSS JOIN LATERAL (SELECT * FROM pagechat.messages m
			WHERE m.room_id = k.r AND m.user_id = k.u AND m.client_id = k.c AND m.client_id <> '' LIMIT 1) m`
	targetLookupSQL = `SELECT ` + msgCols + ` FROM unnest($1::text[], $2::bigint[]) AS k(r, s)
		CROSS JOIN LATERAL (SELECT * FROM pagechat.messages m WHERE m.room_id = k.r AND m.seq = k.s LIMIT 1) m`
)

// validate refuses a request that the database would refuse, before the
// batch starts, so it fails alone.
func (b *batchState) validate(r *request) error {
	if r.kind == opMarkers {
		for _, m := range r.marks {
			if err := checkText("read marker", m.RoomID, m.UserID); err != nil {
				return fmt.Errorf("store: %w", err)
			}
		}
		return nil
	}
	if err := checkKey("room id", r.roomID); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	m := r.msg
	switch r.kind {
	case opTouch:
		return checkText("participant", r.part.UserID, r.part.DisplayName)
	case opMarker:
		return checkText("user id", r.part.UserID)
	}
	if err := checkText("message", append([]string{m.ClientID, m.UserID, m.UserName, m.Text, m.HTML, m.Reason, m.Subject}, m.Mentions...)...); err != nil {
		return fmt.Errorf("store: append to room %q: %w", r.roomID, err)
	}
	if f := m.File; f != nil {
		if err := checkText("file", f.ID, f.Name, f.URL, f.ContentType, f.UserID); err != nil {
			return fmt.Errorf("store: append to room %q: %w", r.roomID, err)
		}
	}
	return nil
}

// touch records that a user was seen; the last name given wins.
func (b *batchState) touch(room, user, name string, seen time.Time) {
	k := [2]string{room, user}
	t, ok := b.touched[k]
	if !ok {
		t = &touchRec{room: room, user: user}
		b.touched[k] = t
		b.touches = append(b.touches, t)
	}
	if name != "" {
		t.name = name
	}
	t.seen = seen
}

// appendOne assigns the next seq of the room to one message, or finds it a
// duplicate, or refuses it; nothing is written yet.
func (b *batchState) appendOne(r *request) result {
	m := r.msg
	ck := clientKey{r.roomID, m.UserID, m.ClientID}
	if m.ClientID != "" {
		if prev, ok := b.clients[ck]; ok {
			return result{msg: prev, dup: true}
		}
	}
	var target *store.Message
	switch {
	case m.Kind.IsChange():
		t, err := b.checkChange(r)
		if err != nil {
			return result{err: err}
		}
		target = t
	case m.Kind != store.KindMessage:
		if err := checkEvent(r); err != nil {
			return result{err: err}
		}
	case m.Reason != "" || m.Subject != "" || !m.Until.IsZero():
		return result{err: fmt.Errorf("store: append to room %q: a plain message names no reason or subject: %w", r.roomID, store.ErrInvalid)}
	}
	room := b.rooms[r.roomID]
	msg := store.Message{
		RoomID:   r.roomID,
		Seq:      room.lastSeq + 1,
		ClientID: m.ClientID,
		UserID:   m.UserID,
		UserName: m.UserName,
		Text:     m.Text,
		HTML:     m.HTML,
		SentAt:   b.now,
		Kind:     m.Kind,
		Target:   m.Target,
		Reason:   m.Reason,
		Subject:  m.Subject,
		// Copied: the caller's slice must not alias what the batch keeps.
		Mentions:     slices.Clone(m.Mentions),
		MentionsRoom: m.MentionsRoom,
	}
	if !m.Until.IsZero() {
		msg.Until = m.Until.UTC().Truncate(time.Microsecond)
	}
	if m.File != nil {
		f := *m.File
		f.UploadedAt, f.Seq = b.now, msg.Seq
		msg.File = &f
	}
	room.lastSeq, room.dirty = msg.Seq, true
	row := msg
	if row.File != nil {
		f := *row.File
		row.File = &f
	}
	k := msgKey{r.roomID, msg.Seq}
	b.newRows[k] = &row
	b.order = append(b.order, &row)
	if m.ClientID != "" {
		b.clients[ck] = msg
	}
	if target != nil {
		b.applyChange(target, &msg)
		b.changed = append(b.changed, *target)
	}
	if msg.Kind == store.KindTopic {
		room.topicSet, room.topic, room.topicBy, room.topicAt = true, msg.Text, msg.UserID, b.now
	}
	if m.UserID != "" {
		b.touch(r.roomID, m.UserID, m.UserName, b.now)
	}
	b.added = append(b.added, msg)
	return result{msg: msg}
}

// lookup returns the stored or batch version of a message, if known.
func (b *batchState) lookup(k msgKey) *store.Message {
	if m := b.newRows[k]; m != nil {
		return m
	}
	return b.targets[k]
}

func (b *batchState) checkChange(r *request) (*store.Message, error) {
	m := r.msg
	what := fmt.Sprintf("store: %s of message %d in room %q", m.Kind, m.Target, r.roomID)
	switch {
	case m.Kind != store.KindEdit && m.Kind != store.KindDelete:
		return nil, fmt.Errorf("%s: unknown kind: %w", what, store.ErrInvalid)
	case m.File != nil:
		return nil, fmt.Errorf("%s: only plain messages announce files: %w", what, store.ErrInvalid)
	case m.Kind == store.KindDelete && (m.Text != "" || m.HTML != "" || len(m.Mentions) > 0 || m.MentionsRoom):
		return nil, fmt.Errorf("%s: a delete carries no text or mentions: %w", what, store.ErrInvalid)
	case m.Subject != "" || !m.Until.IsZero() || (m.Kind == store.KindEdit && m.Reason != ""):
		return nil, fmt.Errorf("%s: only a delete names a reason, and neither names a subject: %w", what, store.ErrInvalid)
	}
	t := b.lookup(msgKey{r.roomID, m.Target})
	switch {
	case m.Target == 0 || t == nil:
		return nil, fmt.Errorf("%s: %w", what, store.ErrMessageNotFound)
	case t.Kind != store.KindMessage:
		return nil, fmt.Errorf("%s: it is a %s event, not a message: %w", what, t.Kind, store.ErrInvalid)
	case t.Erased:
		return nil, fmt.Errorf("%s: %w", what, store.ErrMessageDeleted)
	}
	return t, nil
}

// checkEvent validates a topic or moderation event, which changes no
// earlier message (the bbolt store's checkEvent).
func checkEvent(r *request) error {
	m := r.msg
	what := fmt.Sprintf("store: %s event in room %q", m.Kind, r.roomID)
	switch {
	case m.Kind != store.KindTopic && !m.Kind.IsModeration():
		return fmt.Errorf("%s: unknown kind: %w", what, store.ErrInvalid)
	case m.Target != 0 || m.File != nil:
		return fmt.Errorf("%s: it targets no message and announces no file: %w", what, store.ErrInvalid)
	case m.Kind == store.KindTopic && (m.Subject != "" || m.Reason != "" || !m.Until.IsZero()):
		return fmt.Errorf("%s: a topic names no subject or reason: %w", what, store.ErrInvalid)
	case m.Kind.IsModeration() && (m.Subject == "" || m.Text != "" || m.HTML != ""):
		return fmt.Errorf("%s: it names its subject and carries no text: %w", what, store.ErrInvalid)
	case m.Kind != store.KindBan && !m.Until.IsZero():
		return fmt.Errorf("%s: only a ban has an end: %w", what, store.ErrInvalid)
	}
	return nil
}

// applyChange makes event ev take effect on target (a pointer into the
// batch's state), erasing the text it replaces.
func (b *batchState) applyChange(target *store.Message, ev *store.Message) {
	room := target.RoomID
	if target.EditSeq != 0 {
		k := msgKey{room, target.EditSeq}
		if prev := b.newRows[k]; prev != nil {
			prev.Text, prev.HTML, prev.Erased = "", "", true
			prev.Mentions, prev.MentionsRoom = nil, false
		} else {
			b.updated[k] = true // erased by seq, below
			if prev := b.targets[k]; prev != nil {
				prev.Text, prev.HTML, prev.Erased = "", "", true
				prev.Mentions, prev.MentionsRoom = nil, false
			} else {
				b.targets[k] = &store.Message{RoomID: room, Seq: target.EditSeq, Kind: store.KindEdit, Erased: true}
			}
		}
	}
	switch ev.Kind {
	case store.KindEdit:
		target.Text, target.HTML = ev.Text, ev.HTML
		target.Mentions, target.MentionsRoom = slices.Clone(ev.Mentions), ev.MentionsRoom
		target.EditSeq, target.EditedAt = ev.Seq, ev.SentAt
	case store.KindDelete:
		if target.File != nil {
			b.dropped = append(b.dropped, msgKey{room, target.Seq})
		}
		target.Text, target.HTML, target.File, target.Erased = "", "", nil, true
		target.Mentions, target.MentionsRoom = nil, false
		target.DeleteSeq, target.DeletedBy = ev.Seq, ev.UserID
	}
	if b.newRows[msgKey{room, target.Seq}] == nil {
		b.updated[msgKey{room, target.Seq}] = true
	}
}

// pendingUpsert is the conflict clause that records a change to a room
// day whose transcript needs a write (the bbolt store's markPending).
const pendingUpsert = ` ON CONFLICT (room_id, day) DO UPDATE SET
	dirty_since = COALESCE(p.dirty_since, EXCLUDED.dirty_since),
	last_activity = EXCLUDED.last_activity,
	first_seq = CASE WHEN p.first_seq = 0 OR EXCLUDED.first_seq < p.first_seq THEN EXCLUDED.first_seq ELSE p.first_seq END,
	last_seq = GREATEST(p.last_seq, EXCLUDED.last_seq),
	version = EXCLUDED.version`

// markNeighboursSQL marks the activity days before and after $2 in room $1
// as changed at $3; their pages link to $2's. Extra conditions on the
// neighbour n are appended by the caller.
const markNeighboursSQL = `INSERT INTO pagechat.transcript_pending AS p (room_id, day, dirty_since, last_activity, first_seq, last_seq, version)
	SELECT n.room_id, n.day, $3, $3, n.first_seq, n.last_seq, nextval('pagechat.transcript_version') FROM (
		(SELECT * FROM pagechat.transcript_days WHERE room_id = $1 AND day < $2 ORDER BY day DESC LIMIT 1)
		UNION ALL
		(SELECT * FROM pagechat.transcript_days WHERE room_id = $1 AND day > $2 ORDER BY day LIMIT 1)
	) n WHERE true`

// write sends the batch's changes, COMMIT and the notification in one
// pipeline.
func (b *batchState) write(ctx context.Context, conn *pgx.Conn) error {
	q := &pgx.Batch{}
	if n := len(b.order); n > 0 {
		var (
			rooms, cids, users, names, texts, htmls = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
			files                                   = make([]*string, n)
			seqs, targets, edits                    = make([]int64, n), make([]int64, n), make([]int64, n)
			kinds                                   = make([]int16, n)
			edited, until                           = make([]*time.Time, n), make([]*time.Time, n)
			erased, mroom                           = make([]bool, n), make([]bool, n)
			reasons, subjects                       = make([]string, n), make([]string, n)
			mentions                                = make([]string, n) // text[] literals: unnest cannot take a ragged array
		)
		for i, m := range b.order {
			file, err := encodeFile(m.File)
			if err != nil {
				return err
			}
			if file != nil {
				f := string(file)
				files[i] = &f
			}
			if !m.EditedAt.IsZero() {
				e := m.EditedAt
				edited[i] = &e
			}
			if !m.Until.IsZero() {
				u := m.Until
				until[i] = &u
			}
			rooms[i], cids[i], users[i], names[i], texts[i], htmls[i] = m.RoomID, m.ClientID, m.UserID, m.UserName, m.Text, m.HTML
			seqs[i], targets[i], edits[i], kinds[i], erased[i] = int64(m.Seq), int64(m.Target), int64(m.EditSeq), int16(m.Kind), m.Erased
			reasons[i], subjects[i], mentions[i], mroom[i] = m.Reason, m.Subject, textArray(m.Mentions), m.MentionsRoom
		}
		q.Queue(`INSERT INTO pagechat.messages (room_id, seq, client_id, user_id, user_name, text, html, file, sent_at, kind, target, edit_seq, edited_at, erased,
				reason, subject, until, mentions, mentions_room)
			SELECT r, s, c, u, n, t, h, f::jsonb, $8, k, tg, e, ea, er, rs, sj, ut, mn::text[], mr
			FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $9::text[],
				$10::smallint[], $11::bigint[], $12::bigint[], $13::timestamptz[], $14::boolean[],
				$15::text[], $16::text[], $17::timestamptz[], $18::text[], $19::boolean[]) AS x(r, s, c, u, n, t, h, f, k, tg, e, ea, er, rs, sj, ut, mn, mr)`,
			rooms, seqs, cids, users, names, texts, htmls, b.now, files, kinds, targets, edits, edited, erased,
			reasons, subjects, until, mentions, mroom)
	}
	if n := len(b.touches); n > 0 {
		rooms, users, names, seen := make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
		for i, t := range b.touches {
			rooms[i], users[i], names[i], seen[i] = t.room, t.user, t.name, t.seen
		}
		// In first-touch order, so new participants rank in that order.
		q.Queue(`INSERT INTO pagechat.participants AS p (room_id, user_id, display_name, last_seen)
			SELECT r, u, n, s FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS x(r, u, n, s, o) ORDER BY o
			ON CONFLICT (room_id, user_id) DO UPDATE SET
				display_name = CASE WHEN EXCLUDED.display_name <> '' THEN EXCLUDED.display_name ELSE p.display_name END,
				last_seen = EXCLUDED.last_seen`, rooms, users, names, seen)
	}
	for k := range b.updated {
		m := b.targets[k]
		file, err := encodeFile(m.File)
		if err != nil {
			return err
		}
		var fileArg any
		if file != nil {
			fileArg = file
		}
		if m.Kind == store.KindEdit {
			q.Queue(`UPDATE pagechat.messages SET text = '', html = '', erased = true, mentions = '{}', mentions_room = false WHERE room_id = $1 AND seq = $2`, k.room, int64(k.seq))
			continue
		}
		q.Queue(`UPDATE pagechat.messages SET text = $3, html = $4, file = $5, edit_seq = $6, edited_at = $7, erased = $8,
				mentions = $9, mentions_room = $10, delete_seq = $11, deleted_by = $12 WHERE room_id = $1 AND seq = $2`,
			k.room, int64(k.seq), m.Text, m.HTML, fileArg, int64(m.EditSeq), ts(m.EditedAt), m.Erased,
			nonNil(m.Mentions), m.MentionsRoom, int64(m.DeleteSeq), m.DeletedBy)
	}
	for _, m := range b.order {
		if f := m.File; f != nil {
			q.Queue(`INSERT INTO pagechat.files (room_id, seq, id, name, url, content_type, size, user_id, uploaded_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				m.RoomID, int64(m.Seq), f.ID, f.Name, f.URL, f.ContentType, f.Size, f.UserID, f.UploadedAt)
		}
	}
	for _, k := range b.dropped {
		q.Queue(`DELETE FROM pagechat.files WHERE room_id = $1 AND seq = $2`, k.room, int64(k.seq))
	}
	for _, i := range b.markers {
		r := b.reqs[i]
		seq := min(r.seq, b.rooms[r.roomID].lastSeq, 1<<63-1)
		q.Queue(`INSERT INTO pagechat.read_markers (room_id, user_id, seq) VALUES ($1, $2, $3)
			ON CONFLICT (room_id, user_id) DO UPDATE SET seq = GREATEST(pagechat.read_markers.seq, EXCLUDED.seq)
			RETURNING seq`, r.roomID, r.part.UserID, int64(seq)).QueryRow(func(row pgx.Row) error {
			var stored int64
			if err := row.Scan(&stored); err != nil {
				return err
			}
			b.results[i].seq = uint64(stored)
			return nil
		})
	}
	for _, mk := range b.marks {
		seq := min(mk.Seq, b.rooms[mk.RoomID].lastSeq, 1<<63-1)
		q.Queue(`INSERT INTO pagechat.read_markers (room_id, user_id, seq) VALUES ($1, $2, $3)
			ON CONFLICT (room_id, user_id) DO UPDATE SET seq = GREATEST(pagechat.read_markers.seq, EXCLUDED.seq)`, mk.RoomID, mk.UserID, int64(seq))
	}
	b.trackTranscripts(q)
	var (
		dirty, notes []string
		lastSeqs     []int64
	)
	for id, room := range b.rooms {
		if room.topicSet {
			q.Queue(`UPDATE pagechat.rooms SET topic = $2, topic_by = $3, topic_at = $4 WHERE id = $1`, id, room.topic, room.topicBy, room.topicAt)
		}
		if room.dirty {
			dirty, lastSeqs = append(dirty, id), append(lastSeqs, int64(room.lastSeq))
			notes = append(notes, notifyPayload(id, room.lastSeq))
		}
	}
	if len(dirty) > 0 {
		q.Queue(`UPDATE pagechat.rooms AS r SET last_seq = x.s, last_activity = $3
			FROM unnest($1::text[], $2::bigint[]) AS x(id, s) WHERE r.id = x.id`, dirty, lastSeqs, b.now)
	}
	committed := false
	q.Queue(`COMMIT`).Exec(func(ct pgconn.CommandTag) error {
		committed = ct.String() == "COMMIT"
		return nil
	})
	if len(notes) > 0 {
		// The wake-up for the other nodes' followers goes right after the
		// commit, in a transaction of its own that does not wait for its
		// WAL flush. Not inside the batch's transaction: PostgreSQL holds
		// one server-wide lock from a notifying transaction's pre-commit
		// until its commit is flushed, so every notifying commit of every
		// node would take turns, each paying its own flush. A wake-up lost
		// here (a crash between the two) costs the followers one poll.
		// One statement: it runs in a transaction of its own, which
		// set_config(…, true) makes not wait for its flush.
		q.Queue(`SELECT set_config('synchronous_commit', 'off', true), pg_notify('pagechat', p) FROM unnest($1::text[]) AS p`, notes)
	}
	if len(b.order) > 0 {
		spans := make(map[string]seqSpan)
		for _, m := range b.order {
			sp, ok := spans[m.RoomID]
			if !ok {
				sp.first = m.Seq
			}
			sp.last = m.Seq
			spans[m.RoomID] = sp
		}
		b.s.startWriting(spans)
	}
	err := conn.SendBatch(ctx, q).Close()
	if err != nil && committed {
		// Only the wake-up failed: the batch is stored, and the senders
		// must hear so.
		return nil
	}
	return err
}

// trackTranscripts queues the bookkeeping of the days of the batch's
// messages and of the messages its edits and deletes changed.
func (b *batchState) trackTranscripts(q *pgx.Batch) {
	dayOf := b.s.opts.DayOf
	if dayOf == nil || len(b.added) == 0 {
		return
	}
	for _, m := range b.changed {
		day := dayOf(m.SentAt)
		if day == "" {
			continue
		}
		q.Queue(`INSERT INTO pagechat.transcript_pending AS p (room_id, day, dirty_since, last_activity, first_seq, last_seq, version)
			SELECT room_id, day, $3, $3, first_seq, last_seq, nextval('pagechat.transcript_version')
			FROM pagechat.transcript_days WHERE room_id = $1 AND day = $2`+pendingUpsert, m.RoomID, day, b.now)
	}
	type roomDay struct{ room, day string }
	type span struct{ first, last uint64 }
	spans := map[roomDay]*span{}
	var order []roomDay
	for _, m := range b.added {
		k := roomDay{m.RoomID, dayOf(m.SentAt)}
		if sp, ok := spans[k]; ok {
			sp.first, sp.last = min(sp.first, m.Seq), max(sp.last, m.Seq)
			continue
		}
		spans[k] = &span{m.Seq, m.Seq}
		order = append(order, k)
	}
	for _, k := range order {
		if k.day == "" {
			continue
		}
		sp := spans[k]
		// A day's first message changes its neighbours' links; the
		// check runs before the day's row exists. Days are never
		// deleted, so a day this node has written needs no check.
		day := [2]string{k.room, k.day}
		if _, known := b.s.knownDays[day]; !known {
			q.Queue(markNeighboursSQL+` AND NOT EXISTS (SELECT 1 FROM pagechat.transcript_days WHERE room_id = $1 AND day = $2)`+pendingUpsert,
				k.room, k.day, b.now)
		}
		b.days = append(b.days, day)
		q.Queue(`WITH d AS (
				INSERT INTO pagechat.transcript_days AS d (room_id, day, first_seq, last_seq) VALUES ($1, $2, $3, $4)
				ON CONFLICT (room_id, day) DO UPDATE SET first_seq = LEAST(d.first_seq, EXCLUDED.first_seq), last_seq = GREATEST(d.last_seq, EXCLUDED.last_seq)
				RETURNING first_seq, last_seq)
			INSERT INTO pagechat.transcript_pending AS p (room_id, day, dirty_since, last_activity, first_seq, last_seq, version)
			SELECT $1, $2, $5, $5, first_seq, last_seq, nextval('pagechat.transcript_version') FROM d`+pendingUpsert,
			k.room, k.day, int64(sp.first), int64(sp.last), b.now)
	}
}

// notifyPayload is the NOTIFY payload for a room's commit: its newest seq
// and its id, or empty (the follower then polls every room) for an id too
// long for PostgreSQL's 8000-byte limit.
func notifyPayload(roomID string, seq uint64) string {
	if len(roomID) >= 7900 {
		return pollAll
	}
	return strconv.FormatUint(seq, 10) + " " + roomID
}

// parsePayload reverses notifyPayload; ok is false for anything else.
func parsePayload(p string) (roomID string, seq uint64, ok bool) {
	n, room, found := strings.Cut(p, " ")
	if !found {
		return "", 0, false
	}
	seq, err := strconv.ParseUint(n, 10, 64)
	return room, seq, err == nil
}

// nonNil makes a nil list an empty text[] instead of NULL.
func nonNil(ss []string) []string {
	if ss == nil {
		return []string{}
	}
	return ss
}

// textArray writes ss as a PostgreSQL array literal, each element quoted,
// so that a list of lists travels as one text[] and is cast back per row.
func textArray(ss []string) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		for _, r := range s {
			if r == '"' || r == '\\' {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}
