package pgstore

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagechat/pagechat/internal/pgcache"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// The follower brings other nodes' messages to this node's OnCommit.
//
// A listener goroutine holds a connection of its own in LISTEN pagechat
// and forwards each notification's room id; the follower then reads that
// room's messages after the last one delivered here, by sequence, from the
// table. Every PollInterval, and after the listener reconnects, it compares
// every room's last_seq with what it delivered, so a notification lost
// with a dropped connection delays messages by one poll at most. Both
// goroutines are owned by the store and stop with Close.

const (
	// followPage is how many messages one catch-up read returns.
	followPage = 256
	// maxGapFill bounds how far the writer reads back to fill a gap
	// before one of its own commits (other nodes' messages the follower
	// has not delivered yet); a longer gap is left to the streams, which
	// fill holes from the table themselves.
	maxGapFill = 1024
	// listenBackoffMax caps the wait between reconnects of the listener.
	listenBackoffMax = 5 * time.Second
	// wakeBuffer is how many notifications wait for the follower; when
	// it is full the follower polls every room instead.
	wakeBuffer = 256
	// followRooms is how many rooms one catch-up read covers.
	followRooms = 64
)

// ListenerName is the application_name of a node's LISTEN connection in
// pg_stat_activity.
const ListenerName = "pagechat-listen"

// pollAll is the wake-up that asks for a look at every room.
const pollAll = ""

// initDelivered starts every room's delivery at its current end.
func (s *Store) initDelivered(ctx context.Context) error {
	rows, _ := s.pool.Query(ctx, `SELECT id, last_seq FROM pagechat.rooms`)
	var (
		id  string
		seq int64
	)
	_, err := pgx.ForEachRow(rows, []any{&id, &seq}, func() error {
		s.delivered[id] = uint64(seq)
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: read rooms: %w", s.mapErr(err))
	}
	return nil
}

func (s *Store) follow() {
	defer close(s.follows)
	ctx, cancel := context.WithCancel(context.Background())
	// Close must not wait for a read from a database that hangs.
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	wake := make(chan string, wakeBuffer)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		s.listen(ctx, wake)
	}()
	defer func() {
		cancel()
		<-listening
	}()
	tick := time.NewTicker(s.opts.PollInterval)
	defer tick.Stop()
	for {
		var room string
		select {
		case <-s.closing:
			return
		case <-tick.C:
			room = pollAll
		case room = <-wake:
		}
		// Whatever else is queued by now is read in the same round
		// trip: another node's commit notifies once per room it wrote.
		wakes := []string{room}
	drain:
		for len(wakes) < wakeBuffer {
			select {
			case r := <-wake:
				wakes = append(wakes, r)
			default:
				break drain
			}
		}
		if err := s.catchUp(ctx, wakes); err != nil && !s.isClosed() {
			// The next poll tries again; nothing is lost meanwhile.
			continue
		}
	}
}

// listen keeps a LISTEN connection open and forwards notifications until
// ctx ends, reconnecting with backoff.
func (s *Store) listen(ctx context.Context, wake chan<- string) {
	forward := func(room string) {
		select {
		case wake <- room:
		default:
			select { // full: a poll of every room covers what is queued
			case wake <- pollAll:
			default:
			}
		}
	}
	pgcache.Listen(ctx, pgcache.Listener{
		Config:   s.pool.Config().ConnConfig,
		Name:     ListenerName,
		Channels: []string{"pagechat", banChannel, watchChannel},
		Up: func() {
			s.bans.SetLive(true)
			s.watches.SetLive(true)
			forward(pollAll) // what was missed while not listening
		},
		Down: func() {
			s.bans.SetLive(false)
			s.watches.SetLive(false)
		},
		Note: func(n *pgconn.Notification) {
			switch n.Channel {
			case banChannel:
				s.bans.Forget(n.Payload)
			case watchChannel:
				s.watches.Forget(n.Payload)
			default:
				forward(n.Payload)
			}
		},
		MaxBackoff: listenBackoffMax,
	})
}

