package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrStaleJudgement is returned by CommitNotifications when a room's
// judged sequence has already reached the one being committed: the same
// messages were judged twice, and only the first judgement may count.
var ErrStaleJudgement = errors.New("messages already judged")

// WatchState is a user's explicit choice about a room.
type WatchState uint8

// The watch states. WatchDefault (no choice stored) means whatever the
// plugin's default is for that user (page authors watch).
const (
	WatchDefault WatchState = iota
	WatchOn
	WatchOff
)

// Digest is what a watcher has not yet been told about a watched room:
// the messages since their last alert, gathered until the quiet period
// lets the next alert go.
type Digest struct {
	RoomID string
	UserID string
	// FirstSeq and LastSeq span the pending messages; Count counts them.
	// Count 0 means nothing is pending.
	FirstSeq, LastSeq uint64
	Count             int
	// Senders are the display names of the pending messages' senders, in
	// first-seen order, at most MaxDigestSenders.
	Senders []string
	// LastAlert is when the user was last alerted about the room.
	LastAlert time.Time
}

// MaxDigestSenders bounds Digest.Senders; a summary names a few senders
// and counts the rest.
const MaxDigestSenders = 5

// Alert is a notification decided but not yet delivered: the outbox entry.
type Alert struct {
	// ID is stable across retries and restarts; the host keeps one
	// notification per id, which makes delivery exactly once.
	ID      string
	RoomID  string
	UserID  string
	Kind    string // "mention" or "watch"
	Seq     uint64 // the message the alert points at
	Subject string
	Body    string
	URL     string
	Created time.Time
	// Tries counts failed deliveries; NextTry is when to try again.
	Tries   int
	NextTry time.Time
}

// NotifyBatch is one room's share of CommitNotifications.
type NotifyBatch struct {
	RoomID string
	// JudgedSeq, if not 0, is the last message now judged; it must be
	// above the stored one (else ErrStaleJudgement fails the whole call).
	JudgedSeq uint64
	// Digests replace the stored digests of their users.
	Digests []Digest
	// Alerts go into the outbox.
	Alerts []Alert
}

// Notifications is the durable state behind mentions and watched rooms.
// The plugin judges each committed message once, in order: the judgement
// (alerts to send, digests to extend) and how far the room has been judged
// are committed together, so a crash neither repeats nor drops one, and
// the outbox holds what is decided until the host confirms it.
type Notifications interface {
	// SetWatch stores userID's choice for roomID.
	SetWatch(ctx context.Context, roomID, userID string, state WatchState) error
	// Watches returns the explicit choices in roomID, by user id.
	Watches(ctx context.Context, roomID string) (map[string]WatchState, error)
	// JudgedSeq returns how far roomID's messages have been judged.
	JudgedSeq(ctx context.Context, roomID string) (uint64, error)
	// Unjudged returns the ids of rooms with messages after their judged
	// sequence: the work a crash left behind.
	Unjudged(ctx context.Context) ([]string, error)
	// Digests returns roomID's stored digests, by user id, or every
	// room's pending ones (Count > 0) if roomID is empty.
	Digests(ctx context.Context, roomID string) ([]Digest, error)
	// CommitNotifications applies batches in one transaction.
	CommitNotifications(ctx context.Context, batches []NotifyBatch) error
	// Outbox returns up to limit undelivered alerts, oldest first.
	Outbox(ctx context.Context, limit int) ([]Alert, error)
	// AlertDone removes a delivered (or dropped) alert; an unknown id is
	// not an error.
	AlertDone(ctx context.Context, id string) error
	// AlertFailed counts a failed delivery and stores when to retry;
	// it returns the failures so far (0 for an unknown id).
	AlertFailed(ctx context.Context, id string, nextTry time.Time) (int, error)
}

