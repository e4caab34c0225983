package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Transcript bookkeeping. The store does not render or write transcript
// pages (package transcript does); it keeps the durable facts that writer
// needs, updated in the same transaction as the messages so that no commit
// can be lost between "message stored" and "its day's page is out of date":
//
//	transcript-days/<roomID>/<day>  JSON dayRecord: the day's first and last seq, the
//	                                last as of its first message or last page write
//	logs/<roomID>/pending/<day>     JSON pendingRecord: the day's page needs a write,
//	                                and the day's span so far
//	transcript-pending-rooms/<roomID>  empty: the room has pending entries
//
// Days are the strings Options.DayOf returns ("YYYY-MM-DD"), so byte order
// is date order. Day records nest per room so that room ids of any length
// and content stay valid keys, and a room's days are one cursor walk.
//
// Every message changes its day's pending entry. The entries live in the
// room's own bucket, which the message's commit rewrites anyway, and
// while a room has few of them they fit inside that bucket's page; the
// list of rooms that have any changes only when a room gets its first or
// loses its last. Layouts before 6 kept them in a bucket of their own
// (legacyPendingBucket), which put its pages into every commit.
var (
	transcriptDaysBucket = []byte("transcript-days")
	pendingBucket        = []byte("pending")
	pendingRoomsBucket   = []byte("transcript-pending-rooms")
	legacyPendingBucket  = []byte("transcript-pending")
)

// Transcript is a room's written transcript page for one day.
type Transcript struct {
	Date  string // "YYYY-MM-DD" in the configured time zone
	Title string
	URL   string // as the host returned it
}

// TranscriptDay is one day on which a room had messages.
type TranscriptDay struct {
	Date     string
	FirstSeq uint64 // first message of the day
	LastSeq  uint64 // last message of the day so far
}

// PendingTranscript is a room day whose transcript page needs writing. The
// store records facts; the transcript writer decides when each is due.
type PendingTranscript struct {
	RoomID string
	Date   string
	// FirstSeq and LastSeq bound the day's messages known so far.
	FirstSeq, LastSeq uint64
	// DirtySince is the first change not yet written, zero when the page is
	// up to date and only waits for FinalizeAt.
	DirtySince time.Time
	// LastActivity is the latest change, for the debounce.
	LastActivity time.Time
	// Version changes with every change to the entry's day. A write that
	// read version v resolves the entry only if it still has version v.
	Version uint64
	// Attempts counts failed writes since the last success; NextTry is the
	// earliest retry after the last failure (zero if none failed).
	Attempts int
	NextTry  time.Time
	// FinalizeAt, if set, asks for one more write at that time: the page
	// was written before its day ended.
	FinalizeAt time.Time
}

// TranscriptWrite reports a finished transcript write to TranscriptWritten.
type TranscriptWrite struct {
	RoomID, Date string
	// Version is the pending entry's version the write was made from.
	Version uint64
	// Page is the written page, recorded in the room's Transcripts. Nil
	// means nothing was written (the day had nothing to show) and only the
	// pending entry is resolved.
	Page *Transcript
	// FinalizeAt is when the day ends, if it had not ended when the page
	// was rendered; the entry then stays for one final write.
	FinalizeAt time.Time
}

type dayRecord struct {
	FirstSeq uint64 `json:"first"`
	LastSeq  uint64 `json:"last"`
}

type pendingRecord struct {
	DirtySince   time.Time `json:"dirty_at,omitzero"`
	LastActivity time.Time `json:"last_at,omitzero"`
	FirstSeq     uint64    `json:"first_seq"`
	LastSeq      uint64    `json:"last_seq"`
	Version      uint64    `json:"version"`
	Attempts     int       `json:"attempts,omitempty"`
	NextTry      time.Time `json:"next_try,omitzero"`
	FinalizeAt   time.Time `json:"finalize_at,omitzero"`
}

