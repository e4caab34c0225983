package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// crashCopy copies the database file and its journal as they are on disk
// now, which is what a crash of the process at this moment would leave:
// what the store wrote is in the files, and nothing more is written. The
// store must not be checkpointing meanwhile; tests that use it open the
// store with a checkpoint interval longer than they run.
func crashCopy(t *testing.T, path string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	copyFile(t, path, dst)
	copyFile(t, journalPath(path), journalPath(dst))
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// logLen is how many messages room's log holds in the closed file at path.
func logLen(t *testing.T, path, room string) int {
	t.Helper()
	n := 0
	viewClosed(t, path, func(tx *bolt.Tx) error {
		rb := nestedBucketRO(tx, logsBucket, room)
		if rb == nil {
			return nil
		}
		if log := rb.Bucket(logBucket); log != nil {
			n = log.Stats().KeyN
		}
		return nil
	})
	return n
}

var noTimedCheckpoints = Options{checkpointEvery: time.Hour}

// What a crash leaves between checkpoints: acknowledged messages that are
// only in the journal. The next Open applies them again, with their
// sequence numbers, times and client ids, and every effect a message has
// besides its log entry.
func TestCrashBeforeCheckpointLosesNothingAcknowledged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	clock := newFakeClock()
	opts := noTimedCheckpoints
	opts.Now, opts.DayOf = clock.Now, func(t time.Time) string { return t.UTC().Format("2006-01-02") }
	s, path := openTemp(t, opts)
	mustCreate(t, s, "a")
	mustCreate(t, s, "b")
	var acked []Message
	for i := range 6 {
		room := []string{"a", "b"}[i%2]
		acked = append(acked, mustAppend(t, s, room, fmt.Sprint("c", i), fmt.Sprint("message ", i)))
	}
	if _, err := s.SetReadMarker(ctx, "a", "u1", acked[4].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchParticipant(ctx, "b", Participant{UserID: "u2", DisplayName: "Two"}); err != nil {
		t.Fatal(err)
	}

	crashed := crashCopy(t, path)
	if n := logLen(t, crashed, "a"); n != 0 {
		t.Fatalf("setup: the file already holds %d of room a's messages; the test needs them in the journal alone", n)
	}
	s2 := openAt(t, crashed, Options{Now: clock.Now, DayOf: opts.DayOf})
	// Six messages, a read marker and a join, each sent alone: a batch
	// each.
	if n := s2.Replayed(); n != 8 {
		t.Errorf("Replayed() = %d, want 8", n)
	}
	for _, room := range []string{"a", "b"} {
		msgs, err := s2.After(ctx, room, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var want []Message
		for _, m := range acked {
			if m.RoomID == room {
				want = append(want, m)
			}
		}
		if len(msgs) != len(want) {
			t.Fatalf("room %s after the crash: %d messages, want the %d acknowledged", room, len(msgs), len(want))
		}
		for i := range want {
			if msgs[i].Seq != want[i].Seq || msgs[i].Text != want[i].Text || !msgs[i].SentAt.Equal(want[i].SentAt) {
				t.Errorf("room %s message %d after the crash = seq %d %q at %v, want seq %d %q at %v", room, i,
					msgs[i].Seq, msgs[i].Text, msgs[i].SentAt, want[i].Seq, want[i].Text, want[i].SentAt)
			}
		}
	}
	// A sender retrying after the crash gets its message, not a second one.
	again, dup, err := s2.Append(ctx, "a", NewMessage{ClientID: "c2", UserID: "u1", Text: "message 2"})
	if err != nil || !dup || again.Seq != acked[2].Seq {
		t.Errorf("retry after the crash = seq %d, duplicate %v, %v; want seq %d as a duplicate", again.Seq, dup, err, acked[2].Seq)
	}
	if next := mustAppend(t, s2, "a", "new", "after"); next.Seq != acked[4].Seq+1 {
		t.Errorf("first message after the crash got seq %d, want %d", next.Seq, acked[4].Seq+1)
	}
	marks, err := s2.ReadMarkers(ctx, "a", "u1")
	if err != nil || marks["u1"] != acked[4].Seq {
		t.Errorf("read marker after the crash = %v, %v; want %d", marks, err, acked[4].Seq)
	}
	room, err := s2.Room(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, p := range room.Participants {
		names[p.UserID] = p.DisplayName
	}
	if names["u2"] != "Two" || names["u1"] != "User One" {
		t.Errorf("room b's participants after the crash = %v", names)
	}
	days, err := s2.TranscriptDays(ctx, "a")
	if err != nil || len(days) != 1 || days[0].LastSeq < acked[4].Seq {
		t.Errorf("room a's transcript days after the crash = %+v, %v; want one reaching seq %d", days, err, acked[4].Seq)
	}
	// The replayed batches are in the file now, and their text is gone
	// from the journal.
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	if s3 := openAt(t, crashed, Options{}); s3.Replayed() != 0 {
		t.Errorf("after a clean Close, the next Open replayed %d batches", s3.Replayed())
	} else if err := s3.Close(); err != nil {
		t.Fatal(err)
	}
	if n := logLen(t, crashed, "a"); n != 4 {
		t.Errorf("room a in the file after the replay: %d messages, want 4", n)
	}
	if data, err := os.ReadFile(journalPath(crashed)); err != nil || bytes.Contains(data, []byte("message ")) {
		t.Errorf("the journal still holds replayed text after the next start (%v)", err)
	}
}

// A crash in the middle of writing a batch leaves a record cut short. That
// batch was never acknowledged (its flush had not returned): Open applies
// the whole records before it and starts over after them.
func TestTornJournalRecordIsNotApplied(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, noTimedCheckpoints)
	mustCreate(t, s, "r")
	for i := range 3 {
		mustAppend(t, s, "r", fmt.Sprint("c", i), fmt.Sprint("message ", i))
	}
	crashed := crashCopy(t, path)
	data, err := os.ReadFile(journalPath(crashed))
	if err != nil {
		t.Fatal(err)
	}
	recs := parseJournal(data)
	if len(recs) != 3 {
		t.Fatalf("setup: the journal holds %d records, want 3", len(recs))
	}
	// Cut the third record short: keep its header and half of the rest.
	end := 0
	for range 2 {
		end += journalHeader + int(be32(data[end:]))
	}
	third := journalHeader + int(be32(data[end:]))
	clear(data[end+third/2 : end+third])
	if err := os.WriteFile(journalPath(crashed), data, 0o600); err != nil {
		t.Fatal(err)
	}

	s2 := openAt(t, crashed, Options{})
	msgs, err := s2.After(context.Background(), "r", 0, 0)
	if err != nil || len(msgs) != 2 {
		t.Fatalf("after the torn record: %d messages (%v), want the 2 whole ones", len(msgs), err)
	}
	if m := mustAppend(t, s2, "r", "c2", "message 2 again"); m.Seq != 3 {
		t.Errorf("the message after them got seq %d, want 3", m.Seq)
	}
}

func be32(b []byte) uint32 {
	return uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
}

// After a checkpoint the journal is written from its start again, over
// records the file holds. Open must neither apply those again nor stop
// short of the new ones; and a file restored without its own journal is
// refused, not merged with a journal that does not follow from it.
func TestJournalAfterCheckpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := openTemp(t, noTimedCheckpoints)
	mustCreate(t, s, "r")
	for i := range 5 {
		mustAppend(t, s, "r", fmt.Sprint("old", i), fmt.Sprint("old message ", i))
	}
	beforeCheckpoint := crashCopy(t, path)
	// A read makes the checkpoint; the next batches overwrite the start.
	if _, err := s.Room(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, "r", "new0", "new")
	mustAppend(t, s, "r", "new1", "new")
	after := crashCopy(t, path)
	afterToo := crashCopy(t, path) // the first subtest's Open changes its copy

	t.Run("new records after old ones", func(t *testing.T) {
		if n := logLen(t, after, "r"); n != 5 {
			t.Fatalf("setup: the file holds %d messages, want the 5 checkpointed", n)
		}
		s2 := openAt(t, after, Options{})
		msgs, err := s2.After(ctx, "r", 0, 0)
		if err != nil || len(msgs) != 7 {
			t.Fatalf("%d messages (%v), want 7", len(msgs), err)
		}
		for i, m := range msgs {
			if m.Seq != uint64(i+1) {
				t.Fatalf("message %d has seq %d", i, m.Seq)
			}
		}
	})
	t.Run("file restored without its journal", func(t *testing.T) {
		// The file from before the checkpoint, the journal from after.
		mixed := filepath.Join(t.TempDir(), "chat.db")
		copyFile(t, beforeCheckpoint, mixed)
		copyFile(t, journalPath(afterToo), journalPath(mixed))
		s3, err := Open(mixed, Options{})
		if err == nil {
			_ = s3.Close()
		}
		if !errors.Is(err, ErrJournalMismatch) {
			t.Fatalf("Open = %v, want ErrJournalMismatch", err)
		}
	})
}

// A batch whose record would run past the journal's end goes to the file
// at once, and the journal starts over: nothing is lost however much one
// batch carries.
func TestBatchLargerThanTheJournal(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, noTimedCheckpoints)
	mustCreate(t, s, "r")
	big := string(bytes.Repeat([]byte("x"), 64<<10))
	n := journalSize/len(big) + 8
	for i := range n {
		mustAppend(t, s, "r", fmt.Sprint("c", i), big)
	}
	crashed := crashCopy(t, path)
	s2 := openAt(t, crashed, Options{})
	msgs, err := s2.After(context.Background(), "r", 0, 0)
	if err != nil || len(msgs) != n {
		t.Fatalf("%d messages (%v), want %d", len(msgs), err, n)
	}
}