// Layout of the notification state, in a top-level bucket created on first
// write (older plugins never look at it):
//
//	notify/judged/<roomID>             8-byte big-endian judged seq
//	notify/watches/<roomID>\x00<user>  one byte, WatchState
//	notify/digests/<roomID>\x00<user>  JSON digestRecord
//	notify/outbox/<created><id>        JSON alertRecord; key sorts oldest first
//	notify/alertkeys/<id>              the outbox key of alert id
var (
	notifyBucket    = []byte("notify")
	judgedBucket    = []byte("judged")
	watchesBucket   = []byte("watches")
	digestsBucket   = []byte("digests")
	outboxBucket    = []byte("outbox")
	alertKeysBucket = []byte("alertkeys")
)

type digestRecord struct {
	FirstSeq  uint64    `json:"first"`
	LastSeq   uint64    `json:"last"`
	Count     int       `json:"n"`
	Senders   []string  `json:"senders,omitempty"`
	LastAlert time.Time `json:"alerted,omitzero"`
}

type alertRecord struct {
	ID      string    `json:"id"`
	RoomID  string    `json:"room"`
	UserID  string    `json:"uid"`
	Kind    string    `json:"kind"`
	Seq     uint64    `json:"seq"`
	Subject string    `json:"subject"`
	Body    string    `json:"body"`
	URL     string    `json:"url"`
	Created time.Time `json:"created"`
	Tries   int       `json:"tries,omitempty"`
	NextTry time.Time `json:"next,omitzero"`
}

func pairKey(roomID, userID string) []byte {
	k := make([]byte, 0, len(roomID)+1+len(userID))
	k = append(k, roomID...)
	k = append(k, 0)
	return append(k, userID...)
}

func splitPair(k []byte) (roomID, userID string, ok bool) {
	i := bytes.IndexByte(k, 0)
	if i < 0 {
		return "", "", false
	}
	return string(k[:i]), string(k[i+1:]), true
}

// notifyBuckets returns the notify sub-bucket name, creating it in a
// write transaction.
func notifyBuckets(tx *bolt.Tx, name []byte) (*bolt.Bucket, error) {
	if !tx.Writable() {
		if nb := tx.Bucket(notifyBucket); nb != nil {
			return nb.Bucket(name), nil
		}
		return nil, nil
	}
	nb, err := tx.CreateBucketIfNotExists(notifyBucket)
	if err != nil {
		return nil, fmt.Errorf("create bucket %q: %w", notifyBucket, err)
	}
	b, err := nb.CreateBucketIfNotExists(name)
	if err != nil {
		return nil, fmt.Errorf("create bucket %q: %w", name, err)
	}
	return b, nil
}

func checkPair(roomID, userID string) error {
	if err := checkKey("room id", roomID); err != nil {
		return err
	}
	if err := checkKey("user id", userID); err != nil {
		return err
	}
	if len(roomID)+1+len(userID) > bolt.MaxKeySize {
		return fmt.Errorf("room id and user id together too long: %w", ErrInvalid)
	}
	return nil
}

// baselineNotify runs at Open. On a database that has no notification
// state yet (new, or written by a release without notifications) it
// records every existing room as judged up to its last message, so an
// upgrade does not turn a room's whole history into alerts; rooms created
// from then on start at 0, and a room missing from judged means "nothing
// judged yet".
func baselineNotify(tx *bolt.Tx) error {
	if tx.Bucket(notifyBucket) != nil {
		return nil
	}
	judged, err := notifyBuckets(tx, judgedBucket)
	if err != nil {
		return err
	}
	return tx.Bucket(roomsBucket).ForEach(func(k, _ []byte) error {
		last, err := lastSeqOf(tx, string(k))
		if err != nil || last == 0 {
			return err
		}
		return judged.Put(k, seqKey(last))
	})
}

// SetWatch stores a watch choice.
func (b *Bolt) SetWatch(ctx context.Context, roomID, userID string, state WatchState) error {
	if err := checkPair(roomID, userID); err != nil {
		return fmt.Errorf("store: watch: %w", err)
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(roomsBucket).Get([]byte(roomID)) == nil {
			return fmt.Errorf("store: room %q: %w", roomID, ErrRoomNotFound)
		}
		w, err := notifyBuckets(tx, watchesBucket)
		if err != nil {
			return err
		}
		if state == WatchDefault {
			return w.Delete(pairKey(roomID, userID))
		}
		return w.Put(pairKey(roomID, userID), []byte{byte(state)})
	})
}

