package pgstore

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/internal/pgcache"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

// ReadMarkers returns the markers of userIDs in roomID, or all of them.
func (s *Store) ReadMarkers(ctx context.Context, roomID string, userIDs ...string) (map[string]uint64, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	if err := s.roomExists(ctx, s.pool, roomID); err != nil {
		return nil, fmt.Errorf("store: %w", s.mapErr(err))
	}
	var rows pgx.Rows
	if len(userIDs) == 0 {
		rows, _ = s.pool.Query(ctx, `SELECT user_id, seq FROM pagechat.read_markers WHERE room_id = $1`, roomID)
	} else {
		rows, _ = s.pool.Query(ctx, `SELECT user_id, seq FROM pagechat.read_markers WHERE room_id = $1 AND user_id = ANY($2)`, roomID, validOnly(userIDs))
	}
	out := make(map[string]uint64)
	var (
		user string
		seq  int64
	)
	if _, err := pgx.ForEachRow(rows, []any{&user, &seq}, func() error {
		out[user] = uint64(seq)
		return nil
	}); err != nil {
		return nil, fmt.Errorf("store: read markers of room %q: %w", roomID, s.mapErr(err))
	}
	return out, nil
}

// validOnly drops strings a text column cannot hold: nobody has them as id.
func validOnly(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if checkText("", id) == nil {
			out = append(out, id)
		}
	}
	return out
}

// PutBan creates or replaces a ban; a zero BannedAt means now.
func (s *Store) PutBan(ctx context.Context, ban store.Ban) (store.Ban, error) {
	if err := s.begin(ctx); err != nil {
		return store.Ban{}, err
	}
	if err := checkKey("user id", ban.UserID); err != nil {
		return store.Ban{}, fmt.Errorf("store: ban in room %q: %w", ban.RoomID, err)
	}
	if err := checkText("ban", ban.Reason, ban.BannedBy); err != nil {
		return store.Ban{}, fmt.Errorf("store: ban in room %q: %w", ban.RoomID, err)
	}
	if ban.BannedAt.IsZero() {
		ban.BannedAt = s.now()
	}
	ban.BannedAt = ban.BannedAt.UTC().Truncate(time.Microsecond)
	if !ban.ExpiresAt.IsZero() {
		ban.ExpiresAt = ban.ExpiresAt.UTC().Truncate(time.Microsecond)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.roomExists(ctx, tx, ban.RoomID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO pagechat.bans (room_id, user_id, reason, banned_by, banned_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (room_id, user_id) DO UPDATE SET reason = EXCLUDED.reason, banned_by = EXCLUDED.banned_by,
				banned_at = EXCLUDED.banned_at, expires_at = EXCLUDED.expires_at`,
			ban.RoomID, ban.UserID, ban.Reason, ban.BannedBy, ban.BannedAt, ts(ban.ExpiresAt))
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, banNotifySQL, ban.RoomID)
		return err
	})
	s.bans.Forget(ban.RoomID)
	if err != nil {
		return store.Ban{}, fmt.Errorf("store: ban %q in room %q: %w", ban.UserID, ban.RoomID, s.mapErr(err))
	}
	return ban, nil
}

// DeleteBan lifts a ban, if there is one.
func (s *Store) DeleteBan(ctx context.Context, roomID, userID string) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	if err := checkKey("user id", userID); err != nil {
		return fmt.Errorf("store: lift ban in room %q: %w", roomID, err)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := s.roomExists(ctx, tx, roomID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM pagechat.bans WHERE room_id = $1 AND user_id = $2`, roomID, userID)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, banNotifySQL, roomID)
		return err
	})
	s.bans.Forget(roomID)
	if err != nil {
		return fmt.Errorf("store: lift ban of %q in room %q: %w", userID, roomID, s.mapErr(err))
	}
	return nil
}

// Every send asks for the sender's ban, and the notifier for a room's
// bans on every pass, so each node keeps every room's bans it read
// (package pgcache: served only while the follower's LISTEN connection is
// open, forgotten on a notification that PutBan and DeleteBan send on
// their transaction, at once on the node that made the change). A ban
// made on another node holds here once its notification arrives, normally
// within milliseconds.

// banChannel is the NOTIFY channel of ban changes; the payload is the
// room id.
const banChannel = "pagechat_bans"

const banNotifySQL = `SELECT pg_notify('` + banChannel + `', $1)`

// roomBans returns every ban stored for roomID, expired ones included, in
// user id order; an unknown room is store.ErrRoomNotFound.
func (s *Store) roomBans(ctx context.Context, roomID string) ([]store.Ban, error) {
	return pgcache.Read(s.bans, roomID, slices.Clone, func() ([]store.Ban, error) {
		rows, _ := s.pool.Query(ctx, `SELECT b.user_id, b.reason, b.banned_by, b.banned_at, b.expires_at
			FROM pagechat.rooms r LEFT JOIN pagechat.bans b ON b.room_id = r.id WHERE r.id = $1`, roomID)
		var (
			out           = []store.Ban{}
			seen          bool
			user, rsn, by *string
			at, exp       *time.Time
		)
		_, err := pgx.ForEachRow(rows, []any{&user, &rsn, &by, &at, &exp}, func() error {
			seen = true
			if user != nil { // else the room's row alone: no ban
				out = append(out, store.Ban{RoomID: roomID, UserID: *user, Reason: *rsn, BannedBy: *by, BannedAt: at.UTC(), ExpiresAt: fromTS(exp)})
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("store: bans of room %q: %w", roomID, s.mapErr(err))
		}
		if !seen {
			return nil, fmt.Errorf("store: room %q: %w", roomID, store.ErrRoomNotFound)
		}
		// Byte order, as the bbolt store lists them, whatever the
		// database's collation.
		slices.SortFunc(out, func(a, b store.Ban) int { return strings.Compare(a.UserID, b.UserID) })
		return out, nil
	})
}

// Ban returns the ban in force on userID in roomID. Expiry is judged by the
// store's clock, so every node agrees with its tests' clock.
func (s *Store) Ban(ctx context.Context, roomID, userID string) (store.Ban, error) {
	if err := s.begin(ctx); err != nil {
		return store.Ban{}, err
	}
	bans, err := s.roomBans(ctx, roomID)
	if err != nil {
		return store.Ban{}, err
	}
	i, found := slices.BinarySearchFunc(bans, userID, func(b store.Ban, u string) int { return strings.Compare(b.UserID, u) })
	if found && inForce(bans[i], s.now()) {
		return bans[i], nil
	}
	return store.Ban{}, fmt.Errorf("store: user %q in room %q: %w", userID, roomID, store.ErrBanNotFound)
}

// Bans lists the bans in force in roomID.
func (s *Store) Bans(ctx context.Context, roomID string) ([]store.Ban, error) {
	if err := s.begin(ctx); err != nil {
		return nil, err
	}
	all, err := s.roomBans(ctx, roomID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []store.Ban
	for _, b := range all {
		if inForce(b, now) {
			out = append(out, b)
		}
	}
	return out, nil
}

func inForce(b store.Ban, now time.Time) bool {
	return b.ExpiresAt.IsZero() || now.Before(b.ExpiresAt)
}