// catchUp delivers what other nodes committed in the rooms the wake-ups
// name, or, if one of them is pollAll or unreadable, in every room whose
// last_seq is ahead of what this node delivered.
func (s *Store) catchUp(ctx context.Context, wakes []string) error {
	var rooms []string
	all := false
	s.deliverMu.Lock()
	for _, w := range wakes {
		id, seq, ok := parsePayload(w)
		if !ok {
			all = true
			break
		}
		if seq > s.delivered[id] && !slices.Contains(rooms, id) { // else this node's own commit, or read already
			rooms = append(rooms, id)
		}
	}
	s.deliverMu.Unlock()
	if all {
		rooms = rooms[:0]
		rows, _ := s.pool.Query(ctx, `SELECT id, last_seq FROM pagechat.rooms`)
		var (
			id  string
			seq int64
		)
		s.deliverMu.Lock()
		_, err := pgx.ForEachRow(rows, []any{&id, &seq}, func() error {
			if uint64(seq) > s.delivered[id] {
				rooms = append(rooms, id)
			}
			return nil
		})
		s.deliverMu.Unlock()
		if err != nil {
			return err
		}
	}
	for len(rooms) > 0 {
		n := min(len(rooms), followRooms)
		if err := s.catchUpRooms(ctx, rooms[:n]); err != nil {
			return err
		}
		rooms = rooms[n:]
	}
	return nil
}

// followManySQL reads, for each room k.r, up to $3 messages after k.s.
// The LATERAL form keeps each room an index range scan, whatever the
// table's statistics (see clientLookupSQL).
const followManySQL = `SELECT ` + msgCols + ` FROM unnest($1::text[], $2::bigint[]) AS k(r, s)
	CROSS JOIN LATERAL (SELECT * FROM pagechat.messages m WHERE m.room_id = k.r AND m.seq > k.s ORDER BY m.seq LIMIT $3) m`