// A checkpoint writes every waiting batch in one commit, on the timer as
// well as on demand.
func TestCheckpointOnTimer(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, Options{checkpointEvery: 20 * time.Millisecond})
	mustCreate(t, s, "r")
	for i := range 3 {
		mustAppend(t, s, "r", fmt.Sprint("c", i), "x")
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.unsettled.Load() {
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint 10 s after the last message")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := logLen(t, crashCopy(t, path), "r"); n != 3 {
		t.Errorf("the file holds %d messages after the timed checkpoint, want 3", n)
	}
}

// A journal whose database file is gone (deleted by hand, say) belongs to
// nothing: the new file starts empty and the old journal's text is wiped,
// not applied to it.
func TestJournalOfADeletedFileIsWiped(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, noTimedCheckpoints)
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "c", "words of a file that is gone")
	crashed := crashCopy(t, path)
	if err := os.Remove(crashed); err != nil {
		t.Fatal(err)
	}
	s2 := openAt(t, crashed, Options{})
	if n, err := s2.RoomCount(context.Background()); err != nil || n != 0 {
		t.Errorf("the new file has %d rooms (%v), want none", n, err)
	}
	if data, err := os.ReadFile(journalPath(crashed)); err != nil || bytes.Contains(data, []byte("words of a file")) {
		t.Errorf("the old journal's text is still there (%v)", err)
	}
}