type transcriptRecord struct {
	Date  string `json:"date"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// trackTranscripts runs inside the commit transaction and marks the days
// of the added messages (and, when a day gets its first message, the
// neighbouring activity days, whose prev/next links change) as needing
// their transcript written. The days of the messages that edits and
// deletes changed are marked too: their pages show the old text until
// rewritten.
func (b *Bolt) trackTranscripts(tx *bolt.Tx, added, changed []Message, now time.Time) error {
	if b.opts.DayOf == nil || len(added) == 0 {
		return nil
	}
	if err := b.markChangedDays(tx, changed, now); err != nil {
		return err
	}
	type roomDay struct{ room, day string }
	spans := make(map[roomDay]*dayRecord)
	var order []roomDay
	for _, m := range added {
		k := roomDay{m.RoomID, b.opts.DayOf(m.SentAt)}
		if sp, ok := spans[k]; ok {
			sp.FirstSeq, sp.LastSeq = min(sp.FirstSeq, m.Seq), max(sp.LastSeq, m.Seq)
			continue
		}
		spans[k] = &dayRecord{FirstSeq: m.Seq, LastSeq: m.Seq}
		order = append(order, k)
	}
	for _, k := range order {
		if k.day == "" {
			continue // a DayOf that cannot name the day: nothing to track
		}
		days, err := nestedBucket(tx, transcriptDaysBucket, k.room)
		if err != nil {
			return err
		}
		sp := spans[k]
		old, isNew := decodeDay(days.Get([]byte(k.day)))
		if !isNew {
			sp.FirstSeq, sp.LastSeq = min(sp.FirstSeq, old.FirstSeq), max(sp.LastSeq, old.LastSeq)
		}
		// The day's record is written when the day begins (or begins
		// earlier, after a clock went back), not with each of its
		// messages: the pending entry below holds the span as it grows,
		// until resolvePending folds it in. That keeps this bucket out of
		// nearly every commit.
		if isNew || sp.FirstSeq < old.FirstSeq {
			if err := putJSON(days, k.day, sp); err != nil {
				return err
			}
		}
		if err := markPending(tx, k.room, k.day, *sp, now); err != nil {
			return err
		}
		if isNew {
			if err := markNeighbours(tx, days, k.room, k.day, now, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// markChangedDays marks the days of changed messages. Such a day has had
// messages, so it has a day record already; one that does not (tracking
// was off back then) has no page to rewrite.
func (b *Bolt) markChangedDays(tx *bolt.Tx, changed []Message, now time.Time) error {
	for _, m := range changed {
		day := b.opts.DayOf(m.SentAt)
		days := nestedBucketRO(tx, transcriptDaysBucket, m.RoomID)
		if day == "" || days == nil {
			continue
		}
		rec, bad := decodeDay(days.Get([]byte(day)))
		if bad {
			continue
		}
		if err := markPending(tx, m.RoomID, day, rec, now); err != nil {
			return err
		}
	}
	return nil
}

// markNeighbours marks the activity days just before and after day as
// changed: their pages link to day's page, which is new or moved. If only
// is set, it marks just the neighbours it accepts.
func markNeighbours(tx *bolt.Tx, days *bolt.Bucket, roomID, day string, now time.Time, only func(day string) bool) error {
	c := days.Cursor()
	k, _ := c.Seek([]byte(day))
	var prev, next []byte
	switch {
	case k == nil:
		prev, _ = c.Last()
	case string(k) == day:
		prev, _ = c.Prev()
		c.Seek([]byte(day))
		next, _ = c.Next()
	default:
		next = k
		prev, _ = c.Prev()
	}
	for _, n := range [][]byte{prev, next} {
		if n == nil || string(n) == day || (only != nil && !only(string(n))) {
			continue
		}
		rec, bad := decodeDay(days.Get(n))
		if bad {
			continue
		}
		if err := markPending(tx, roomID, string(n), rec, now); err != nil {
			return err
		}
	}
	return nil
}

// markPending records a change to roomID's day at now. Unreadable records
// are replaced rather than failing the commit: a damaged bookkeeping entry
// must not stop messages from being stored.
func markPending(tx *bolt.Tx, roomID, day string, span dayRecord, now time.Time) error {
	pending, err := roomPending(tx, roomID)
	if err != nil {
		return err
	}
	var rec pendingRecord
	if v := pending.Get([]byte(day)); v != nil {
		if json.Unmarshal(v, &rec) != nil {
			rec = pendingRecord{}
		}
	} else if err := listPendingRoom(tx, roomID); err != nil {
		return err
	}
	if rec.DirtySince.IsZero() {
		rec.DirtySince = now
	}
	rec.LastActivity = now
	if rec.FirstSeq == 0 || span.FirstSeq < rec.FirstSeq {
		rec.FirstSeq = span.FirstSeq
	}
	rec.LastSeq = max(rec.LastSeq, span.LastSeq)
	// The room's pending bucket is never deleted and its sequence never
	// goes back, so a version is never reused, even by an entry that was
	// deleted and created again.
	v, err := pending.NextSequence()
	if err != nil {
		return fmt.Errorf("transcript version: %w", err)
	}
	rec.Version = v
	return putJSON(pending, day, &rec)
}

// PendingTranscripts returns every room day whose transcript page needs a
// write, by room id and then date. There is one entry per room and day with
// unwritten activity, so the list stays short.
func (b *Bolt) PendingTranscripts(ctx context.Context) ([]PendingTranscript, error) {
	var out []PendingTranscript
	err := b.view(ctx, func(tx *bolt.Tx) error {
		rooms := tx.Bucket(pendingRoomsBucket)
		if rooms == nil {
			return nil
		}
		return rooms.ForEach(func(room, _ []byte) error {
			pending, err := roomPending(tx, string(room))
			if err != nil {
				return nil // a room without its buckets has nothing to write
			}
			return pending.ForEach(func(day, v []byte) error {
				var rec pendingRecord
				if json.Unmarshal(v, &rec) != nil {
					// Skipped rather than failing every pass; the
					// next commit on that day replaces it.
					return nil
				}
				out = append(out, PendingTranscript{
					RoomID:       string(room),
					Date:         string(day),
					FirstSeq:     rec.FirstSeq,
					LastSeq:      rec.LastSeq,
					DirtySince:   rec.DirtySince,
					LastActivity: rec.LastActivity,
					Version:      rec.Version,
					Attempts:     rec.Attempts,
					NextTry:      rec.NextTry,
					FinalizeAt:   rec.FinalizeAt,
				})
				return nil
			})
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: pending transcripts: %w", err)
	}
	return out, nil
}

// TranscriptDays returns the days on which roomID had messages, oldest
// first, for a transcript's previous and next links.
func (b *Bolt) TranscriptDays(ctx context.Context, roomID string) ([]TranscriptDay, error) {
	var out []TranscriptDay
	err := b.view(ctx, func(tx *bolt.Tx) error {
		if tx.Bucket(roomsBucket).Get([]byte(roomID)) == nil {
			return fmt.Errorf("room %q: %w", roomID, ErrRoomNotFound)
		}
		days := nestedBucketRO(tx, transcriptDaysBucket, roomID)
		if days == nil {
			return nil
		}
		pending, _ := roomPending(tx, roomID)
		return days.ForEach(func(k, v []byte) error {
			rec, bad := decodeDay(v)
			if bad {
				return nil
			}
			if pending != nil {
				// A day with unwritten activity has its span so far
				// there (trackTranscripts).
				rec = rec.with(pendingSpan(pending.Get(k)))
			}
			out = append(out, TranscriptDay{Date: string(k), FirstSeq: rec.FirstSeq, LastSeq: rec.LastSeq})
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("store: transcript days: %w", err)
	}
	return out, nil
}

// TranscriptWritten records a successful transcript write: the page joins
// (or updates) the room's Transcripts, and the pending entry is deleted if
// nothing changed since version w.Version was read. If something did, the
// entry stays dirty so the new activity is written too. A page whose URL is
// new or changed marks its already written neighbouring days dirty, because
// their previous and next links must point at it.
func (b *Bolt) TranscriptWritten(ctx context.Context, w TranscriptWrite) error {
	if b.isClosed() {
		return ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := b.opts.Now().UTC()
	defer b.previews.changed(w.RoomID)
	err := b.update(ctx, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, w.RoomID)
		if err != nil {
			return err
		}
		pages := rb.transcripts
		moved := false
		if w.Page != nil {
			page := transcriptRecord(*w.Page)
			page.Date = w.Date
			old, known := readTranscript(pages, w.Date)
			moved = !known || old.URL != page.URL
			if err := putJSON(pages, w.Date, &page); err != nil {
				return err
			}
		}
		if err := resolvePending(tx, w, now); err != nil {
			return err
		}
		if moved {
			// Only neighbours already written link to a stale URL; the
			// others read the new one when their turn comes.
			written := func(day string) bool {
				t, ok := readTranscript(pages, day)
				return ok && t.URL != ""
			}
			if days := nestedBucketRO(tx, transcriptDaysBucket, w.RoomID); days != nil {
				return markNeighbours(tx, days, w.RoomID, w.Date, now, written)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: transcript %s of room %q written: %w", w.Date, w.RoomID, mapErr(err))
	}
	return nil
}

func resolvePending(tx *bolt.Tx, w TranscriptWrite, now time.Time) error {
	pending, err := roomPending(tx, w.RoomID)
	if err != nil {
		return err
	}
	v := pending.Get([]byte(w.Date))
	if v == nil {
		return nil
	}
	var rec pendingRecord
	if json.Unmarshal(v, &rec) != nil {
		rec = pendingRecord{Version: w.Version, LastActivity: now}
	}
	// The entry may be about to go, and the day's record has only the
	// span its first message gave it.
	if err := foldSpan(tx, w.RoomID, w.Date, dayRecord{FirstSeq: rec.FirstSeq, LastSeq: rec.LastSeq}); err != nil {
		return err
	}
	rec.Attempts, rec.NextTry, rec.FinalizeAt = 0, time.Time{}, w.FinalizeAt
	switch {
	case rec.Version != w.Version:
		// Changed while being written. The oldest unwritten change is no
		// older than the latest one, which restarts the postpone cap from
		// there instead of from the first change already written.
		rec.DirtySince = rec.LastActivity
	case w.FinalizeAt.IsZero():
		if err := pending.Delete([]byte(w.Date)); err != nil {
			return fmt.Errorf("delete pending transcript: %w", err)
		}
		if k, _ := pending.Cursor().First(); k == nil {
			if rooms := tx.Bucket(pendingRoomsBucket); rooms != nil {
				if err := rooms.Delete([]byte(w.RoomID)); err != nil {
					return fmt.Errorf("unlist room %q from pending transcripts: %w", w.RoomID, err)
				}
			}
		}
		return nil
	default:
		rec.DirtySince = time.Time{} // up to date; only the final write is left
	}
	return putJSON(pending, w.Date, &rec)
}

// TranscriptFailed records a failed write of roomID's transcript for date:
// the attempt is counted and the next one waits until nextTry. It returns
// the number of failed attempts so far (0 if the entry is gone).
func (b *Bolt) TranscriptFailed(ctx context.Context, roomID, date string, nextTry time.Time) (int, error) {
	if b.isClosed() {
		return 0, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	attempts := 0
	defer b.previews.changed(roomID)
	err := b.update(ctx, func(tx *bolt.Tx) error {
		pending, err := roomPending(tx, roomID)
		if err != nil {
			return nil // nothing pending for a room that is not there
		}
		v := pending.Get([]byte(date))
		if v == nil {
			return nil
		}
		var rec pendingRecord
		if err := json.Unmarshal(v, &rec); err != nil {
			return fmt.Errorf("decode pending transcript: %w", err)
		}
		rec.Attempts++
		rec.NextTry = nextTry.UTC()
		attempts = rec.Attempts
		return putJSON(pending, date, &rec)
	})
	if err != nil {
		return 0, fmt.Errorf("store: transcript %s of room %q failed: %w", date, roomID, mapErr(err))
	}
	return attempts, nil
}

// readTranscript reads the room's transcript page record for date; ok is
// false if there is none (or it cannot be read, and will be rewritten).
func readTranscript(pages *bolt.Bucket, date string) (t transcriptRecord, ok bool) {
	v := pages.Get([]byte(date))
	if v == nil || json.Unmarshal(v, &t) != nil {
		return transcriptRecord{}, false
	}
	return t, true
}

// nestedBucket returns parent/<name>, creating both as needed.
func nestedBucket(tx *bolt.Tx, parent []byte, name string) (*bolt.Bucket, error) {
	top, err := tx.CreateBucketIfNotExists(parent)
	if err != nil {
		return nil, fmt.Errorf("create bucket %q: %w", parent, err)
	}
	b, err := top.CreateBucketIfNotExists([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("create bucket %q/%q: %w", parent, name, err)
	}
	return b, nil
}

// nestedBucketRO returns parent/<name>, or nil if either does not exist.
func nestedBucketRO(tx *bolt.Tx, parent []byte, name string) *bolt.Bucket {
	top := tx.Bucket(parent)
	if top == nil {
		return nil
	}
	return top.Bucket([]byte(name))
}

// roomPending is roomID's bucket of pending transcript entries.
func roomPending(tx *bolt.Tx, roomID string) (*bolt.Bucket, error) {
	if rb := tx.Bucket(logsBucket).Bucket([]byte(roomID)); rb != nil {
		if b := rb.Bucket(pendingBucket); b != nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("store: room %q: pending transcripts bucket missing: %w", roomID, ErrRoomNotFound)
}

// listPendingRoom lists roomID among the rooms with pending entries; a
// room already listed is not written again.
func listPendingRoom(tx *bolt.Tx, roomID string) error {
	rooms, err := tx.CreateBucketIfNotExists(pendingRoomsBucket)
	if err != nil {
		return fmt.Errorf("create bucket %q: %w", pendingRoomsBucket, err)
	}
	if rooms.Get([]byte(roomID)) != nil {
		return nil
	}
	if err := rooms.Put([]byte(roomID), []byte{}); err != nil {
		return fmt.Errorf("list room %q among pending transcripts: %w", roomID, err)
	}
	return nil
}

// movePendingIntoRooms brings layout 5 to 6: each room's pending entries
// move from legacyPendingBucket into the room's own bucket, and the rooms
// that have any are listed. Every room's version sequence starts where the
// shared one stood, so no version is handed out twice.
func movePendingIntoRooms(tx *bolt.Tx) error {
	if err := addRoomBuckets(tx); err != nil { // every room gets its pending bucket
		return err
	}
	legacy := tx.Bucket(legacyPendingBucket)
	if legacy == nil {
		return nil
	}
	seq := legacy.Sequence()
	err := tx.Bucket(roomsBucket).ForEach(func(id, _ []byte) error {
		pending, err := roomPending(tx, string(id))
		if err != nil {
			return err
		}
		if err := pending.SetSequence(max(pending.Sequence(), seq)); err != nil {
			return err
		}
		old := legacy.Bucket(id)
		if old == nil {
			return nil
		}
		moved := false
		if err := old.ForEach(func(day, v []byte) error {
			moved = true
			return pending.Put(day, v)
		}); err != nil {
			return fmt.Errorf("move pending transcripts of room %q: %w", id, err)
		}
		if !moved {
			return nil
		}
		return listPendingRoom(tx, string(id))
	})
	if err != nil {
		return err
	}
	// Entries of a room that no longer has a record go with the bucket:
	// there is no room to write a page for.
	return tx.DeleteBucket(legacyPendingBucket)
}

// foldSpan widens roomID's record of day to cover span.
func foldSpan(tx *bolt.Tx, roomID, day string, span dayRecord) error {
	days := nestedBucketRO(tx, transcriptDaysBucket, roomID)
	if days == nil || span.FirstSeq == 0 {
		return nil
	}
	old, bad := decodeDay(days.Get([]byte(day)))
	folded := old.with(span)
	if !bad && folded == old {
		return nil
	}
	return putJSON(days, day, &folded)
}

// with is d widened to cover span; a zero span changes nothing.
func (d dayRecord) with(span dayRecord) dayRecord {
	if span.FirstSeq == 0 {
		return d
	}
	if d.FirstSeq == 0 || span.FirstSeq < d.FirstSeq {
		d.FirstSeq = span.FirstSeq
	}
	d.LastSeq = max(d.LastSeq, span.LastSeq)
	return d
}

// pendingSpan is the span a pending entry holds, zero if v is missing or
// unreadable.
func pendingSpan(v []byte) dayRecord {
	var rec pendingRecord
	if v == nil || json.Unmarshal(v, &rec) != nil {
		return dayRecord{}
	}
	return dayRecord{FirstSeq: rec.FirstSeq, LastSeq: rec.LastSeq}
}

// decodeDay decodes a day record; bad is true for a missing or unreadable
// one, which callers treat as absent.
func decodeDay(v []byte) (rec dayRecord, bad bool) {
	if v == nil || json.Unmarshal(v, &rec) != nil || rec.FirstSeq == 0 {
		return dayRecord{}, true
	}
	return rec, false
}

func putJSON(b *bolt.Bucket, key string, v any) error {
	enc, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	if err := b.Put([]byte(key), enc); err != nil {
		return fmt.Errorf("write %q: %w", key, err)
	}
	return nil
}
