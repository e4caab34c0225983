package pgstore

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagechat/pagechat/internal/pgcache"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// The notification state (store.Notifications) lives in the watches,
// judged, digests and outbox tables (schema version 2). The judged row of
// a room is also what keeps alerts to one per message across nodes: every
// node's OnCommit sees every message, but CommitNotifications moves the
// judged sequence only forward, under the row's lock, so when two nodes
// judge the same messages the second commit fails with
// store.ErrStaleJudgement and its alerts and digests are rolled back.

// SetWatch stores userID's watch choice in roomID; WatchDefault removes it.
func (s *Store) SetWatch(ctx context.Context, roomID, userID string, state store.WatchState) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := checkKey("room id", roomID); err != nil {
		return fmt.Errorf("store: watch: %w", err)
	}
	if err := checkKey("user id", userID); err != nil {
		return fmt.Errorf("store: watch: %w", err)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.roomExists(ctx, tx, roomID); err != nil {
			return err
		}
		var err error
		if state == store.WatchDefault {
			_, err = tx.Exec(ctx, `DELETE FROM pagechat.watches WHERE room_id = $1 AND user_id = $2`, roomID, userID)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO pagechat.watches (room_id, user_id, state) VALUES ($1, $2, $3)
				ON CONFLICT (room_id, user_id) DO UPDATE SET state = EXCLUDED.state`, roomID, userID, int16(state))
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, watchNotifySQL, roomID)
		return err
	})
	s.watches.Forget(roomID)
	if err != nil {
		return fmt.Errorf("store: watch of %q in room %q: %w", userID, roomID, s.mapErr(err))
	}
	return nil
}

// The notifier asks for a room's watches on every pass that judges it, so
// each node keeps them as it keeps bans (rooms.go): forgotten on the
// notification SetWatch sends on its transaction.

// watchChannel is the NOTIFY channel of watch changes; the payload is
// the room id.
const watchChannel = "pagechat_watches"

const watchNotifySQL = `SELECT pg_notify('` + watchChannel + `', $1)`

// Watches returns roomID's explicit watch choices by user id.
func (s *Store) Watches(ctx context.Context, roomID string) (map[string]store.WatchState, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if checkText("", roomID) != nil {
		return make(map[string]store.WatchState), nil
	}
	return pgcache.Read(s.watches, roomID, maps.Clone, func() (map[string]store.WatchState, error) {
		return s.readWatches(ctx, roomID)
	})
}

func (s *Store) readWatches(ctx context.Context, roomID string) (map[string]store.WatchState, error) {
	out := make(map[string]store.WatchState)
	rows, _ := s.pool.Query(ctx, `SELECT user_id, state FROM pagechat.watches WHERE room_id = $1`, roomID)
	var (
		user  string
		state int16
	)
	if _, err := pgx.ForEachRow(rows, []any{&user, &state}, func() error {
		if w := store.WatchState(state); w == store.WatchOn || w == store.WatchOff {
			out[user] = w
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: watches of room %q: %w", roomID, s.mapErr(err))
	}
	return out, nil
}

// JudgedSeq returns how far roomID's messages have been judged (0: none).
func (s *Store) JudgedSeq(ctx context.Context, roomID string) (uint64, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if checkText("", roomID) != nil {
		return 0, nil
	}
	var seq int64
	err := s.pool.QueryRow(ctx, `SELECT seq FROM pagechat.judged WHERE room_id = $1`, roomID).Scan(&seq)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("store: judged seq of room %q: %w", roomID, s.mapErr(err))
	}
	return uint64(seq), nil
}

// Unjudged lists the rooms whose last message is past their judged
// sequence, in room id order (byte order, as the bbolt store).
func (s *Store) Unjudged(ctx context.Context) ([]string, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT r.id FROM pagechat.rooms r LEFT JOIN pagechat.judged j ON j.room_id = r.id
		WHERE r.last_seq > COALESCE(j.seq, 0) ORDER BY r.id COLLATE "C"`)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: unjudged rooms: %w", s.mapErr(err))
	}
	return out, nil
}

// Digests returns roomID's digests, or every room's pending ones
// (Count > 0) if roomID is empty, in (room, user) byte order.
func (s *Store) Digests(ctx context.Context, roomID string) ([]store.Digest, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	var rows pgx.Rows
	if roomID == "" {
		rows, _ = s.pool.Query(ctx, digestSelect+`WHERE count > 0 ORDER BY room_id COLLATE "C", user_id COLLATE "C"`)
	} else {
		if checkText("", roomID) != nil {
			return nil, nil
		}
		rows, _ = s.pool.Query(ctx, digestSelect+`WHERE room_id = $1 ORDER BY user_id COLLATE "C"`, roomID)
	}
	return s.collectDigests(rows)
}