// afterMany reads, for each rooms[i], up to limit messages after
// from[i], with one query, in room and then seq order.
func (s *Store) afterMany(ctx context.Context, rooms []string, from []uint64, limit int) ([]store.Message, error) {
	after := make([]int64, len(from))
	for i, f := range from {
		after[i] = int64(min(f, 1<<63-1))
	}
	rows, err := s.pool.Query(ctx, followManySQL, rooms, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read rooms: %w", s.mapErr(err))
	}
	msgs, err := collectMessages(rows)
	if err != nil {
		return nil, fmt.Errorf("store: read rooms: %w", s.mapErr(err))
	}
	slices.SortStableFunc(msgs, func(a, b store.Message) int {
		if c := strings.Compare(a.RoomID, b.RoomID); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	return msgs, nil
}

// catchUpRooms delivers the rooms' messages after the last delivered ones
// with one read for all of them (a page each; a room with more goes on
// alone), holding deliverMu as catchUpRoom does.
func (s *Store) catchUpRooms(ctx context.Context, rooms []string) error {
	if len(rooms) == 1 {
		return s.catchUpRoom(ctx, rooms[0], 0)
	}
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	from := make([]uint64, len(rooms))
	for i, r := range rooms {
		from[i] = s.delivered[r]
	}
	msgs, err := s.afterMany(ctx, rooms, from, followPage)
	if err != nil {
		return err
	}
	var full []string
	count := 0
	for i, m := range msgs {
		s.delivered[m.RoomID] = m.Seq
		count++
		if i+1 == len(msgs) || msgs[i+1].RoomID != m.RoomID {
			if count == followPage {
				full = append(full, m.RoomID)
			}
			count = 0
		}
	}
	if len(msgs) > 0 {
		s.followed(msgs)
	}
	for _, r := range full {
		if err := s.fillLocked(ctx, r, 0, 0); err != nil {
			return err
		}
	}
	return nil
}

// catchUpRoom delivers room's messages after the last delivered one, up
// to and including upTo (0: all), in pages. It holds deliverMu, so the
// writer's own deliveries wait and every room's order holds.
func (s *Store) catchUpRoom(ctx context.Context, room string, upTo uint64) error {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	return s.fillLocked(ctx, room, upTo, 0)
}

// fillLocked reads and delivers room's undelivered messages up to upTo (0:
// all), stopping after limit messages (0: no limit). deliverMu is held.
func (s *Store) fillLocked(ctx context.Context, room string, upTo uint64, limit int) error {
	n := 0
	for {
		from := s.delivered[room]
		if upTo != 0 && from >= upTo {
			return nil
		}
		msgs, err := s.after(ctx, room, from, followPage)
		if err != nil {
			return err
		}
		if upTo != 0 {
			for i, m := range msgs {
				if m.Seq > upTo {
					msgs = msgs[:i]
					break
				}
			}
		}
		if len(msgs) == 0 {
			return nil
		}
		s.delivered[room] = msgs[len(msgs)-1].Seq
		s.followed(msgs)
		n += len(msgs)
		if len(msgs) < followPage || (limit > 0 && n >= limit) {
			return nil
		}
	}
}

// seqSpan is the seqs first through last of one room.
type seqSpan struct{ first, last uint64 }

// followed hands on messages the follower read: other nodes' to OnFollow,
// else OnCommit, and this node's to OnCommit. The follower reads this
// node's own messages when it gets to a room after the writer's commit
// but before the writer has handed them on (its own wake-up comes back at
// once); they are still this node's to judge. deliverMu is held.
func (s *Store) followed(msgs []store.Message) {
	if s.opts.OnFollow == nil {
		if s.opts.OnCommit != nil {
			s.opts.OnCommit(msgs)
		}
		return
	}
	// Runs of the same origin, handed on in order.
	for len(msgs) > 0 {
		own := s.ownLocked(msgs[0])
		n := 1
		for n < len(msgs) && s.ownLocked(msgs[n]) == own {
			n++
		}
		switch {
		case !own:
			s.opts.OnFollow(msgs[:n])
		case s.opts.OnCommit != nil:
			s.opts.OnCommit(msgs[:n])
		}
		msgs = msgs[n:]
	}
}

// ownLocked says whether m is of the writer's commit in flight.
func (s *Store) ownLocked(m store.Message) bool {
	w, ok := s.writing[m.RoomID]
	return ok && m.Seq >= w.first && m.Seq <= w.last
}

// startWriting records the seqs of a commit about to be sent, before it
// is, so that the follower knows them as this node's.
func (s *Store) startWriting(spans map[string]seqSpan) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	maps.Copy(s.writing, spans)
}

// deliverLocal hands this node's commit to OnCommit. Messages the follower
// delivered already are skipped; other nodes' messages before them that
// it has not delivered yet are read and delivered first, so OnCommit sees
// every room gapless and in order. The writer calls it after every
// commit, stored or not, as the end of the commit's seqs in flight.
func (s *Store) deliverLocal(msgs []store.Message) {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	clear(s.writing)
	if len(msgs) == 0 {
		return
	}
	out := msgs[:0:0]
	for _, m := range msgs {
		last := s.delivered[m.RoomID]
		if m.Seq <= last {
			continue
		}
		if m.Seq > last+1 {
			// A failed read only leaves the gap to the streams.
			if len(out) > 0 && s.opts.OnCommit != nil {
				s.opts.OnCommit(out)
				out = msgs[:0:0]
			}
			ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
			_ = s.fillLocked(ctx, m.RoomID, m.Seq-1, maxGapFill)
			cancel()
			if m.Seq <= s.delivered[m.RoomID] {
				continue
			}
		}
		s.delivered[m.RoomID] = m.Seq
		out = append(out, m)
	}
	if len(out) > 0 && s.opts.OnCommit != nil {
		s.opts.OnCommit(out)
	}
}
