// Package storetest is the conformance suite for implementations of
// store.Store. An implementation's test calls Run with a factory of fresh
// databases; the suite checks, through the interface alone, the guarantees
// the chat service builds on: gapless per-room sequences under concurrent
// senders, idempotent client ids, paging, the hand-over from replay to live
// delivery through the commit callback, participants and files, read
// markers, bans, edits and deletes (and that erased text leaves the
// storage), topic and moderation events, the transcript bookkeeping, durability across close and
// reopen, ErrClosed after Close, and the refusal of a newer schema.
//
// Backend-specific behaviour (file locks, on-disk layout, migrations of
// particular old layouts) stays in the implementation's own tests.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

// Config is what a test asks of the store it opens. An implementation maps
// it onto its own options.
type Config struct {
	// OnCommit, if set, must be called as store.CommitFunc describes.
	OnCommit store.CommitFunc
	// Now, if set, is the store's clock: message times, participants'
	// LastSeen, transcript bookkeeping and ban expiry all read it. Times
	// the store returns must read back Equal after a reopen.
	Now func() time.Time
	// DayOf, if set, names the transcript day of a commit time and turns
	// on the transcript bookkeeping; nil turns it off.
	DayOf func(time.Time) string
	// MaxRoomsPerPage bounds the rooms CreateRoom makes per page; 0 means
	// no limit.
	MaxRoomsPerPage int
}

// Opener stands for one database of the implementation under test.
type Opener struct {
	// Open opens the database with cfg. Every call opens the same data,
	// so a test can close a store and open it again; a call may assume
	// the store it opened before was closed. Required. The suite closes
	// every store it opens.
	Open func(cfg Config) (store.Store, error)
	// MarkNewerSchema, if set, is called while the database is closed and
	// records in it a schema version newer than the implementation's, as
	// a later release would leave it. Open must then fail with
	// store.ErrNewerSchema and leave the database as it is. Nil skips that
	// check, for a backend without schema versions.
	MarkNewerSchema func() error
	// RawContains, if set, reports whether the database's storage as it
	// is now, read directly and not through the store, holds needle
	// anywhere; the suite calls it while the store is open and after it is
	// closed. It proves that erased text is gone from the storage, not
	// only hidden. Nil skips those checks.
	RawContains func(needle []byte) (bool, error)
}

// Run runs the suite. newDB must return an Opener for a fresh, empty
// database on every call; it may use t for temporary directories and
// cleanup. The subtests run in parallel, each on a database of its own.
func Run(t *testing.T, newDB func(t *testing.T) Opener) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, db Opener)
	}{
		{"CreateRoom", testCreateRoom},
		{"RoomPreview", testRoomPreview},
		{"RoomCountEmpty", testRoomCountEmpty},
		{"RoomsPerPage", testRoomsPerPage},
		{"AppendBasics", testAppendBasics},
		{"ConcurrentAppendsAreGapless", testConcurrentAppendsAreGapless},
		{"ConcurrentSameClientID", testConcurrentSameClientID},
		{"ClientIDPerSender", testClientIDPerSender},
		{"UnknownRoomDoesNotFailOthers", testUnknownRoomDoesNotFailOthers},
		{"AppendDoneBeforeSubmit", testAppendDoneBeforeSubmit},
		{"AppendDoneDuringCommit", testAppendDoneDuringCommit},
		{"Paging", testPaging},
		{"ReplayThenLive", testReplayThenLive},
		{"Participants", testParticipants},
		{"ParticipantsFirstSeenOrder", testParticipantsFirstSeenOrder},
		{"Files", testFiles},
		{"TranscriptTrackingOffWithoutDayOf", testTranscriptTrackingOffWithoutDayOf},
		{"TranscriptPendingFollowsMessagesAcrossDays", testTranscriptPendingFollowsMessagesAcrossDays},
		{"TranscriptDaySpanAcrossWrites", testTranscriptDaySpanAcrossWrites},
		{"TranscriptWrittenResolvesOnlyTheVersionItRead", testTranscriptWrittenResolvesOnlyTheVersionItRead},
		{"TranscriptFailedCountsAttemptsAndSurvivesReopen", testTranscriptFailedCountsAttemptsAndSurvivesReopen},
		{"TranscriptNewURLMarksNeighbours", testTranscriptNewURLMarksNeighbours},
		{"TranscriptsNewestFirst", testTranscriptsNewestFirst},
		{"ReadMarkers", testReadMarkers},
		{"ReadMarkersConcurrent", testReadMarkersConcurrent},
		{"ReadMarkersBatch", testReadMarkersBatch},
		{"MentionsStored", testMentionsStored},
		{"MentionsFollowChanges", testMentionsFollowChanges},
		{"Watches", testWatches},
		{"NotificationsExactlyOnce", testNotificationsExactlyOnce},
		{"Outbox", testOutbox},
		{"Bans", testBans},
		{"BanExpiry", testBanExpiry},
		{"EditAndDelete", testEditAndDelete},
		{"ChangeErrors", testChangeErrors},
		{"ConcurrentChanges", testConcurrentChanges},
		{"ErasedTextLeavesStorage", testErasedTextLeavesStorage},
		{"ChangeMarksTranscriptDay", testChangeMarksTranscriptDay},
		{"TopicAndModerationEvents", testTopicAndModerationEvents},
		{"ModerationEventErrors", testModerationEventErrors},
		{"Reopen", testReopen},
		{"Closed", testClosed},
		{"CloseWhileAppending", testCloseWhileAppending},
		{"NewerSchemaRefused", testNewerSchemaRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, newDB(t))
		})
	}
}

