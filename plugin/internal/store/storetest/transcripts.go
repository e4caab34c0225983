package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

func utcDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

func day(d, h int) time.Time { return time.Date(2026, 3, d, h, 0, 0, 0, time.UTC) }

func pendingByDate(t *testing.T, s store.Store) map[string]store.PendingTranscript {
	t.Helper()
	list, err := s.PendingTranscripts(context.Background())
	if err != nil {
		t.Fatalf("PendingTranscripts: %v", err)
	}
	out := make(map[string]store.PendingTranscript, len(list))
	for _, p := range list {
		out[p.RoomID+" "+p.Date] = p
	}
	return out
}

// A day's span covers all of its messages whether its page was written
// since or not, across a reopen, and grows again with later messages.
func testTranscriptDaySpanAcrossWrites(t *testing.T, db Opener) {
	clock := testutil.NewClock(day(1, 10))
	s := open(t, db, Config{Now: clock.Now, DayOf: utcDay})
	ctx := context.Background()
	mustCreate(t, s, "r")
	span := func(when string, first, last uint64) {
		t.Helper()
		days, err := s.TranscriptDays(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		if want := (store.TranscriptDay{Date: "2026-03-01", FirstSeq: first, LastSeq: last}); len(days) != 1 || days[0] != want {
			t.Errorf("%s: TranscriptDays = %+v, want [%+v]", when, days, want)
		}
	}
	for _, id := range []string{"a", "b", "c"} {
		mustAppend(t, s, "r", id, "morning")
	}
	write := func() {
		t.Helper()
		p := pendingByDate(t, s)["r 2026-03-01"]
		if err := s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "r", Date: "2026-03-01", Version: p.Version,
			Page: &store.Transcript{Title: "March 1", URL: "/t/1"}}); err != nil {
			t.Fatal(err)
		}
		if _, still := pendingByDate(t, s)["r 2026-03-01"]; still {
			t.Fatal("the write did not resolve the pending entry")
		}
	}
	write()
	span("after the page was written", 1, 3)

	s = reopen(t, s, db, Config{Now: clock.Now, DayOf: utcDay})
	span("after a reopen", 1, 3)
	clock.Set(day(1, 15))
	mustAppend(t, s, "r", "d", "afternoon")
	mustAppend(t, s, "r", "e", "afternoon")
	span("with the afternoon's messages pending", 1, 5)
	write()
	span("after the second write", 1, 5)
}

func testTranscriptTrackingOffWithoutDayOf(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "c1", "hello")
	if got := pendingByDate(t, s); len(got) != 0 {
		t.Fatalf("pending without DayOf: %v", got)
	}
	days, err := s.TranscriptDays(context.Background(), "r")
	if err != nil || len(days) != 0 {
		t.Fatalf("TranscriptDays = %v, %v; want none", days, err)
	}
}

func testTranscriptPendingFollowsMessagesAcrossDays(t *testing.T, db Opener) {
	clock := testutil.NewClock(day(1, 10))
	s := open(t, db, Config{Now: clock.Now, DayOf: utcDay})
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustCreate(t, s, "other")

	mustAppend(t, s, "r", "a", "one")
	clock.Set(day(1, 11))
	mustAppend(t, s, "r", "b", "two")
	mustAppend(t, s, "other", "x", "elsewhere")

	got := pendingByDate(t, s)
	p1 := got["r 2026-03-01"]
	if len(got) != 2 || p1.FirstSeq != 1 || p1.LastSeq != 2 {
		t.Fatalf("pending after day 1 = %+v", got)
	}
	if !p1.DirtySince.Equal(day(1, 10)) || !p1.LastActivity.Equal(day(1, 11)) {
		t.Errorf("day 1 dirty since %v, last activity %v; want first and latest message times", p1.DirtySince, p1.LastActivity)
	}
	list, err := s.PendingTranscripts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].RoomID != "other" || list[1].RoomID != "r" {
		t.Errorf("PendingTranscripts = %+v, want by room id", list)
	}

	// Day 3's first message (day 2 is idle) changes day 1's "next" link,
	// so day 1 is marked again; day 2 never appears.
	clock.Set(day(3, 9))
	mustAppend(t, s, "r", "c", "three")
	got = pendingByDate(t, s)
	if _, ok := got["r 2026-03-02"]; ok {
		t.Error("an idle day got a pending transcript")
	}
	p3 := got["r 2026-03-03"]
	if p3.FirstSeq != 3 || p3.LastSeq != 3 {
		t.Errorf("day 3 = %+v, want seq 3..3", p3)
	}
	if again := got["r 2026-03-01"]; again.Version == p1.Version || !again.LastActivity.Equal(day(3, 9)) {
		t.Errorf("day 1 not marked by day 3's first message: before %+v, after %+v", p1, again)
	}

	days, err := s.TranscriptDays(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	want := []store.TranscriptDay{{Date: "2026-03-01", FirstSeq: 1, LastSeq: 2}, {Date: "2026-03-03", FirstSeq: 3, LastSeq: 3}}
	if len(days) != len(want) || days[0] != want[0] || days[1] != want[1] {
		t.Errorf("TranscriptDays = %+v, want %+v", days, want)
	}
	if _, err := s.TranscriptDays(ctx, "missing"); !errors.Is(err, store.ErrRoomNotFound) {
		t.Errorf("TranscriptDays of an unknown room = %v, want ErrRoomNotFound", err)
	}
}