const digestSelect = `SELECT room_id, user_id, first_seq, last_seq, count, senders, last_alert FROM pagechat.digests `

// collectDigests reads the rows of a digestSelect query.
func (s *Store) collectDigests(rows pgx.Rows) ([]store.Digest, error) {
	var (
		out         []store.Digest
		d           store.Digest
		first, last int64
		count       int32
		alerted     *time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&d.RoomID, &d.UserID, &first, &last, &count, &d.Senders, &alerted}, func() error {
		d.FirstSeq, d.LastSeq, d.Count, d.LastAlert = uint64(first), uint64(last), int(count), fromTS(alerted)
		if len(d.Senders) == 0 {
			d.Senders = nil
		}
		out = append(out, d)
		d = store.Digest{}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: digests: %w", s.mapErr(err))
	}
	return out, nil
}

// AfterRooms reads, for each rooms[i], up to limit messages after
// after[i], in one query: the notifier's pass reads every busy room's new
// messages so instead of a round trip per room.
func (s *Store) AfterRooms(ctx context.Context, rooms []string, after []uint64, limit int) (map[string][]store.Message, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	msgs, err := s.afterMany(ctx, rooms, after, limit)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]store.Message, len(rooms))
	for _, m := range msgs {
		out[m.RoomID] = append(out[m.RoomID], m)
	}
	return out, nil
}

// DigestsOfRooms returns the digests of each of rooms, in one query, by
// room and in user id order.
func (s *Store) DigestsOfRooms(ctx context.Context, rooms []string) (map[string][]store.Digest, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	rows, _ := s.pool.Query(ctx, digestSelect+`WHERE room_id = ANY($1) ORDER BY room_id COLLATE "C", user_id COLLATE "C"`, rooms)
	all, err := s.collectDigests(rows)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]store.Digest, len(rooms))
	for _, d := range all {
		out[d.RoomID] = append(out[d.RoomID], d)
	}
	return out, nil
}

