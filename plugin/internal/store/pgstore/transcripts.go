package pgstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

// Transcript leases: exactly one node writes a room's transcript pages.
// PendingTranscripts takes (or renews) the lease of every room with
// pending entries whose lease is free, expired or already this node's, in
// one statement, so two nodes asking at once cannot both win a room. The
// entries of rooms another node holds come back with NextTry at the
// lease's end: the transcript writer then looks again when a dead node's
// lease runs out and takes the room over. Lease times are the database's
// clock, shared by every node, not the store's (test) clock.
//
// A node whose write of a room's page fails (its host refuses it, say)
// must not keep the room: it would renew the lease on every look while
// each retry fails, and no other node would ever write that room's pages.
// So TranscriptFailed lets the lease lapse at once and marks it as given
// up by this node (holder releasedPrefix + node): any other node takes it
// on its next look, within a second while it has pending days, and retries
// when the backoff the failure recorded ends. The node that failed may
// take it back only after sitting out one lease term, so a lone node, or
// one whose peers all fail too, still retries; nodes that all fail take
// turns, each failure counted in the shared backoff.

// releasedPrefix marks a lease given up after a failed write. Open
// refuses node ids that start with it, so a marked holder never equals a
// live node's id.
const releasedPrefix = "!released:"

// leaseTakeSQL takes or renews, for node $1 and a lease of $2 µs, the lease
// of every room with pending days that is free, this node's own, expired
// (another node's), or given up by this node a full term ago.
const leaseTakeSQL = `INSERT INTO pagechat.transcript_leases AS l (room_id, holder, expires_at)
	SELECT room_id, $1, clock_timestamp() + make_interval(secs => $2::double precision / 1e6)
	FROM (SELECT DISTINCT room_id FROM pagechat.transcript_pending) r
	ON CONFLICT (room_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
	WHERE CASE l.holder
		WHEN EXCLUDED.holder THEN true
		WHEN '` + releasedPrefix + `' || EXCLUDED.holder THEN l.expires_at + make_interval(secs => $2::double precision / 1e6) < clock_timestamp()
		ELSE l.expires_at < clock_timestamp() END`

// PendingTranscripts returns the room days whose transcript page needs a
// write, by room id and then date.
func (s *Store) PendingTranscripts(ctx context.Context) ([]store.PendingTranscript, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	ttl := s.opts.LeaseTTL.Microseconds()
	var out []store.PendingTranscript
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, leaseTakeSQL, s.node, ttl); err != nil {
			return fmt.Errorf("take transcript leases: %w", err)
		}
		rows, _ := tx.Query(ctx, `SELECT p.room_id, p.day, p.first_seq, p.last_seq, p.dirty_since, p.last_activity, p.version,
				p.attempts, p.next_try, p.finalize_at, CASE l.holder WHEN $1 THEN NULL
					WHEN '`+releasedPrefix+`' || $1 THEN l.expires_at + make_interval(secs => $2::double precision / 1e6)
					ELSE l.expires_at END
			FROM pagechat.transcript_pending p LEFT JOIN pagechat.transcript_leases l ON l.room_id = p.room_id
			ORDER BY p.room_id COLLATE "C", p.day COLLATE "C"`, s.node, ttl)
		var err error
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.PendingTranscript, error) {
			var (
				p                                 store.PendingTranscript
				first, last, version              int64
				dirty, lastAct, next, fin, leased *time.Time
			)
			err := row.Scan(&p.RoomID, &p.Date, &first, &last, &dirty, &lastAct, &version, &p.Attempts, &next, &fin, &leased)
			p.FirstSeq, p.LastSeq, p.Version = uint64(first), uint64(last), uint64(version)
			p.DirtySince, p.LastActivity, p.NextTry, p.FinalizeAt = fromTS(dirty), fromTS(lastAct), fromTS(next), fromTS(fin)
			if leased != nil && leased.After(p.NextTry) {
				// Another node writes this room until its lease ends.
				p.NextTry = leased.UTC()
			}
			return p, err
		})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending transcripts: %w", s.mapErr(err))
	}
	return out, nil
}

// TranscriptDays returns the days on which roomID had messages.
func (s *Store) TranscriptDays(ctx context.Context, roomID string) ([]store.TranscriptDay, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := s.roomExists(ctx, s.pool, roomID); err != nil {
		return nil, fmt.Errorf("store: transcript days: %w", s.mapErr(err))
	}
	rows, _ := s.pool.Query(ctx, `SELECT day, first_seq, last_seq FROM pagechat.transcript_days WHERE room_id = $1 ORDER BY day COLLATE "C"`, roomID)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (store.TranscriptDay, error) {
		var (
			d           store.TranscriptDay
			first, last int64
		)
		err := row.Scan(&d.Date, &first, &last)
		d.FirstSeq, d.LastSeq = uint64(first), uint64(last)
		return d, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: transcript days: %w", s.mapErr(err))
	}
	if len(out) == 0 {
		out = nil
	}
	return out, nil
}

