package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pagechat/pagechat/internal/testutil"
)

// rawRoomRecord reads a room's record straight from the closed file at path.
func rawRoomRecord(t *testing.T, path, roomID string) (record []byte, layout string) {
	t.Helper()
	viewClosed(t, path, func(tx *bolt.Tx) error {
		record = slices.Clone(tx.Bucket(roomsBucket).Get([]byte(roomID)))
		if meta := tx.Bucket(metaBucket); meta != nil {
			layout = string(meta.Get(layoutKey))
		}
		return nil
	})
	return record, layout
}

// A room used for years must not make its record, which every room table
// and every commit reads, grow: it keeps the same size however many
// participants, files and transcripts the room has.
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

// A plain message leaves the rooms bucket alone, so that its commit does
// not write that bucket's pages; the room's last sequence and activity
// still show everywhere they are read, before and after a reopen, and a
// topic, which the record holds, still reaches it.
func TestMessagesLeaveTheRoomRecord(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "chat.db")
	s := openAt(t, path, Options{Now: clock.Now})
	ctx := context.Background()
	// Enough rooms for the bucket to have a page of its own, which moves
	// (bbolt copies on write) whenever anything in it is written.
	for i := range 40 {
		mustCreate(t, s, fmt.Sprint("other-room-", i))
	}
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "c1", "first")
	before, page := rawRecordOpen(t, s, "r")
	if page == 0 {
		t.Fatal("the rooms bucket is inline; the test needs more rooms")
	}
	last := mustAppend(t, s, "r", "c2", "second")
	if after, moved := rawRecordOpen(t, s, "r"); moved != page || !bytes.Equal(after, before) {
		t.Errorf("a plain message rewrote the rooms bucket (root page %d, then %d)", page, moved)
	}

	check := func(when string, s *Bolt, wantSeq uint64, wantAt time.Time) {
		t.Helper()
		room, err := s.Room(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if room.LastSeq != wantSeq || !room.LastActivity.Equal(wantAt) {
			t.Errorf("%s: Room has last seq %d at %v, want %d at %v", when, room.LastSeq, room.LastActivity, wantSeq, wantAt)
		}
		p, err := s.RoomPreview(ctx, "r", PreviewLimits{Participants: 5, Files: 5, Transcripts: 5})
		if err != nil {
			t.Fatal(err)
		}
		if p.Room.LastSeq != wantSeq || !p.Room.LastActivity.Equal(wantAt) {
			t.Errorf("%s: the room table has last seq %d at %v, want %d at %v", when, p.Room.LastSeq, p.Room.LastActivity, wantSeq, wantAt)
		}
	}
	check("after two messages", s, last.Seq, last.SentAt)

	topic, _, err := s.Append(ctx, "r", NewMessage{ClientID: "t", UserID: "mod", Kind: KindTopic, Text: "Plans"})
	if err != nil {
		t.Fatal(err)
	}
	if rec, _ := rawRecordOpen(t, s, "r"); bytes.Equal(rec, before) {
		t.Error("a topic left the room record unchanged")
	}
	check("after a topic", s, topic.Seq, topic.SentAt)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path, Options{Now: clock.Now})
	check("after a reopen", s, topic.Seq, topic.SentAt)
	if m := mustAppend(t, s, "r", "c3", "third"); m.Seq != topic.Seq+1 {
		t.Errorf("the next message after a reopen got seq %d, want %d", m.Seq, topic.Seq+1)
	}
	if room := roomOf(t, s, "r"); room.Topic != "Plans" || room.TopicBy != "mod" {
		t.Errorf("topic after a reopen = %q by %q", room.Topic, room.TopicBy)
	}
}

