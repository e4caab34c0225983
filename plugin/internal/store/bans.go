package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Bans live in logs/<roomID>/bans/<userID> as JSON banRecords. They change
// rarely (a moderator's action), so they are written in transactions of
// their own rather than through the writer.

type banRecord struct {
	Reason    string    `json:"reason,omitempty"`
	BannedBy  string    `json:"by,omitempty"`
	BannedAt  time.Time `json:"at"`
	ExpiresAt time.Time `json:"until,omitzero"`
}

// PutBan creates or replaces a ban; a zero BannedAt means now.
func (b *Bolt) PutBan(ctx context.Context, ban Ban) (Ban, error) {
	if err := checkKey("user id", ban.UserID); err != nil {
		return Ban{}, fmt.Errorf("store: ban in room %q: %w", ban.RoomID, err)
	}
	if ban.BannedAt.IsZero() {
		ban.BannedAt = b.opts.Now()
	}
	ban.BannedAt = ban.BannedAt.UTC()
	if !ban.ExpiresAt.IsZero() {
		ban.ExpiresAt = ban.ExpiresAt.UTC()
	}
	rec := banRecord{Reason: ban.Reason, BannedBy: ban.BannedBy, BannedAt: ban.BannedAt, ExpiresAt: ban.ExpiresAt}
	err := b.update(ctx, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, ban.RoomID)
		if err != nil {
			return err
		}
		return putJSON(rb.bans, ban.UserID, &rec)
	})
	b.forgetBans(ban.RoomID)
	if err != nil {
		return Ban{}, fmt.Errorf("store: ban %q in room %q: %w", ban.UserID, ban.RoomID, err)
	}
	return ban, nil
}

// DeleteBan lifts a ban, if there is one.
func (b *Bolt) DeleteBan(ctx context.Context, roomID, userID string) error {
	if err := checkKey("user id", userID); err != nil {
		return fmt.Errorf("store: lift ban in room %q: %w", roomID, err)
	}
	err := b.update(ctx, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, roomID)
		if err != nil {
			return err
		}
		return rb.bans.Delete([]byte(userID))
	})
	b.forgetBans(roomID)
	if err != nil {
		return fmt.Errorf("store: lift ban of %q in room %q: %w", userID, roomID, err)
	}
	return nil
}

// Ban returns the ban in force on userID in roomID.
func (b *Bolt) Ban(ctx context.Context, roomID, userID string) (Ban, error) {
	all, err := b.roomBans(ctx, roomID)
	if err != nil {
		return Ban{}, err
	}
	ban, ok := all[userID]
	if !ok || !inForce(ban, b.opts.Now()) {
		return Ban{}, fmt.Errorf("store: user %q in room %q: %w", userID, roomID, ErrBanNotFound)
	}
	return ban, nil
}

// Bans lists the bans in force in roomID, by user id. Expired ones stay
// stored until they are lifted or replaced; there are few, and reading
// past them is cheaper than a sweeper.
func (b *Bolt) Bans(ctx context.Context, roomID string) ([]Ban, error) {
	all, err := b.roomBans(ctx, roomID)
	if err != nil {
		return nil, err
	}
	now := b.opts.Now()
	var out []Ban
	for _, ban := range all {
		if inForce(ban, now) {
			out = append(out, ban)
		}
	}
	slices.SortFunc(out, func(x, y Ban) int { return strings.Compare(x.UserID, y.UserID) })
	return out, nil
}

// banCache holds the stored bans (expired ones too) of the rooms asked
// about, by room and user. This process is the database's only writer
// and bans change only through PutBan and DeleteBan, which drop the
// room's entry after their commit; gen makes a read that began before
// such a commit keep its result to itself. A room costs one small map,
// and only rooms that are used are read.
type banCache struct {
	mu    sync.Mutex
	gen   uint64
	rooms map[string]map[string]Ban
}

// roomBans returns every stored ban of roomID. The map is shared: callers
// must not change it.
func (b *Bolt) roomBans(ctx context.Context, roomID string) (map[string]Ban, error) {
	if b.isClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := &b.bans
	c.mu.Lock()
	if all, ok := c.rooms[roomID]; ok {
		c.mu.Unlock()
		return all, nil
	}
	gen := c.gen
	c.mu.Unlock()
	all := make(map[string]Ban)
	err := b.view(ctx, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, roomID)
		if err != nil {
			return err
		}
		return rb.bans.ForEach(func(k, v []byte) error {
			ban, err := decodeBan(roomID, string(k), v)
			if err != nil {
				return err
			}
			all[ban.UserID] = ban
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.gen == gen {
		if c.rooms == nil {
			c.rooms = make(map[string]map[string]Ban)
		}
		c.rooms[roomID] = all
	}
	c.mu.Unlock()
	return all, nil
}

// forgetBans drops roomID's cached bans after a change to them was
// committed (or failed: the next read finds out which).
func (b *Bolt) forgetBans(roomID string) {
	c := &b.bans
	c.mu.Lock()
	c.gen++
	delete(c.rooms, roomID)
	c.mu.Unlock()
}

func inForce(b Ban, now time.Time) bool {
	return b.ExpiresAt.IsZero() || now.Before(b.ExpiresAt)
}

// decodeBan fails on an unreadable record rather than reading it as no
// ban: letting a banned user back in is the worse mistake.
func decodeBan(roomID, userID string, v []byte) (Ban, error) {
	var rec banRecord
	if err := json.Unmarshal(v, &rec); err != nil {
		return Ban{}, fmt.Errorf("store: decode ban of %q in room %q: %w", userID, roomID, err)
	}
	return Ban{RoomID: roomID, UserID: userID, Reason: rec.Reason, BannedBy: rec.BannedBy, BannedAt: rec.BannedAt, ExpiresAt: rec.ExpiresAt}, nil
}
