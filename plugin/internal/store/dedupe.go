package store

import (
	"context"
	"encoding/binary"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// dedupeKey is the key of a client id in a room's dedupe bucket. Client
// ids are chosen by the sender, so they are only unique per sender: keyed
// by client id alone, one user's send could be swallowed as a "retry" of
// another's and answered with the other user's message. The user id goes
// first, length-prefixed, so no pair of (user, client id) can spell
// another pair's key whatever bytes either holds.
func dedupeKey(userID, clientID string) []byte {
	k := make([]byte, 0, binary.MaxVarintLen64+len(userID)+len(clientID))
	k = binary.AppendUvarint(k, uint64(len(userID)))
	k = append(k, userID...)
	return append(k, clientID...)
}

// dedupedMessage returns the message the dedupe bucket holds for
// (userID, clientID), if any.
func dedupedMessage(s roomBucketSet, roomID, userID, clientID string) (Message, bool, error) {
	v := s.dedupe.Get(dedupeKey(userID, clientID))
	if v == nil {
		return Message{}, false, nil
	}
	if len(v) != 8 {
		return Message{}, false, fmt.Errorf("store: room %q: malformed dedupe entry for client id %q", roomID, clientID)
	}
	k := seqKey(binary.BigEndian.Uint64(v))
	lv := s.log.Get(k)
	if lv == nil {
		return Message{}, false, fmt.Errorf("store: room %q: client id %q points at missing message %d", roomID, clientID, binary.BigEndian.Uint64(v))
	}
	m, err := decodeMessage(roomID, k, lv)
	if err != nil {
		return Message{}, false, err
	}
	return m, true, nil
}

// ByClientID returns the message userID sent to roomID with clientID.
func (b *Bolt) ByClientID(ctx context.Context, roomID, userID, clientID string) (Message, bool, error) {
	if clientID == "" || len(dedupeKey(userID, clientID)) > bolt.MaxKeySize {
		// Such ids are never recorded (see appendOne).
		return Message{}, false, nil
	}
	var (
		out   Message
		found bool
	)
	err := b.view(ctx, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, roomID)
		if err != nil {
			return err
		}
		out, found, err = dedupedMessage(rb, roomID, userID, clientID)
		return err
	})
	return out, found, err
}

// migrateDedupeKeys re-keys every room's dedupe entries from the client id
// alone (layout 3) to sender and client id (layout 4). Both halves of the
// new key come from the logged message the entry points at, so every
// retry that was recognised before is recognised after, now only when the
// same user sends it. It is idempotent: a bucket already keyed the new way
// is rebuilt to the same entries.
func migrateDedupeKeys(tx *bolt.Tx) error {
	logs := tx.Bucket(logsBucket)
	var ids [][]byte
	if err := tx.Bucket(roomsBucket).ForEach(func(k, _ []byte) error {
		ids = append(ids, append([]byte(nil), k...))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		rb := logs.Bucket(id)
		if rb == nil || rb.Bucket(dedupeBucket) == nil {
			continue
		}
		log := rb.Bucket(logBucket)
		type entry struct{ key, seq []byte }
		var entries []entry
		err := rb.Bucket(dedupeBucket).ForEach(func(_, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("room %q: malformed dedupe entry %x", id, v)
			}
			lv := log.Get(v)
			if lv == nil {
				// Points at nothing: it could never have matched a retry.
				return nil
			}
			m, err := decodeMessage(string(id), v, lv)
			if err != nil {
				return err
			}
			if m.ClientID == "" {
				return nil
			}
			entries = append(entries, entry{dedupeKey(m.UserID, m.ClientID), append([]byte(nil), v...)})
			return nil
		})
		if err != nil {
			return err
		}
		if err := rb.DeleteBucket(dedupeBucket); err != nil {
			return fmt.Errorf("room %q: %w", id, err)
		}
		dedupe, err := rb.CreateBucket(dedupeBucket)
		if err != nil {
			return fmt.Errorf("room %q: %w", id, err)
		}
		for _, e := range entries {
			if len(e.key) > bolt.MaxKeySize {
				continue
			}
			if err := dedupe.Put(e.key, e.seq); err != nil {
				return fmt.Errorf("room %q: %w", id, err)
			}
		}
	}
	return nil
}