func testTranscriptWrittenResolvesOnlyTheVersionItRead(t *testing.T, db Opener) {
	clock := testutil.NewClock(day(1, 10))
	s := open(t, db, Config{Now: clock.Now, DayOf: utcDay})
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "a", "one")
	read := pendingByDate(t, s)["r 2026-03-01"]

	// A message arrives while the page is being written.
	mustAppend(t, s, "r", "b", "two")
	page := &store.Transcript{Title: "Room r chat transcript 2026-03-01", URL: "/pages/t1"}
	if err := s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "r", Date: read.Date, Version: read.Version, Page: page}); err != nil {
		t.Fatal(err)
	}
	left, ok := pendingByDate(t, s)["r 2026-03-01"]
	if !ok || left.DirtySince.IsZero() || left.LastSeq != 2 {
		t.Fatalf("stale write resolved the entry: %+v, %v", left, ok)
	}
	room := mustRoom(t, s, "r")
	if len(room.Transcripts) != 1 || room.Transcripts[0] != (store.Transcript{Date: "2026-03-01", Title: page.Title, URL: page.URL}) {
		t.Errorf("room transcripts = %+v", room.Transcripts)
	}

	// Written again before the day ended: the entry waits for the final
	// write only.
	end := day(2, 0)
	if err := s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "r", Date: left.Date, Version: left.Version, Page: page, FinalizeAt: end}); err != nil {
		t.Fatal(err)
	}
	fin := pendingByDate(t, s)["r 2026-03-01"]
	if !fin.DirtySince.IsZero() || !fin.FinalizeAt.Equal(end) {
		t.Fatalf("after a write before the day's end: %+v; want clean, finalize at %v", fin, end)
	}
	if err := s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "r", Date: fin.Date, Version: fin.Version, Page: page}); err != nil {
		t.Fatal(err)
	}
	if got := pendingByDate(t, s); len(got) != 0 {
		t.Fatalf("final write left %+v", got)
	}
	// A day with nothing to show resolves its entry without a page.
	clock.Set(day(2, 10))
	mustAppend(t, s, "r", "c", "three")
	p2 := pendingByDate(t, s)["r 2026-03-02"]
	if err := s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "r", Date: p2.Date, Version: p2.Version}); err != nil {
		t.Fatal(err)
	}
	if got := pendingByDate(t, s); len(got) != 1 || got["r 2026-03-01"].DirtySince.IsZero() {
		// Day 1 is marked again: day 2's first message moved its next link.
		t.Errorf("after resolving day 2 without a page: %+v", got)
	}
	if room := mustRoom(t, s, "r"); len(room.Transcripts) != 1 {
		t.Errorf("a write without a page added a transcript: %+v", room.Transcripts)
	}
}

