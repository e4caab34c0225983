package store

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"
)

// A room's lists (participants, files, transcripts) grow for as long as the
// room is used. They live in buckets of their own under the room's logs
// bucket, not in the room record: every commit reads the record (and, up
// to layout 4, rewrote it), and reading years of participants and
// transcripts with each one would make sending slower the older the room
// gets.
//
//	logs/<roomID>/members/<userID>      JSON memberRecord (with its first-seen rank)
//	logs/<roomID>/files/<seq>           JSON fileRecord, seq of the announcing message
//	logs/<roomID>/transcripts/<date>    JSON transcriptRecord
//	logs/<roomID>/markers/<userID>      8-byte big-endian seq the user has read to (markers.go)
//	logs/<roomID>/bans/<userID>         JSON banRecord (bans.go)
//	logs/<roomID>/pending/<day>         JSON pendingRecord (transcripts.go)
//
// Databases written before this layout (layout 1) kept the lists inside the
// room record; Open moves them out once (see migrateRoomLists).
var (
	membersBucket     = []byte("members")
	filesBucket       = []byte("files")
	transcriptsBucket = []byte("transcripts")
	markersBucket     = []byte("markers")
	bansBucket        = []byte("bans")
)

// roomSubBuckets are the buckets every room has under logs/<roomID>.
var roomSubBuckets = [][]byte{logBucket, dedupeBucket, membersBucket, filesBucket, transcriptsBucket, markersBucket, bansBucket, pendingBucket}

// createRoomBuckets creates logs/<roomID> and its sub-buckets as needed.
func createRoomBuckets(tx *bolt.Tx, roomID string) (*bolt.Bucket, error) {
	rb, err := tx.Bucket(logsBucket).CreateBucketIfNotExists([]byte(roomID))
	if err != nil {
		return nil, fmt.Errorf("create buckets of room %q: %w", roomID, err)
	}
	for _, name := range roomSubBuckets {
		if _, err := rb.CreateBucketIfNotExists(name); err != nil {
			return nil, fmt.Errorf("create bucket %q of room %q: %w", name, roomID, err)
		}
	}
	return rb, nil
}

// loadRoom reads a room's record and its lists.
func loadRoom(tx *bolt.Tx, roomID string) (Room, error) {
	v := tx.Bucket(roomsBucket).Get([]byte(roomID))
	if v == nil {
		return Room{}, fmt.Errorf("store: room %q: %w", roomID, ErrRoomNotFound)
	}
	r, err := decodeRoom(roomID, v)
	if err != nil {
		return Room{}, fmt.Errorf("store: %w", err)
	}
	rb, err := roomBuckets(tx, roomID)
	if err != nil {
		return Room{}, err
	}
	readHead(rb.log, &r)
	if r.Participants, err = readMembers(rb.members); err != nil {
		return Room{}, fmt.Errorf("store: participants of room %q: %w", roomID, err)
	}
	err = rb.files.ForEach(func(k, v []byte) error {
		var f fileRecord
		if err := json.Unmarshal(v, &f); err != nil {
			return fmt.Errorf("decode file %x: %w", k, err)
		}
		r.Files = append(r.Files, File(f))
		return nil
	})
	if err != nil {
		return Room{}, fmt.Errorf("store: files of room %q: %w", roomID, err)
	}
	c := rb.transcripts.Cursor()
	for k, v := c.Last(); k != nil; k, v = c.Prev() { // newest first
		var t transcriptRecord
		if err := json.Unmarshal(v, &t); err != nil {
			return Room{}, fmt.Errorf("store: transcript %s of room %q: %w", k, roomID, err)
		}
		r.Transcripts = append(r.Transcripts, Transcript(t))
	}
	return r, nil
}