// CommitNotifications applies batches in one transaction. A judged
// sequence that does not move forward fails the whole call with
// store.ErrStaleJudgement: the messages were judged already, on this node
// or another, and only the first judgement counts.
func (s *Store) CommitNotifications(ctx context.Context, batches []store.NotifyBatch) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	for _, nb := range batches {
		if err := checkKey("room id", nb.RoomID); err != nil {
			return fmt.Errorf("store: notifications: %w", err)
		}
		for _, d := range nb.Digests {
			if err := checkKey("user id", d.UserID); err != nil {
				return fmt.Errorf("store: digest: %w", err)
			}
			if err := checkText("digest", d.Senders...); err != nil {
				return fmt.Errorf("store: digest: %w", err)
			}
		}
		for _, a := range nb.Alerts {
			if err := checkKey("alert id", a.ID); err != nil {
				return fmt.Errorf("store: alert %q: bad id: %w", a.ID, store.ErrInvalid)
			}
			if err := checkText("alert", a.UserID, a.Kind, a.Subject, a.Body, a.URL); err != nil {
				return fmt.Errorf("store: alert %q: %w", a.ID, err)
			}
		}
	}
	// Two pipelined round trips for the whole transaction, as the
	// writer's: the judged sequences first, checked here, then the rest
	// and COMMIT. A pass judges every busy room at once, and a statement
	// each took a round trip each while the judged rows stayed locked.
	claim, rest := &pgx.Batch{}, &pgx.Batch{}
	claim.Queue(`BEGIN`)
	var stale error
	for _, nb := range batches {
		if nb.JudgedSeq != 0 {
			if nb.JudgedSeq >= 1<<63 {
				return fmt.Errorf("store: commit notifications: room %q: judged seq %d out of range: %w", nb.RoomID, nb.JudgedSeq, store.ErrInvalid)
			}
			// Moves only forward; the upsert waits for a concurrent
			// judgement of the same room and then sees its result.
			claim.Queue(`INSERT INTO pagechat.judged AS j (room_id, seq) VALUES ($1, $2)
				ON CONFLICT (room_id) DO UPDATE SET seq = EXCLUDED.seq WHERE j.seq < EXCLUDED.seq`, nb.RoomID, int64(nb.JudgedSeq)).
				Exec(func(tag pgconn.CommandTag) error {
					if tag.RowsAffected() == 0 && stale == nil {
						stale = fmt.Errorf("store: commit notifications: room %q already judged to %d or beyond: %w", nb.RoomID, nb.JudgedSeq, store.ErrStaleJudgement)
					}
					return nil
				})
		}
		for _, d := range nb.Digests {
			var alerted *time.Time
			if !d.LastAlert.IsZero() {
				a := d.LastAlert.UTC()
				alerted = &a
			}
			rest.Queue(`INSERT INTO pagechat.digests (room_id, user_id, first_seq, last_seq, count, senders, last_alert)
				VALUES ($1, $2, $3, $4, $5, $6, $7)
				ON CONFLICT (room_id, user_id) DO UPDATE SET first_seq = EXCLUDED.first_seq, last_seq = EXCLUDED.last_seq,
					count = EXCLUDED.count, senders = EXCLUDED.senders, last_alert = EXCLUDED.last_alert`,
				nb.RoomID, d.UserID, int64(d.FirstSeq), int64(d.LastSeq), int32(d.Count), nonNil(d.Senders), alerted)
		}
		for _, a := range nb.Alerts {
			// The id makes a repeated alert the same alert.
			rest.Queue(`INSERT INTO pagechat.outbox (id, room_id, user_id, kind, seq, subject, body, url, created, tries, next_try)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
				a.ID, nb.RoomID, a.UserID, a.Kind, int64(a.Seq), a.Subject, a.Body, a.URL, a.Created.UTC(), a.Tries, ts(a.NextTry))
		}
	}
	rest.Queue(`COMMIT`)
	conn, err := s.pool.Acquire(ctx)
	if err == nil {
		// A failure, or a stale judgement, leaves the connection inside
		// the transaction, and the pool discards such a connection on
		// release, which rolls it back.
		if err = conn.SendBatch(ctx, claim).Close(); err == nil {
			if stale != nil {
				conn.Release()
				return stale
			}
			err = conn.SendBatch(ctx, rest).Close()
		}
		conn.Release()
	}
	if err != nil {
		return fmt.Errorf("store: commit notifications: %w", s.mapErr(err))
	}
	return nil
}

const alertCols = `id, room_id, user_id, kind, seq, subject, body, url, created, tries, next_try`

// Outbox returns up to limit undelivered alerts, oldest first.
func (s *Store) Outbox(ctx context.Context, limit int) ([]store.Alert, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if limit <= 0 {
		limit = store.DefaultPageLimit
	}
	rows, _ := s.pool.Query(ctx, `SELECT `+alertCols+` FROM pagechat.outbox ORDER BY created, id COLLATE "C" LIMIT $1`, limit)
	var (
		out   []store.Alert
		a     store.Alert
		seq   int64
		tries int32
		next  *time.Time
	)
	if _, err := pgx.ForEachRow(rows, []any{&a.ID, &a.RoomID, &a.UserID, &a.Kind, &seq, &a.Subject, &a.Body, &a.URL, &a.Created, &tries, &next}, func() error {
		a.Seq, a.Tries, a.Created, a.NextTry = uint64(seq), int(tries), a.Created.UTC(), fromTS(next)
		out = append(out, a)
		a = store.Alert{}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: outbox: %w", s.mapErr(err))
	}
	return out, nil
}

// AlertDone removes an alert; an unknown id is not an error.
func (s *Store) AlertDone(ctx context.Context, id string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if checkText("", id) != nil {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM pagechat.outbox WHERE id = $1`, id); err != nil {
		return fmt.Errorf("store: alert %q done: %w", id, s.mapErr(err))
	}
	return nil
}

// AlertFailed counts a failed delivery and stores when to retry; it
// returns the failures so far (0 for an unknown id).
func (s *Store) AlertFailed(ctx context.Context, id string, nextTry time.Time) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	if checkText("", id) != nil {
		return 0, nil
	}
	var tries int32
	err := s.pool.QueryRow(ctx, `UPDATE pagechat.outbox SET tries = tries + 1, next_try = $2 WHERE id = $1 RETURNING tries`, id, ts(nextTry)).Scan(&tries)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, fmt.Errorf("store: alert %q failed: %w", id, s.mapErr(err))
	}
	return int(tries), nil
}
