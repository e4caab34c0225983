package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// rawRoomRecord reads a room's record straight from the closed file at path.
func rawRoomRecord(t *testing.T, path, roomID string) (record []byte, layout string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		record = slices.Clone(tx.Bucket(roomsBucket).Get([]byte(roomID)))
		if meta := tx.Bucket(metaBucket); meta != nil {
			layout = string(meta.Get(layoutKey))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return record, layout
}

// A room used for years must not make every send slower: the record each
// commit rewrites keeps the same size however many participants, files and
// transcripts the room has.
func TestRoomRecordDoesNotGrowWithItsLists(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "chat.db")
	s := openAt(t, path, Options{Now: clock.Now})
	ctx := context.Background()
	mustCreate(t, s, "r")

	const senders, uploads, days = 300, 20, 40
	for i := range senders {
		if _, _, err := s.Append(ctx, "r", NewMessage{ClientID: fmt.Sprint("m", i), UserID: fmt.Sprintf("u%03d", senders-i), UserName: fmt.Sprint("User ", i), Text: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range uploads {
		f := &File{ID: fmt.Sprint("f", i), Name: fmt.Sprintf("file%02d.txt", i), URL: fmt.Sprint("/files/", i), ContentType: "text/plain", Size: int64(i), UserID: "u001"}
		if _, _, err := s.Append(ctx, "r", NewMessage{ClientID: fmt.Sprint("f", i), UserID: "u001", Text: "file", File: f}); err != nil {
			t.Fatal(err)
		}
	}
	for d := range days {
		date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d).Format(time.DateOnly)
		if err := s.TranscriptWritten(ctx, TranscriptWrite{RoomID: "r", Date: date, Page: &Transcript{Title: "Transcript " + date, URL: "/pages/" + date}}); err != nil {
			t.Fatal(err)
		}
	}

	// The lists themselves are the conformance suite's business; here they
	// only need to be there, so the record's size means something.
	room, err := s.Room(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(room.Participants) != senders || len(room.Files) != uploads || len(room.Transcripts) != days {
		t.Fatalf("room has %d participants, %d files, %d transcripts; want %d, %d, %d",
			len(room.Participants), len(room.Files), len(room.Transcripts), senders, uploads, days)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rec, layout := rawRoomRecord(t, path, "r")
	if len(rec) > 300 {
		t.Errorf("room record is %d bytes after %d participants, %d files and %d transcripts: %s", len(rec), senders, uploads, days, rec)
	}
	if layout != strconv.Itoa(currentLayout) {
		t.Errorf("layout = %q, want %d", layout, currentLayout)
	}
}

// A database written before the room's lists had buckets of their own
// opens with everything in it, and keeps working.
func TestOpenMovesListsOutOfOldRoomRecords(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chat.db")
	at := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	old := fmt.Sprintf(`{"page":"p","name":"Old Room","slug":"old","epoch":"e1","created":%[1]q,"last_seq":2,"last_at":%[1]q,`+
		`"members":[{"uid":"zed","name":"Zed","seen":%[1]q},{"uid":"amy","name":"Amy","seen":%[1]q}],`+
		`"files":[{"id":"f1","name":"a.txt","url":"/f/1","type":"text/plain","size":3,"uid":"zed","at":%[1]q,"seq":2}],`+
		`"transcripts":[{"date":"2025-06-02","title":"June 2","url":"/t/2"},{"date":"2025-06-01","title":"June 1","url":"/t/1"}]}`,
		at.Format(time.RFC3339))
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		rooms, err := tx.CreateBucket(roomsBucket)
		if err != nil {
			return err
		}
		if err := rooms.Put([]byte("p.old"), []byte(old)); err != nil {
			return err
		}
		logs, err := tx.CreateBucket(logsBucket)
		if err != nil {
			return err
		}
		rb, err := logs.CreateBucket([]byte("p.old"))
		if err != nil {
			return err
		}
		log, err := rb.CreateBucket(logBucket)
		if err != nil {
			return err
		}
		dedupe, err := rb.CreateBucket(dedupeBucket)
		if err != nil {
			return err
		}
		for seq := uint64(1); seq <= 2; seq++ {
			k := binary.BigEndian.AppendUint64(nil, seq)
			msg := fmt.Sprintf(`{"cid":"c%d","uid":"zed","name":"Zed","text":"m%d","at":%q}`, seq, seq, at.Format(time.RFC3339))
			if err := log.Put(k, []byte(msg)); err != nil {
				return err
			}
			if err := dedupe.Put(fmt.Appendf(nil, "c%d", seq), k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	clock := newFakeClock()
	s := openAt(t, path, Options{Now: clock.Now})
	ctx := context.Background()
	if _, dup, err := s.Append(ctx, "p.old", NewMessage{ClientID: "c2", UserID: "zed", Text: "m2"}); err != nil || !dup {
		t.Fatalf("retry of an old message: dup=%v, %v", dup, err)
	}
	m := mustAppend(t, s, "p.old", "c3", "new")
	if m.Seq != 3 {
		t.Fatalf("new message got seq %d, want 3", m.Seq)
	}
	room, err := s.Room(ctx, "p.old")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range room.Participants {
		ids = append(ids, p.UserID)
	}
	if want := []string{"zed", "amy", "u1"}; !slices.Equal(ids, want) {
		t.Errorf("participants %v, want %v (first-seen order kept, the new sender last)", ids, want)
	}
	if len(room.Files) != 1 || room.Files[0].Name != "a.txt" || room.Files[0].Seq != 2 || !room.Files[0].UploadedAt.Equal(at) {
		t.Errorf("files = %+v", room.Files)
	}
	want := []Transcript{{"2025-06-02", "June 2", "/t/2"}, {"2025-06-01", "June 1", "/t/1"}}
	if !slices.Equal(room.Transcripts, want) {
		t.Errorf("transcripts = %+v, want %+v", room.Transcripts, want)
	}
	if room.Name != "Old Room" || room.Epoch != "e1" || room.LastSeq != 3 {
		t.Errorf("room = %+v", room)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	rec, layout := rawRoomRecord(t, path, "p.old")
	if layout != strconv.Itoa(currentLayout) {
		t.Errorf("layout = %q after Open, want %d", layout, currentLayout)
	}
	for _, list := range []string{`"members"`, `"files"`, `"transcripts"`} {
		if strings.Contains(string(rec), list) {
			t.Errorf("room record still holds %s: %s", list, rec)
		}
	}
	// Opening again finds the layout current and changes nothing.
	s = openAt(t, path, Options{Now: clock.Now})
	again, err := s.Room(ctx, "p.old")
	if err != nil {
		t.Fatal(err)
	}
	if !roomsEqual(again, room) {
		t.Errorf("room after second open = %+v, want %+v", again, room)
	}
}