// readMembers returns a room's participants in first-seen order.
func readMembers(b *bolt.Bucket) ([]Participant, error) {
	var recs []memberRecord
	err := b.ForEach(func(k, v []byte) error {
		var m memberRecord
		if err := json.Unmarshal(v, &m); err != nil {
			return fmt.Errorf("decode participant %q: %w", k, err)
		}
		m.UserID = string(k)
		recs = append(recs, m)
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(recs, func(a, b memberRecord) int { return cmp.Compare(a.Rank, b.Rank) })
	out := make([]Participant, len(recs))
	for i, m := range recs {
		out[i] = Participant{UserID: m.UserID, DisplayName: m.DisplayName, LastSeen: m.LastSeen}
	}
	return out, nil
}

// putMember writes m, giving it the next first-seen rank if it has none.
func putMember(b *bolt.Bucket, m *memberRecord) error {
	if m.Rank == 0 {
		rank, err := b.NextSequence()
		if err != nil {
			return fmt.Errorf("rank participant %q: %w", m.UserID, err)
		}
		m.Rank = rank
	}
	v, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("encode participant %q: %w", m.UserID, err)
	}
	if err := b.Put([]byte(m.UserID), v); err != nil {
		return fmt.Errorf("write participant %q: %w", m.UserID, err)
	}
	return nil
}

// getMember reads one participant record; a user not seen before gets a
// zero record (Rank 0: putMember ranks it).
func getMember(b *bolt.Bucket, userID string) (memberRecord, error) {
	var m memberRecord
	if v := b.Get([]byte(userID)); v != nil {
		if err := json.Unmarshal(v, &m); err != nil {
			return memberRecord{}, fmt.Errorf("decode participant %q: %w", userID, err)
		}
	}
	m.UserID = userID
	return m, nil
}

// putFile records an uploaded file under the seq of its message.
func putFile(b *bolt.Bucket, f File) error {
	v, err := json.Marshal(fileRecord(f))
	if err != nil {
		return fmt.Errorf("encode file %q: %w", f.Name, err)
	}
	if err := b.Put(seqKey(f.Seq), v); err != nil {
		return fmt.Errorf("write file %q: %w", f.Name, err)
	}
	return nil
}

// migrateRoomLists moves the room's lists out of layout-1 room records
// into the room's buckets, creating those for every room.
func migrateRoomLists(tx *bolt.Tx) error {
	rooms := tx.Bucket(roomsBucket)
	var ids []string // collected first: bbolt forbids writing a bucket while iterating it
	if err := rooms.ForEach(func(k, _ []byte) error {
		ids = append(ids, string(k))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		if err := migrateRoom(tx, rooms, id); err != nil {
			return fmt.Errorf("move lists of room %q out of its record: %w", id, err)
		}
	}
	return nil
}

func migrateRoom(tx *bolt.Tx, rooms *bolt.Bucket, id string) error {
	var rec roomRecord
	if err := json.Unmarshal(rooms.Get([]byte(id)), &rec); err != nil {
		return fmt.Errorf("decode: %w", err)
	}
	rb, err := createRoomBuckets(tx, id)
	if err != nil {
		return err
	}
	members := rb.Bucket(membersBucket)
	for _, m := range rec.Participants {
		if err := putMember(members, &m); err != nil {
			return err
		}
	}
	files := rb.Bucket(filesBucket)
	for _, f := range rec.Files {
		if err := putFile(files, File(f)); err != nil {
			return err
		}
	}
	transcripts := rb.Bucket(transcriptsBucket)
	for _, t := range rec.Transcripts {
		if err := putJSON(transcripts, t.Date, &t); err != nil {
			return err
		}
	}
	rec.Participants, rec.Files, rec.Transcripts = nil, nil, nil
	v, err := json.Marshal(&rec)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return rooms.Put([]byte(id), v)
}

// addRoomBuckets gives every room the buckets that layout 3 added.
func addRoomBuckets(tx *bolt.Tx) error {
	var ids []string
	if err := tx.Bucket(roomsBucket).ForEach(func(k, _ []byte) error {
		ids = append(ids, string(k))
		return nil
	}); err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := createRoomBuckets(tx, id); err != nil {
			return err
		}
	}
	return nil
}