func testTranscriptFailedCountsAttemptsAndSurvivesReopen(t *testing.T, db Opener) {
	clock := testutil.NewClock(day(1, 10))
	cfg := Config{Now: clock.Now, DayOf: utcDay}
	s := open(t, db, cfg)
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "a", "one")
	retry := day(1, 12)
	for want := 1; want <= 3; want++ {
		n, err := s.TranscriptFailed(ctx, "r", "2026-03-01", retry)
		if err != nil || n != want {
			t.Fatalf("TranscriptFailed = %d, %v; want %d", n, err, want)
		}
	}
	if n, err := s.TranscriptFailed(ctx, "r", "2026-03-09", retry); err != nil || n != 0 {
		t.Errorf("TranscriptFailed for a day with no entry = %d, %v; want 0, nil", n, err)
	}
	before := pendingByDate(t, s)

	s = reopen(t, s, db, cfg)
	after := pendingByDate(t, s)
	p := after["r 2026-03-01"]
	if len(after) != 1 || !pendingEqual(p, before["r 2026-03-01"]) || p.Attempts != 3 || !p.NextTry.Equal(retry) {
		t.Fatalf("after reopen %+v, before %+v", after, before)
	}
	// Appends after the reopen continue the same day's entry.
	mustAppend(t, s, "r", "b", "two")
	if p2 := pendingByDate(t, s)["r 2026-03-01"]; p2.LastSeq != 2 || p2.Version <= p.Version || p2.Attempts != 3 {
		t.Errorf("after another message %+v", p2)
	}
	// A success clears the failures.
	p2 := pendingByDate(t, s)["r 2026-03-01"]
	if err := s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "r", Date: p2.Date, Version: p2.Version, Page: &store.Transcript{Title: "t", URL: "/t"}}); err != nil {
		t.Fatal(err)
	}
	if got := pendingByDate(t, s); len(got) != 0 {
		t.Errorf("pending after a successful write: %+v", got)
	}
}

func pendingEqual(a, b store.PendingTranscript) bool {
	return a.RoomID == b.RoomID && a.Date == b.Date && a.FirstSeq == b.FirstSeq && a.LastSeq == b.LastSeq &&
		a.DirtySince.Equal(b.DirtySince) && a.LastActivity.Equal(b.LastActivity) && a.Version == b.Version &&
		a.Attempts == b.Attempts && a.NextTry.Equal(b.NextTry) && a.FinalizeAt.Equal(b.FinalizeAt)
}

func testTranscriptNewURLMarksNeighbours(t *testing.T, db Opener) {
	clock := testutil.NewClock(day(1, 10))
	s := open(t, db, Config{Now: clock.Now, DayOf: utcDay})
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "a", "one")
	clock.Set(day(2, 10))
	mustAppend(t, s, "r", "b", "two")
	clock.Set(day(3, 10))
	mustAppend(t, s, "r", "c", "three")

	write := func(date, url string) {
		t.Helper()
		p := pendingByDate(t, s)["r "+date]
		if err := s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "r", Date: date, Version: p.Version, Page: &store.Transcript{Title: date, URL: url}}); err != nil {
			t.Fatal(err)
		}
	}
	write("2026-03-01", "/1")
	write("2026-03-03", "/3")
	// Day 2's page is new: days 1 and 3 link to it and must be rewritten.
	write("2026-03-02", "/2")
	got := pendingByDate(t, s)
	if len(got) != 2 || got["r 2026-03-01"].DirtySince.IsZero() || got["r 2026-03-03"].DirtySince.IsZero() {
		t.Fatalf("pending after day 2's first write: %+v", got)
	}
	write("2026-03-01", "/1")
	write("2026-03-03", "/3")
	// Rewriting day 2 at the same URL changes nobody's links.
	clock.Set(day(2, 11))
	if err := s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "r", Date: "2026-03-02", Page: &store.Transcript{Title: "x", URL: "/2"}}); err != nil {
		t.Fatal(err)
	}
	if got := pendingByDate(t, s); len(got) != 0 {
		t.Fatalf("same-URL rewrite marked %+v", got)
	}
	room := mustRoom(t, s, "r")
	var dates []string
	for _, tr := range room.Transcripts {
		dates = append(dates, tr.Date)
	}
	if len(dates) != 3 || dates[0] != "2026-03-03" || dates[2] != "2026-03-01" {
		t.Errorf("transcripts not newest first: %v", dates)
	}
	if err := s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "missing", Date: "2026-03-01"}); !errors.Is(err, store.ErrRoomNotFound) {
		t.Errorf("TranscriptWritten for an unknown room = %v, want ErrRoomNotFound", err)
	}
}