// Whatever a crash or a damaged disk leaves in the journal, reading it
// never panics, and what it returns is a run of whole records numbered
// one after another, each of which encodes back to the bytes it came
// from.
func FuzzParseJournal(f *testing.F) {
	// Small seeds: an input the fuzzer finds interesting is minimised,
	// which takes long for a long one.
	now := time.Date(2026, 12, 2, 17, 0, 0, 0, time.UTC)
	var seed []byte
	for i, r := range []*request{
		{kind: opAppend, roomID: "r", msg: NewMessage{ClientID: "c", Text: "hi"}},
		{kind: opMarkers, marks: []ReadMarker{{RoomID: "r", UserID: "u", Seq: 3}}},
	} {
		rec, err := (&journal{}).encode(uint64(7+i), now, []*request{r})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(rec)
		f.Add(rec[:len(rec)-3])
		seed = append(seed, rec...)
	}
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		got := parseJournal(data)
		for i, b := range got {
			if i > 0 && b.lsn != got[i-1].lsn+1 {
				t.Fatalf("record %d has number %d after %d", i, b.lsn, got[i-1].lsn)
			}
		}
		// The records are the start of data, back to back.
		var again []byte
		for _, b := range got {
			rec, err := (&journal{}).encode(b.lsn, b.now, b.reqs)
			if err != nil {
				t.Fatal(err)
			}
			again = append(again, rec...)
		}
		if len(got) > 0 && !bytes.Equal(parseJournalBytes(t, again), parseJournalBytes(t, data[:len(again)])) {
			t.Fatal("the records read do not encode back to a journal that reads the same")
		}
	})
}