// Watches returns a room's explicit watch choices.
func (b *Bolt) Watches(ctx context.Context, roomID string) (map[string]WatchState, error) {
	out := make(map[string]WatchState)
	err := b.view(ctx, func(tx *bolt.Tx) error {
		w, _ := notifyBuckets(tx, watchesBucket)
		if w == nil {
			return nil
		}
		prefix := pairKey(roomID, "")
		c := w.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			if len(v) == 1 && (WatchState(v[0]) == WatchOn || WatchState(v[0]) == WatchOff) {
				out[string(k[len(prefix):])] = WatchState(v[0])
			}
		}
		return nil
	})
	return out, err
}

// JudgedSeq returns how far a room has been judged.
func (b *Bolt) JudgedSeq(ctx context.Context, roomID string) (uint64, error) {
	var seq uint64
	err := b.view(ctx, func(tx *bolt.Tx) error {
		j, _ := notifyBuckets(tx, judgedBucket)
		if j != nil {
			if v := j.Get([]byte(roomID)); len(v) == 8 {
				seq = binary.BigEndian.Uint64(v)
			}
		}
		return nil
	})
	return seq, err
}

// Unjudged lists rooms whose last message is past their judged sequence.
func (b *Bolt) Unjudged(ctx context.Context) ([]string, error) {
	var out []string
	err := b.view(ctx, func(tx *bolt.Tx) error {
		j, _ := notifyBuckets(tx, judgedBucket)
		return tx.Bucket(roomsBucket).ForEach(func(k, _ []byte) error {
			last, err := lastSeqOf(tx, string(k))
			if err != nil {
				return err
			}
			var judged uint64
			if j != nil {
				if jv := j.Get(k); len(jv) == 8 {
					judged = binary.BigEndian.Uint64(jv)
				}
			}
			if last > judged {
				out = append(out, string(k))
			}
			return nil
		})
	})
	return out, err
}

// Digests returns a room's digests, or all pending ones.
func (b *Bolt) Digests(ctx context.Context, roomID string) ([]Digest, error) {
	var out []Digest
	err := b.view(ctx, func(tx *bolt.Tx) error {
		d, _ := notifyBuckets(tx, digestsBucket)
		if d == nil {
			return nil
		}
		var prefix []byte
		if roomID != "" {
			prefix = pairKey(roomID, "")
		}
		c := d.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			room, user, ok := splitPair(k)
			if !ok {
				continue
			}
			var rec digestRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				continue // a damaged digest only loses its pending summary
			}
			if roomID == "" && rec.Count == 0 {
				continue
			}
			out = append(out, Digest{RoomID: room, UserID: user, FirstSeq: rec.FirstSeq, LastSeq: rec.LastSeq,
				Count: rec.Count, Senders: rec.Senders, LastAlert: rec.LastAlert})
		}
		return nil
	})
	return out, err
}

