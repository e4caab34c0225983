package pgstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// State shared by the nodes of a cluster that is not part of store.Store
// (the bbolt store has no use for it): who is online on which node, and the
// token buckets of the rate limits. Times here are the database's clock,
// which every node shares.

// PresenceEntry is a user online in a room on a node.
type PresenceEntry struct {
	RoomID, UserID, DisplayName, Node string
}

// SyncPresence makes this node's presence rows exactly entries (its
// locally online users, Node ignored), valid for ttl, and returns the live
// rows of every other node. Each node calls it as its heartbeat, well
// within ttl: a node that stops (killed, cut off) stops renewing its rows,
// and they read as offline once ttl has passed.
func (s *Store) SyncPresence(ctx context.Context, entries []PresenceEntry, ttl time.Duration) ([]PresenceEntry, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	rooms := make([]string, len(entries))
	users := make([]string, len(entries))
	names := make([]string, len(entries))
	for i, e := range entries {
		rooms[i], users[i], names[i] = e.RoomID, e.UserID, e.DisplayName
	}
	var out []PresenceEntry
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`DELETE FROM pagechat.presence p WHERE node = $1 AND NOT EXISTS (
			SELECT 1 FROM unnest($2::text[], $3::text[]) AS k(r, u) WHERE k.r = p.room_id AND k.u = p.user_id)`, s.node, rooms, users)
		b.Queue(`INSERT INTO pagechat.presence (room_id, user_id, node, display_name, streams, since, expires_at)
			SELECT r, u, $1, n, 1, clock_timestamp(), clock_timestamp() + make_interval(secs => $5::double precision / 1e6)
			FROM unnest($2::text[], $3::text[], $4::text[]) AS k(r, u, n)
			ON CONFLICT (room_id, user_id, node) DO UPDATE SET display_name = EXCLUDED.display_name, expires_at = EXCLUDED.expires_at`,
			s.node, rooms, users, names, ttl.Microseconds())
		// Rows of nodes long dead are only clutter.
		b.Queue(`DELETE FROM pagechat.presence WHERE expires_at < clock_timestamp() - interval '1 hour'`)
		b.Queue(`SELECT room_id, user_id, display_name, node FROM pagechat.presence
			WHERE node <> $1 AND expires_at > clock_timestamp()`, s.node).Query(func(rows pgx.Rows) error {
			var err error
			out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (PresenceEntry, error) {
				var e PresenceEntry
				err := row.Scan(&e.RoomID, &e.UserID, &e.DisplayName, &e.Node)
				return e, err
			})
			return err
		})
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return nil, fmt.Errorf("store: sync presence: %w", s.mapErr(err))
	}
	return out, nil
}

// SetPresence adds (online) or removes this node's row for a user in a
// room at once, so other nodes need not wait for the next heartbeat.
func (s *Store) SetPresence(ctx context.Context, e PresenceEntry, online bool, ttl time.Duration) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	var err error
	if online {
		_, err = s.pool.Exec(ctx, `INSERT INTO pagechat.presence (room_id, user_id, node, display_name, streams, since, expires_at)
			VALUES ($1, $2, $3, $4, 1, clock_timestamp(), clock_timestamp() + make_interval(secs => $5::double precision / 1e6))
			ON CONFLICT (room_id, user_id, node) DO UPDATE SET display_name = EXCLUDED.display_name, expires_at = EXCLUDED.expires_at`,
			e.RoomID, e.UserID, s.node, e.DisplayName, ttl.Microseconds())
	} else {
		_, err = s.pool.Exec(ctx, `DELETE FROM pagechat.presence WHERE room_id = $1 AND user_id = $2 AND node = $3`, e.RoomID, e.UserID, s.node)
	}
	if err != nil {
		return fmt.Errorf("store: presence of %q in room %q: %w", e.UserID, e.RoomID, s.mapErr(err))
	}
	return nil
}

// SpendBucket takes n tokens from the shared token bucket key, which holds
// up to capacity tokens and refills at perSecond, or reports how long until
// n are there. The refill and the take run in one transaction that holds
// the bucket's row, so nodes spending from one bucket at once cannot
// overdraw it.
//
// The transaction does not wait for its WAL flush (synchronous_commit off
// for it alone): a send spends from its buckets before it is stored, and a
// flush of its own per bucket per send made every send pay one or two
// extra disk flushes outside the writer's group commit. A crash can lose
// the last few spends, which only lets a user send a little more right
// after it; no message depends on a bucket's row.
func (s *Store) SpendBucket(ctx context.Context, key string, capacity, perSecond, n float64) (ok bool, wait time.Duration, err error) {
	if err := s.begin(ctx); err != nil {
		return false, 0, err
	}
	if err := checkText("bucket key", key); err != nil {
		return false, 0, err
	}
	var (
		level float64
		taken bool
	)
	q := &pgx.Batch{}
	q.Queue(`BEGIN`)
	q.Queue(`SET LOCAL synchronous_commit = off`)
	q.Queue(`WITH now AS (SELECT clock_timestamp() AS t)
		INSERT INTO pagechat.buckets AS b (key, level, updated) SELECT $1, $2::float8, t FROM now
		ON CONFLICT (key) DO UPDATE SET
			level = LEAST($2::float8, b.level + extract(epoch FROM (SELECT t FROM now) - b.updated) * $3::float8),
			updated = (SELECT t FROM now)
		RETURNING level`, key, capacity, perSecond).QueryRow(func(row pgx.Row) error {
		return row.Scan(&level)
	})
	q.Queue(`UPDATE pagechat.buckets SET level = level - $2 WHERE key = $1 AND level >= $2`, key, n).Exec(func(ct pgconn.CommandTag) error {
		taken = ct.RowsAffected() > 0
		return nil
	})
	q.Queue(`COMMIT`)
	if err := s.pool.SendBatch(ctx, q).Close(); err != nil {
		return false, 0, fmt.Errorf("store: rate bucket: %w", s.mapErr(err))
	}
	if !taken {
		return false, time.Duration(max(n-level, 0) / perSecond * float64(time.Second)), nil
	}
	return true, 0, nil
}

// RefundBucket gives n tokens back to key, up to capacity.
func (s *Store) RefundBucket(ctx context.Context, key string, capacity, n float64) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	// Not durable either, for the reason SpendBucket gives.
	q := &pgx.Batch{}
	q.Queue(`BEGIN`)
	q.Queue(`SET LOCAL synchronous_commit = off`)
	q.Queue(`UPDATE pagechat.buckets SET level = LEAST($2, level + $3) WHERE key = $1`, key, capacity, n)
	q.Queue(`COMMIT`)
	if err := s.pool.SendBatch(ctx, q).Close(); err != nil {
		return fmt.Errorf("store: rate bucket: %w", s.mapErr(err))
	}
	return nil
}