// parseJournalBytes reads data and encodes what it read again: equal for
// two journals with the same records.
func parseJournalBytes(t *testing.T, data []byte) []byte {
	var out []byte
	for _, b := range parseJournal(data) {
		rec, err := (&journal{}).encode(b.lsn, b.now, b.reqs)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec...)
	}
	return out
}

// A batch whose journal write fails is refused, and nothing of it stays,
// even if its record reaches the disk after all (a failed write or flush
// does not say which pages did): its number is spent and recorded in the
// file at once, so a replay skips such a record, and the batches after
// it still replay.
func TestFailedJournalWrite(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, path := openTemp(t, noTimedCheckpoints)
	mustCreate(t, s, "r")
	first := mustAppend(t, s, "r", "c1", "before")
	var (
		good    *os.File
		number  uint64 // the refused batch's record number
		healthy bool
	)
	onWriter(t, s, func() {
		good, number, healthy = s.jr.f, s.lsn+1, s.stalled == nil
		if !healthy {
			return
		}
		// Opened read-only, every write to it fails, as on a disk that
		// went bad.
		f, err := os.Open(journalPath(path))
		if err != nil {
			t.Error(err)
			return
		}
		s.jr.f = f
	})
	if !healthy {
		t.Fatal("setup: the store is stalled")
	}
	refused := NewMessage{ClientID: "c2", UserID: "u1", Text: "refused"}
	if m, _, err := s.Append(ctx, "r", refused); err == nil {
		t.Fatalf("Append with a failing journal = seq %d, want an error", m.Seq)
	}
	// The worse case: the refused batch's record is on the disk anyway,
	// where it would have gone.
	onWriter(t, s, func() {
		_ = s.jr.f.Close()
		s.jr.f = good
		rec, err := s.jr.encode(number, time.Now(), []*request{{kind: opAppend, roomID: "r", msg: refused}})
		if err == nil {
			_, err = good.WriteAt(rec, s.jr.pos)
		}
		if err != nil {
			t.Error(err)
		}
	})
	texts := func(s *Bolt) string {
		t.Helper()
		msgs, err := s.After(ctx, "r", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, m := range msgs {
			out = append(out, m.Text)
		}
		return fmt.Sprint(out)
	}
	if got := texts(openAt(t, crashCopy(t, path), Options{})); got != "[before]" {
		t.Errorf("a crash right after the refused batch leaves %s, want [before]", got)
	}

	second := mustAppend(t, s, "r", "c3", "after")
	third := mustAppend(t, s, "r", "c4", "after that")
	if second.Seq != first.Seq+1 || third.Seq != second.Seq+1 {
		t.Errorf("seqs %d, %d, %d: want them gapless (the refused message took none)", first.Seq, second.Seq, third.Seq)
	}
	if got := texts(openAt(t, crashCopy(t, path), Options{})); got != "[before after after that]" {
		t.Errorf("a later crash leaves %s, want the three acknowledged messages", got)
	}
}