// A layout-4 file kept the room's last sequence and activity in its record
// too. Open takes them from the log from then on, and a last entry too
// damaged to read leaves the record's time in place instead of making the
// room unusable.
func TestOpenReadsLayout4Heads(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chat.db")
	s := openAt(t, path, Options{Now: newFakeClock().Now})
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "c1", "first")
	second := mustAppend(t, s, "r", "c2", "second")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	recordAt := second.SentAt.Add(-time.Hour)
	editClosed(t, path, func(tx *bolt.Tx) error {
		rooms := tx.Bucket(roomsBucket)
		var rec roomRecord
		if err := json.Unmarshal(rooms.Get([]byte("r")), &rec); err != nil {
			return err
		}
		rec.LastSeq, rec.LastActivity = second.Seq, recordAt
		v, err := json.Marshal(&rec)
		if err != nil {
			return err
		}
		if err := rooms.Put([]byte("r"), v); err != nil {
			return err
		}
		log := tx.Bucket(logsBucket).Bucket([]byte("r")).Bucket(logBucket)
		if err := log.Put(seqKey(second.Seq), []byte("{damaged")); err != nil {
			return err
		}
		return tx.Bucket(metaBucket).Put(layoutKey, []byte("4"))
	})

	s = openAt(t, path, Options{Now: newFakeClock().Now})
	room := roomOf(t, s, "r")
	if room.LastSeq != second.Seq || !room.LastActivity.Equal(recordAt) {
		t.Errorf("room = last seq %d at %v, want %d at the record's %v", room.LastSeq, room.LastActivity, second.Seq, recordAt)
	}
	if m := mustAppend(t, s, "r", "c3", "third"); m.Seq != second.Seq+1 {
		t.Errorf("the next message got seq %d, want %d", m.Seq, second.Seq+1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, layout := rawRoomRecord(t, path, "r"); layout != strconv.Itoa(currentLayout) {
		t.Errorf("layout = %q, want %d", layout, currentLayout)
	}
}

// rawRecordOpen is the stored room record, read through the open store,
// and the root page of the rooms bucket (0 while the bucket is inline).
func rawRecordOpen(t *testing.T, s *Bolt, roomID string) (rec []byte, root uint64) {
	t.Helper()
	if err := s.view(context.Background(), func(tx *bolt.Tx) error {
		rooms := tx.Bucket(roomsBucket)
		rec, root = slices.Clone(rooms.Get([]byte(roomID))), uint64(rooms.Root())
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return rec, root
}

func roomOf(t *testing.T, s *Bolt, roomID string) Room {
	t.Helper()
	room, err := s.Room(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	return room
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
	editClosed(t, path, func(tx *bolt.Tx) error {
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

// A participant's last-seen time moves when it is a minute old, or with a
// new name, not with every message: that keeps the members bucket out of
// most commits. The room shows the time to the minute.
func TestLastSeenMovesByTheMinute(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	clock := testutil.NewClock(start)
	s, _ := openTemp(t, Options{Now: clock.Now})
	ctx := context.Background()
	mustCreate(t, s, "r")
	send := func(name string) {
		t.Helper()
		if _, _, err := s.Append(ctx, "r", NewMessage{UserID: "u1", UserName: name, Text: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, step := range []struct {
		after    time.Duration // since start
		name     string
		wantSeen time.Duration // since start
		wantName string
	}{
		{0, "Ann", 0, "Ann"},
		{30 * time.Second, "Ann", 0, "Ann"},
		{59 * time.Second, "", 0, "Ann"},
		{61 * time.Second, "Ann", 61 * time.Second, "Ann"},
		{62 * time.Second, "Annie", 62 * time.Second, "Annie"},
		{90 * time.Second, "Annie", 62 * time.Second, "Annie"},
	} {
		clock.Set(start.Add(step.after))
		send(step.name)
		p := roomOf(t, s, "r").Participants
		if len(p) != 1 || !p[0].LastSeen.Equal(start.Add(step.wantSeen)) || p[0].DisplayName != step.wantName {
			t.Errorf("after a message at +%v as %q: participants %+v, want %q last seen at +%v", step.after, step.name, p, step.wantName, step.wantSeen)
		}
	}
}

// A layout-5 file kept every room's pending transcript entries in one
// shared bucket. Open moves them into the rooms' own buckets: the pending
// list, a page write against an entry's old version and the next version
// handed out all carry on as before.
func TestOpenMovesPendingTranscriptsIntoRooms(t *testing.T) {
	t.Parallel()
	utcDay := func(t time.Time) string { return t.UTC().Format(time.DateOnly) }
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	clock := testutil.NewClock(start)
	path := filepath.Join(t.TempDir(), "chat.db")
	s := openAt(t, path, Options{Now: clock.Now, DayOf: utcDay})
	mustCreate(t, s, "r")
	mustCreate(t, s, "quiet")
	mustAppend(t, s, "r", "c1", "one")
	mustAppend(t, s, "r", "c2", "two")
	ctx := context.Background()
	before, err := s.PendingTranscripts(ctx)
	if err != nil || len(before) != 1 {
		t.Fatalf("pending before = %+v, %v", before, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Put the file back the way layout 5 had it.
	const sharedSeq = 500
	editClosed(t, path, func(tx *bolt.Tx) error {
		legacy, err := tx.CreateBucket(legacyPendingBucket)
		if err != nil {
			return err
		}
		if err := legacy.SetSequence(sharedSeq); err != nil {
			return err
		}
		for _, id := range []string{"r", "quiet"} {
			rb := tx.Bucket(logsBucket).Bucket([]byte(id))
			if id == "r" {
				dst, err := legacy.CreateBucket([]byte(id))
				if err != nil {
					return err
				}
				if err := rb.Bucket(pendingBucket).ForEach(dst.Put); err != nil {
					return err
				}
			}
			if err := rb.DeleteBucket(pendingBucket); err != nil {
				return err
			}
		}
		if err := tx.DeleteBucket(pendingRoomsBucket); err != nil {
			return err
		}
		return tx.Bucket(metaBucket).Put(layoutKey, []byte("5"))
	})

	s = openAt(t, path, Options{Now: clock.Now, DayOf: utcDay})
	after, err := s.PendingTranscripts(ctx)
	if err != nil || len(after) != 1 || after[0] != before[0] {
		t.Fatalf("pending after the move = %+v, %v; want %+v", after, err, before)
	}
	// The next change gets a version above every one handed out before.
	mustAppend(t, s, "r", "c3", "three")
	p, err := s.PendingTranscripts(ctx)
	if err != nil || len(p) != 1 || p[0].Version <= sharedSeq || p[0].LastSeq != 3 {
		t.Fatalf("pending after another message = %+v, %v; want last seq 3 and a version above %d", p, err, sharedSeq)
	}
	if err := s.TranscriptWritten(ctx, TranscriptWrite{RoomID: "r", Date: "2026-03-01", Version: p[0].Version,
		Page: &Transcript{Title: "March 1", URL: "/t/1"}}); err != nil {
		t.Fatal(err)
	}
	if p, err := s.PendingTranscripts(ctx); err != nil || len(p) != 0 {
		t.Errorf("pending after the page write = %+v, %v; want none", p, err)
	}
	// A quiet room's first message is pending like any other.
	mustAppend(t, s, "quiet", "q1", "hello")
	if p, err := s.PendingTranscripts(ctx); err != nil || len(p) != 1 || p[0].RoomID != "quiet" || p[0].Version <= sharedSeq {
		t.Errorf("pending after the quiet room's message = %+v, %v", p, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	viewClosed(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket(legacyPendingBucket) != nil {
			t.Error("the shared pending bucket is still there")
		}
		if got := string(tx.Bucket(metaBucket).Get(layoutKey)); got != strconv.Itoa(currentLayout) {
			t.Errorf("layout = %q, want %d", got, currentLayout)
		}
		return nil
	})
}
