package store

import (
	"context"
	"encoding/json"
	"fmt"
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
	if err != nil {
		return fmt.Errorf("store: lift ban of %q in room %q: %w", userID, roomID, err)
	}
	return nil
}

// Ban returns the ban in force on userID in roomID.
func (b *Bolt) Ban(ctx context.Context, roomID, userID string) (Ban, error) {
	now := b.opts.Now()
	var (
		out   Ban
		found bool
	)
	err := b.view(ctx, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, roomID)
		if err != nil {
			return err
		}
		v := rb.bans.Get([]byte(userID))
		if v == nil {
			return nil
		}
		out, err = decodeBan(roomID, userID, v)
		if err != nil {
			return err
		}
		found = inForce(out, now)
		return nil
	})
	if err != nil {
		return Ban{}, err
	}
	if !found {
		return Ban{}, fmt.Errorf("store: user %q in room %q: %w", userID, roomID, ErrBanNotFound)
	}
	return out, nil
}

// Bans lists the bans in force in roomID. Expired ones stay stored until
// they are lifted or replaced; there are few, and reading past them is
// cheaper than a sweeper.
func (b *Bolt) Bans(ctx context.Context, roomID string) ([]Ban, error) {
	now := b.opts.Now()
	var out []Ban
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
			if inForce(ban, now) {
				out = append(out, ban)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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
