package store

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// Read markers live in logs/<roomID>/markers/<userID> as the 8-byte
// big-endian seq the user has read to. Browsers report them as users
// scroll, in bursts much like presence, so they go through the writer and
// share its commits instead of costing an fsync each.

// SetReadMarker moves userID's marker in roomID forward to seq, capped at
// the room's last message, and returns the marker as stored.
func (b *Bolt) SetReadMarker(ctx context.Context, roomID, userID string, seq uint64) (uint64, error) {
	if err := checkKey("user id", userID); err != nil {
		return 0, fmt.Errorf("store: read marker in room %q: %w", roomID, err)
	}
	r, err := b.submit(ctx, &request{kind: opMarker, roomID: roomID, part: Participant{UserID: userID}, seq: seq})
	if err != nil {
		return 0, err
	}
	return r.seq, r.err
}

// SetReadMarkers applies markers in one commit of the writer.
func (b *Bolt) SetReadMarkers(ctx context.Context, markers []ReadMarker) error {
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
	r, err := b.submit(ctx, &request{kind: opMarkers, marks: markers})
	if err != nil {
		return err
	}
	return r.err
}

// setMarker applies a marker request inside the batch transaction; the cap
// sees messages appended earlier in the same batch.
func setMarker(s *roomState, userID string, seq uint64) (uint64, error) {
	seq = min(seq, s.room.LastSeq)
	if old, ok := getMarker(s.markers, userID); ok && old >= seq {
		return old, nil
	}
	if err := s.markers.Put([]byte(userID), seqKey(seq)); err != nil {
		return 0, fmt.Errorf("write read marker of %q in room %q: %w", userID, s.room.ID, err)
	}
	return seq, nil
}

// getMarker reads one marker; a malformed one counts as none, so the next
// report replaces it.
func getMarker(b *bolt.Bucket, userID string) (uint64, bool) {
	v := b.Get([]byte(userID))
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

// ReadMarkers returns the markers of userIDs in roomID, or all of them.
func (b *Bolt) ReadMarkers(ctx context.Context, roomID string, userIDs ...string) (map[string]uint64, error) {
	out := make(map[string]uint64)
	err := b.view(ctx, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, roomID)
		if err != nil {
			return err
		}
		if len(userIDs) == 0 {
			return rb.markers.ForEach(func(k, v []byte) error {
				if len(v) == 8 {
					out[string(k)] = binary.BigEndian.Uint64(v)
				}
				return nil
			})
		}
		for _, id := range userIDs {
			if seq, ok := getMarker(rb.markers, id); ok {
				out[id] = seq
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
