package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

func testCreateRoom(t *testing.T, db Opener) {
	clock := newTickingClock()
	s := open(t, db, Config{Now: clock.Now})
	ctx := context.Background()

	in := store.Room{
		ID: "page1.general", PageID: "page1", Name: "General", Slug: "general",
		Epoch: "caller-supplied", LastSeq: 42,
		Participants: []store.Participant{{UserID: "creator", DisplayName: "Creator"}},
	}
	r1, err := s.CreateRoom(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if r1.Epoch == "" || r1.Epoch == in.Epoch {
		t.Errorf("Epoch = %q, want one the store made", r1.Epoch)
	}
	if r1.CreatedAt.IsZero() || r1.LastSeq != 0 || !r1.LastActivity.IsZero() {
		t.Errorf("new room = %+v, want CreatedAt set, no messages", r1)
	}
	if r1.Name != "General" || r1.PageID != "page1" || r1.Slug != "general" || len(r1.Participants) != 1 {
		t.Errorf("new room = %+v, lost caller fields", r1)
	}

	again, err := s.CreateRoom(ctx, store.Room{ID: "page1.general", Name: "Renamed"})
	if err != nil {
		t.Fatal(err)
	}
	if !roomsEqual(again, r1) {
		t.Errorf("second CreateRoom = %+v, want unchanged %+v", again, r1)
	}
	if got := mustRoom(t, s, "page1.general"); !roomsEqual(got, r1) {
		t.Errorf("Room = %+v, want %+v", got, r1)
	}

	other, err := s.CreateRoom(ctx, store.Room{ID: "page1.other", PageID: "page1", Name: "Other", Slug: "other"})
	if err != nil {
		t.Fatal(err)
	}
	if other.Epoch == r1.Epoch {
		t.Error("two rooms got the same epoch")
	}
	if n, err := s.RoomCount(ctx); err != nil || n != 2 {
		t.Errorf("RoomCount = %d, %v; want 2", n, err)
	}

	if _, err := s.CreateRoom(ctx, store.Room{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("CreateRoom(empty id) = %v, want ErrInvalid", err)
	}
	if _, err := s.Room(ctx, "nope"); !errors.Is(err, store.ErrRoomNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Room(unknown) = %v, want ErrRoomNotFound naming the room", err)
	}
}

func testRoomCountEmpty(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	if n, err := s.RoomCount(context.Background()); err != nil || n != 0 {
		t.Errorf("RoomCount = %d, %v; want 0", n, err)
	}
}

// Room ids are "<pageID>.<slug>"; the limit counts a page's rooms, whatever
// other pages have, and never stops an existing room from being opened.
func testRoomsPerPage(t *testing.T, db Opener) {
	const limit = 2
	s := open(t, db, Config{MaxRoomsPerPage: limit})
	ctx := context.Background()
	create := func(page, slug string) error {
		_, err := s.CreateRoom(ctx, store.Room{ID: page + "." + slug, PageID: page, Name: slug, Slug: slug})
		return err
	}
	for i, slug := range []string{"a", "b"} {
		if err := create("full", slug); err != nil {
			t.Fatalf("room %d of %d: %v", i+1, limit, err)
		}
	}
	err := create("full", "c")
	if !errors.Is(err, store.ErrTooManyRooms) || !strings.Contains(err.Error(), "full") {
		t.Errorf("room over the limit = %v, want ErrTooManyRooms naming the page", err)
	}
	if _, err := s.Room(ctx, "full.c"); !errors.Is(err, store.ErrRoomNotFound) {
		t.Errorf("refused room exists: %v", err)
	}
	if err := create("full", "a"); err != nil {
		t.Errorf("opening an existing room of a full page: %v", err)
	}
	// A page whose id starts like the full one's is a different page.
	for _, page := range []string{"other", "ful", "full2"} {
		if err := create(page, "a"); err != nil {
			t.Errorf("first room of page %q: %v", page, err)
		}
	}
	if n, err := s.RoomCount(ctx); err != nil || n != limit+3 {
		t.Errorf("RoomCount = %d, %v; want %d", n, err, limit+3)
	}
}

func testParticipants(t *testing.T, db Opener) {
	clock := newTickingClock()
	s := open(t, db, Config{Now: clock.Now})
	ctx := context.Background()
	mustCreate(t, s, "r")
	t1 := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)

	steps := []store.Participant{
		{UserID: "u1", DisplayName: "Ann", LastSeen: t1},
		{UserID: "u2", DisplayName: "Bob"},
		{UserID: "u1", DisplayName: "Annie", LastSeen: t1.Add(time.Hour)},
		{UserID: "u2"}, // no name: keeps "Bob"
	}
	for _, p := range steps {
		if err := s.TouchParticipant(ctx, "r", p); err != nil {
			t.Fatal(err)
		}
	}
	m, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: "x", UserID: "u3", UserName: "Cy", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	room := mustRoom(t, s, "r")
	want := []struct{ id, name string }{{"u1", "Annie"}, {"u2", "Bob"}, {"u3", "Cy"}}
	if len(room.Participants) != len(want) {
		t.Fatalf("participants = %+v", room.Participants)
	}
	for i, w := range want {
		if p := room.Participants[i]; p.UserID != w.id || p.DisplayName != w.name {
			t.Errorf("participant %d = %+v, want %s/%s", i, p, w.id, w.name)
		}
	}
	if !room.Participants[0].LastSeen.Equal(t1.Add(time.Hour)) {
		t.Errorf("u1 LastSeen = %v", room.Participants[0].LastSeen)
	}
	if room.Participants[1].LastSeen.IsZero() {
		t.Error("u2 LastSeen not filled in")
	}
	if !room.Participants[2].LastSeen.Equal(m.SentAt) {
		t.Errorf("sender LastSeen = %v, want %v", room.Participants[2].LastSeen, m.SentAt)
	}

	wantErr(t, "TouchParticipant(unknown room)", s.TouchParticipant(ctx, "nope", store.Participant{UserID: "u1"}), store.ErrRoomNotFound)
	wantErr(t, "TouchParticipant(empty user id)", s.TouchParticipant(ctx, "r", store.Participant{}), store.ErrInvalid)
}

// Participants are listed in the order they were first seen, not in any
// order of their ids, however many there are and across a reopen.
func testParticipantsFirstSeenOrder(t *testing.T, db Opener) {
	clock := newTickingClock()
	cfg := Config{Now: clock.Now}
	s := open(t, db, cfg)
	ctx := context.Background()
	mustCreate(t, s, "r")
	const senders = 300
	for i := range senders {
		m := store.NewMessage{ClientID: fmt.Sprint("m", i), UserID: fmt.Sprintf("u%03d", senders-i), UserName: fmt.Sprint("User ", i), Text: "hi"}
		if _, _, err := s.Append(ctx, "r", m); err != nil {
			t.Fatal(err)
		}
	}
	// Seen again: the order stays the first-seen one.
	if err := s.TouchParticipant(ctx, "r", store.Participant{UserID: fmt.Sprintf("u%03d", senders)}); err != nil {
		t.Fatal(err)
	}
	check := func(room store.Room) {
		t.Helper()
		if len(room.Participants) != senders {
			t.Fatalf("%d participants, want %d", len(room.Participants), senders)
		}
		for i, p := range room.Participants {
			if want := fmt.Sprintf("u%03d", senders-i); p.UserID != want || p.DisplayName != fmt.Sprint("User ", i) {
				t.Fatalf("participant %d = %+v, want %s", i, p, want)
			}
		}
	}
	check(mustRoom(t, s, "r"))
	s = reopen(t, s, db, cfg)
	check(mustRoom(t, s, "r"))
}

// An upload is announced by a message carrying its File; the room lists its
// files oldest first, each stamped with the commit time and the announcing
// message's seq.
func testFiles(t *testing.T, db Opener) {
	clock := newTickingClock()
	cfg := Config{Now: clock.Now}
	s := open(t, db, cfg)
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "plain", "before the files")

	const uploads = 20
	var announced []store.Message
	for i := range uploads {
		f := &store.File{
			ID: fmt.Sprint("f", i), Name: fmt.Sprintf("file%02d.txt", i), URL: fmt.Sprint("/files/", i),
			ContentType: "text/plain", Size: int64(i), UserID: "u1",
			UploadedAt: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), Seq: 999, // the store sets these
		}
		m, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: fmt.Sprint("f", i), UserID: "u1", Text: f.Name, File: f})
		if err != nil {
			t.Fatal(err)
		}
		if m.File == nil || m.File.Seq != m.Seq || !m.File.UploadedAt.Equal(m.SentAt) || m.File.Name != f.Name {
			t.Fatalf("announcing message %d = %+v, file %+v", i, m, m.File)
		}
		announced = append(announced, m)
	}
	// A retried upload announcement adds nothing.
	if _, dup, err := s.Append(ctx, "r", store.NewMessage{ClientID: "f3", UserID: "u1", Text: "again", File: &store.File{ID: "f3"}}); err != nil || !dup {
		t.Fatalf("retried announcement: dup=%v, %v", dup, err)
	}

	check := func(s store.Store) {
		t.Helper()
		room := mustRoom(t, s, "r")
		if len(room.Files) != uploads {
			t.Fatalf("%d files, want %d", len(room.Files), uploads)
		}
		for i, f := range room.Files {
			if !filesEqual(&f, announced[i].File) {
				t.Fatalf("file %d = %+v, want %+v", i, f, *announced[i].File)
			}
		}
		msgs, err := s.After(ctx, "r", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if msgs[0].File != nil {
			t.Errorf("a plain message carries file %+v", msgs[0].File)
		}
		for i, m := range msgs[1:] {
			if !messagesEqual(m, announced[i]) {
				t.Fatalf("stored %+v, want %+v", m, announced[i])
			}
		}
	}
	check(s)
	s = reopen(t, s, db, cfg)
	check(s)
}