// TranscriptWritten records a finished write and resolves the pending entry
// if it did not change since w.Version, as the bbolt store does.
func (s *Store) TranscriptWritten(ctx context.Context, w store.TranscriptWrite) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	now := s.now()
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The room's lock orders this after the batches that append to it.
		var one int
		err := tx.QueryRow(ctx, `SELECT 1 FROM pagechat.rooms WHERE id = $1 FOR UPDATE`, w.RoomID).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("room %q: %w", w.RoomID, store.ErrRoomNotFound)
		}
		if err != nil {
			return err
		}
		moved := false
		if p := w.Page; p != nil {
			var oldURL string
			err := tx.QueryRow(ctx, `SELECT url FROM pagechat.transcripts WHERE room_id = $1 AND date = $2`, w.RoomID, w.Date).Scan(&oldURL)
			switch {
			case errors.Is(err, pgx.ErrNoRows):
				moved = true
			case err != nil:
				return err
			default:
				moved = oldURL != p.URL
			}
			if _, err := tx.Exec(ctx, `INSERT INTO pagechat.transcripts (room_id, date, title, url) VALUES ($1, $2, $3, $4)
				ON CONFLICT (room_id, date) DO UPDATE SET title = EXCLUDED.title, url = EXCLUDED.url`, w.RoomID, w.Date, p.Title, p.URL); err != nil {
				return err
			}
		}
		if err := resolvePending(ctx, tx, w); err != nil {
			return err
		}
		if moved {
			// Only neighbours already written link to a stale URL.
			_, err := tx.Exec(ctx, markNeighboursSQL+` AND EXISTS (SELECT 1 FROM pagechat.transcripts t
				WHERE t.room_id = n.room_id AND t.date = n.day AND t.url <> '')`+pendingUpsert, w.RoomID, w.Date, now)
			return err
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: transcript %s of room %q written: %w", w.Date, w.RoomID, s.mapErr(err))
	}
	return nil
}

func resolvePending(ctx context.Context, tx pgx.Tx, w store.TranscriptWrite) error {
	var version int64
	err := tx.QueryRow(ctx, `SELECT version FROM pagechat.transcript_pending WHERE room_id = $1 AND day = $2 FOR UPDATE`, w.RoomID, w.Date).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	switch {
	case uint64(version) != w.Version:
		// Changed while being written: the oldest unwritten change is no
		// older than the latest one.
		_, err = tx.Exec(ctx, `UPDATE pagechat.transcript_pending SET attempts = 0, next_try = NULL, finalize_at = $3, dirty_since = last_activity
			WHERE room_id = $1 AND day = $2`, w.RoomID, w.Date, ts(w.FinalizeAt))
	case w.FinalizeAt.IsZero():
		_, err = tx.Exec(ctx, `DELETE FROM pagechat.transcript_pending WHERE room_id = $1 AND day = $2`, w.RoomID, w.Date)
	default:
		_, err = tx.Exec(ctx, `UPDATE pagechat.transcript_pending SET attempts = 0, next_try = NULL, finalize_at = $3, dirty_since = NULL
			WHERE room_id = $1 AND day = $2`, w.RoomID, w.Date, ts(w.FinalizeAt))
	}
	return err
}

// TranscriptFailed counts a failed write and sets the next try. It also
// gives up this node's lease of the room, so that another node, whose host
// may work, writes it; see releasedPrefix.
func (s *Store) TranscriptFailed(ctx context.Context, roomID, date string, nextTry time.Time) (int, error) {
	if err := s.begin(ctx); err != nil {
		return 0, err
	}
	var attempts int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE pagechat.transcript_pending SET attempts = attempts + 1, next_try = $3
			WHERE room_id = $1 AND day = $2 RETURNING attempts`, roomID, date, ts(nextTry)).Scan(&attempts)
		if errors.Is(err, pgx.ErrNoRows) {
			attempts = 0
		} else if err != nil {
			return err
		}
		// Only a lease this node still holds: if it ran out during the
		// write, another node may hold the room by now.
		_, err = tx.Exec(ctx, `UPDATE pagechat.transcript_leases SET holder = '`+releasedPrefix+`' || holder, expires_at = clock_timestamp()
			WHERE room_id = $1 AND holder = $2`, roomID, s.node)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: transcript %s of room %q failed: %w", date, roomID, s.mapErr(err))
	}
	return attempts, nil
}