// open opens db with cfg and closes the store when the test ends.
func open(t *testing.T, db Opener, cfg Config) store.Store {
	t.Helper()
	s, err := db.Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// reopen closes s and opens db again with cfg.
func reopen(t *testing.T, s store.Store, db Opener, cfg Config) store.Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return open(t, db, cfg)
}

// newTickingClock advances one second per reading, so every commit gets a
// distinct, predictable time.
func newTickingClock() *testutil.Clock {
	return testutil.NewTickingClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Second)
}

func mustCreate(t *testing.T, s store.Store, id string) store.Room {
	t.Helper()
	r, err := s.CreateRoom(context.Background(), store.Room{ID: id, PageID: "p", Name: "Room " + id, Slug: id})
	if err != nil {
		t.Fatalf("CreateRoom(%q): %v", id, err)
	}
	return r
}

func mustAppend(t *testing.T, s store.Store, room, cid, text string) store.Message {
	t.Helper()
	m, dup, err := s.Append(context.Background(), room, store.NewMessage{ClientID: cid, UserID: "u1", UserName: "User One", Text: text})
	if err != nil {
		t.Fatalf("Append(%q, %q): %v", room, cid, err)
	}
	if dup {
		t.Fatalf("Append(%q, %q): unexpected duplicate", room, cid)
	}
	return m
}

func mustRoom(t *testing.T, s store.Store, id string) store.Room {
	t.Helper()
	r, err := s.Room(context.Background(), id)
	if err != nil {
		t.Fatalf("Room(%q): %v", id, err)
	}
	return r
}

func roomsEqual(a, b store.Room) bool {
	if a.ID != b.ID || a.PageID != b.PageID || a.Name != b.Name || a.Slug != b.Slug || a.Epoch != b.Epoch ||
		!a.CreatedAt.Equal(b.CreatedAt) || a.LastSeq != b.LastSeq || !a.LastActivity.Equal(b.LastActivity) ||
		len(a.Participants) != len(b.Participants) || len(a.Files) != len(b.Files) || len(a.Transcripts) != len(b.Transcripts) {
		return false
	}
	for i := range a.Participants {
		p, q := a.Participants[i], b.Participants[i]
		if p.UserID != q.UserID || p.DisplayName != q.DisplayName || !p.LastSeen.Equal(q.LastSeen) {
			return false
		}
	}
	for i := range a.Files {
		if !filesEqual(&a.Files[i], &b.Files[i]) {
			return false
		}
	}
	for i := range a.Transcripts {
		if a.Transcripts[i] != b.Transcripts[i] {
			return false
		}
	}
	return true
}

func filesEqual(a, b *store.File) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID && a.Name == b.Name && a.URL == b.URL && a.ContentType == b.ContentType &&
		a.Size == b.Size && a.UserID == b.UserID && a.UploadedAt.Equal(b.UploadedAt) && a.Seq == b.Seq
}

func messagesEqual(a, b store.Message) bool {
	return a.RoomID == b.RoomID && a.Seq == b.Seq && a.ClientID == b.ClientID && a.UserID == b.UserID &&
		a.UserName == b.UserName && a.Text == b.Text && a.HTML == b.HTML && a.SentAt.Equal(b.SentAt) &&
		filesEqual(a.File, b.File) && a.Kind == b.Kind && a.Target == b.Target && a.EditSeq == b.EditSeq &&
		a.EditedAt.Equal(b.EditedAt) && a.Erased == b.Erased && a.DeleteSeq == b.DeleteSeq && a.DeletedBy == b.DeletedBy &&
		a.Reason == b.Reason && a.Subject == b.Subject && a.Until.Equal(b.Until) &&
		slices.Equal(a.Mentions, b.Mentions) && a.MentionsRoom == b.MentionsRoom
}

// commitRecorder is an OnCommit that records what it saw and checks that
// calls never overlap and never come empty.
type commitRecorder struct {
	t        testing.TB
	inFlight atomic.Int32
	mu       sync.Mutex
	calls    int
	msgs     []store.Message
}

func (r *commitRecorder) onCommit(added []store.Message) {
	if r.inFlight.Add(1) != 1 {
		r.t.Error("OnCommit calls overlap")
	}
	defer r.inFlight.Add(-1)
	if len(added) == 0 {
		r.t.Error("OnCommit called with no messages")
	}
	r.mu.Lock()
	r.calls++
	r.msgs = append(r.msgs, added...)
	r.mu.Unlock()
}

func (r *commitRecorder) seen() []store.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]store.Message(nil), r.msgs...)
}

// checkRun asserts msgs are count consecutive seqs starting at first.
func checkRun(t *testing.T, msgs []store.Message, first uint64, count int) {
	t.Helper()
	if len(msgs) != count {
		t.Fatalf("got %d messages, want %d", len(msgs), count)
	}
	for i, m := range msgs {
		if want := first + uint64(i); m.Seq != want {
			t.Errorf("message %d: seq %d, want %d", i, m.Seq, want)
		}
		if m.RoomID == "" {
			t.Errorf("message %d: empty RoomID", i)
		}
	}
}

// wantErr fails the test unless err matches target.
func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s = %v, want %v", what, err, target)
	}
}

func cid(parts ...any) string { return fmt.Sprint(parts...) }