// CommitNotifications applies judgements, digests and new alerts together.
func (b *Bolt) CommitNotifications(ctx context.Context, batches []NotifyBatch) error {
	for _, nb := range batches {
		if err := checkKey("room id", nb.RoomID); err != nil {
			return fmt.Errorf("store: notifications: %w", err)
		}
		for _, d := range nb.Digests {
			if err := checkPair(nb.RoomID, d.UserID); err != nil {
				return fmt.Errorf("store: digest: %w", err)
			}
		}
		for _, a := range nb.Alerts {
			if err := checkKey("alert id", a.ID); err != nil || len(a.ID)+8 > bolt.MaxKeySize {
				return fmt.Errorf("store: alert %q: bad id: %w", a.ID, ErrInvalid)
			}
		}
	}
	return b.update(ctx, func(tx *bolt.Tx) error {
		judged, err := notifyBuckets(tx, judgedBucket)
		if err != nil {
			return err
		}
		digests, err := notifyBuckets(tx, digestsBucket)
		if err != nil {
			return err
		}
		outbox, err := notifyBuckets(tx, outboxBucket)
		if err != nil {
			return err
		}
		keys, err := notifyBuckets(tx, alertKeysBucket)
		if err != nil {
			return err
		}
		for _, nb := range batches {
			if nb.JudgedSeq != 0 {
				if v := judged.Get([]byte(nb.RoomID)); len(v) == 8 && binary.BigEndian.Uint64(v) >= nb.JudgedSeq {
					return fmt.Errorf("store: room %q judged to %d, not %d: %w", nb.RoomID, binary.BigEndian.Uint64(v), nb.JudgedSeq, ErrStaleJudgement)
				}
				if err := judged.Put([]byte(nb.RoomID), seqKey(nb.JudgedSeq)); err != nil {
					return err
				}
			}
			for _, d := range nb.Digests {
				v, err := json.Marshal(digestRecord{FirstSeq: d.FirstSeq, LastSeq: d.LastSeq, Count: d.Count, Senders: d.Senders, LastAlert: d.LastAlert.UTC()})
				if err != nil {
					return err
				}
				if err := digests.Put(pairKey(nb.RoomID, d.UserID), v); err != nil {
					return err
				}
			}
			for _, a := range nb.Alerts {
				if keys.Get([]byte(a.ID)) != nil {
					continue // already queued: the id makes it the same alert
				}
				a.RoomID = nb.RoomID
				if err := putAlert(outbox, keys, a); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

func putAlert(outbox, keys *bolt.Bucket, a Alert) error {
	rec := alertRecord(a)
	rec.Created = rec.Created.UTC()
	v, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	k := binary.BigEndian.AppendUint64(nil, uint64(a.Created.UnixNano()))
	k = append(k, a.ID...)
	if err := outbox.Put(k, v); err != nil {
		return fmt.Errorf("write alert %q: %w", a.ID, err)
	}
	return keys.Put([]byte(a.ID), k)
}

// Outbox returns the oldest undelivered alerts.
func (b *Bolt) Outbox(ctx context.Context, limit int) ([]Alert, error) {
	if limit <= 0 {
		limit = DefaultPageLimit
	}
	var out []Alert
	err := b.view(ctx, func(tx *bolt.Tx) error {
		o, _ := notifyBuckets(tx, outboxBucket)
		if o == nil {
			return nil
		}
		c := o.Cursor()
		for k, v := c.First(); k != nil && len(out) < limit; k, v = c.Next() {
			var rec alertRecord
			if err := json.Unmarshal(v, &rec); err != nil {
				return fmt.Errorf("store: decode alert %x: %w", k, err)
			}
			out = append(out, Alert(rec))
		}
		return nil
	})
	return out, err
}

// AlertDone removes an alert.
func (b *Bolt) AlertDone(ctx context.Context, id string) error {
	return b.update(ctx, func(tx *bolt.Tx) error {
		o, err := notifyBuckets(tx, outboxBucket)
		if err != nil {
			return err
		}
		keys, err := notifyBuckets(tx, alertKeysBucket)
		if err != nil {
			return err
		}
		k := keys.Get([]byte(id))
		if k == nil {
			return nil
		}
		if err := o.Delete(k); err != nil {
			return err
		}
		return keys.Delete([]byte(id))
	})
}

// AlertFailed records a failed delivery.
func (b *Bolt) AlertFailed(ctx context.Context, id string, nextTry time.Time) (int, error) {
	var tries int
	err := b.update(ctx, func(tx *bolt.Tx) error {
		o, err := notifyBuckets(tx, outboxBucket)
		if err != nil {
			return err
		}
		keys, err := notifyBuckets(tx, alertKeysBucket)
		if err != nil {
			return err
		}
		k := keys.Get([]byte(id))
		if k == nil {
			return nil
		}
		var rec alertRecord
		if err := json.Unmarshal(o.Get(k), &rec); err != nil {
			return fmt.Errorf("store: decode alert %q: %w", id, err)
		}
		rec.Tries++
		rec.NextTry = nextTry.UTC()
		tries = rec.Tries
		v, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		return o.Put(k, v)
	})
	return tries, err
}