func testTranscriptsNewestFirst(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	mustCreate(t, s, "r")
	const days = 40
	// Written in an order that is neither ascending nor descending.
	for _, d := range []int{3, 0, 39, 17, 1, 2} {
		write(t, s, "r", d)
	}
	for d := range days {
		write(t, s, "r", d)
	}
	check := func(s store.Store) {
		t.Helper()
		room := mustRoom(t, s, "r")
		if len(room.Transcripts) != days {
			t.Fatalf("%d transcripts, want %d", len(room.Transcripts), days)
		}
		if !slices.IsSortedFunc(room.Transcripts, func(a, b store.Transcript) int { return strings.Compare(b.Date, a.Date) }) {
			t.Errorf("transcripts not newest first: %+v", room.Transcripts)
		}
		for _, tr := range room.Transcripts {
			if tr.Title != "Transcript "+tr.Date || tr.URL != "/pages/"+tr.Date {
				t.Fatalf("transcript = %+v", tr)
			}
		}
	}
	check(s)
	s = reopen(t, s, db, Config{})
	check(s)
}

func write(t *testing.T, s store.Store, room string, d int) {
	t.Helper()
	date := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d).Format(time.DateOnly)
	w := store.TranscriptWrite{RoomID: room, Date: date, Page: &store.Transcript{Title: "Transcript " + date, URL: "/pages/" + date}}
	if err := s.TranscriptWritten(context.Background(), w); err != nil {
		t.Fatal(err)
	}
}
