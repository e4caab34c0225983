package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

func testReopen(t *testing.T, db Opener) {
	clock := newTickingClock()
	cfg := Config{Now: clock.Now}
	s := open(t, db, cfg)
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustCreate(t, s, "q.empty")
	var before []store.Message
	for i := range 3 {
		before = append(before, mustAppend(t, s, "r", fmt.Sprint("c", i), "text"))
	}
	if err := s.TouchParticipant(ctx, "r", store.Participant{UserID: "u9", DisplayName: "Nine"}); err != nil {
		t.Fatal(err)
	}
	roomBefore := mustRoom(t, s, "r")
	emptyBefore := mustRoom(t, s, "q.empty")

	s = reopen(t, s, db, cfg)
	if got := mustRoom(t, s, "r"); !roomsEqual(got, roomBefore) {
		t.Errorf("room after reopen = %+v, want %+v", got, roomBefore)
	}
	if got := mustRoom(t, s, "q.empty"); !roomsEqual(got, emptyBefore) {
		t.Errorf("empty room after reopen = %+v, want %+v", got, emptyBefore)
	}
	after, err := s.After(ctx, "r", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != len(before) {
		t.Fatalf("%d messages after reopen, want %d", len(after), len(before))
	}
	for i := range before {
		if !messagesEqual(after[i], before[i]) {
			t.Errorf("message %d = %+v, want %+v", i, after[i], before[i])
		}
	}
	retry, dup, err := s.Append(ctx, "r", store.NewMessage{ClientID: "c1", UserID: "u1", Text: "text"})
	if err != nil || !dup || !messagesEqual(retry, before[1]) {
		t.Errorf("retry after reopen = %+v, %v, %v; want duplicate of %+v", retry, dup, err, before[1])
	}
	if m := mustAppend(t, s, "r", "c3", "next"); m.Seq != 4 {
		t.Errorf("seq after reopen = %d, want 4", m.Seq)
	}
	if n, err := s.RoomCount(ctx); err != nil || n != 2 {
		t.Errorf("RoomCount = %d, %v", n, err)
	}
	// A second reopen, after writes made by the reopened store.
	s = reopen(t, s, db, cfg)
	if got := mustRoom(t, s, "r"); got.LastSeq != 4 || got.Epoch != roomBefore.Epoch {
		t.Errorf("room after second reopen = %+v", got)
	}
}

func testClosed(t *testing.T, db Opener) {
	s := open(t, db, Config{DayOf: utcDay})
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "c", "before close")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	ctx := context.Background()
	checks := map[string]error{}
	_, _, checks["Append"] = s.Append(ctx, "r", store.NewMessage{ClientID: "x"})
	checks["TouchParticipant"] = s.TouchParticipant(ctx, "r", store.Participant{UserID: "u"})
	_, checks["CreateRoom"] = s.CreateRoom(ctx, store.Room{ID: "new"})
	_, checks["Room"] = s.Room(ctx, "r")
	_, checks["RoomCount"] = s.RoomCount(ctx)
	_, checks["After"] = s.After(ctx, "r", 0, 0)
	_, _, checks["Before"] = s.Before(ctx, "r", 0, 0)
	_, checks["PendingTranscripts"] = s.PendingTranscripts(ctx)
	_, checks["TranscriptDays"] = s.TranscriptDays(ctx, "r")
	checks["TranscriptWritten"] = s.TranscriptWritten(ctx, store.TranscriptWrite{RoomID: "r", Date: "2026-01-01"})
	_, checks["TranscriptFailed"] = s.TranscriptFailed(ctx, "r", "2026-01-01", time.Now())
	_, checks["SetReadMarker"] = s.SetReadMarker(ctx, "r", "u", 1)
	_, checks["ReadMarkers"] = s.ReadMarkers(ctx, "r")
	checks["SetReadMarkers"] = s.SetReadMarkers(ctx, []store.ReadMarker{{RoomID: "r", UserID: "u", Seq: 1}})
	checks["SetWatch"] = s.SetWatch(ctx, "r", "u", store.WatchOn)
	_, checks["Watches"] = s.Watches(ctx, "r")
	_, checks["JudgedSeq"] = s.JudgedSeq(ctx, "r")
	_, checks["Unjudged"] = s.Unjudged(ctx)
	_, checks["Digests"] = s.Digests(ctx, "")
	checks["CommitNotifications"] = s.CommitNotifications(ctx, []store.NotifyBatch{{RoomID: "r", JudgedSeq: 1}})
	_, checks["Outbox"] = s.Outbox(ctx, 0)
	checks["AlertDone"] = s.AlertDone(ctx, "a")
	_, checks["AlertFailed"] = s.AlertFailed(ctx, "a", time.Now())
	_, checks["PutBan"] = s.PutBan(ctx, store.Ban{RoomID: "r", UserID: "u"})
	checks["DeleteBan"] = s.DeleteBan(ctx, "r", "u")
	_, checks["Ban"] = s.Ban(ctx, "r", "u")
	_, checks["Bans"] = s.Bans(ctx, "r")
	_, _, checks["Append(edit)"] = s.Append(ctx, "r", store.NewMessage{Kind: store.KindEdit, Target: 1, Text: "x"})
	for name, err := range checks {
		if !errors.Is(err, store.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

// Close while senders are busy: each send either was acknowledged, and is
// stored after a reopen with the seq it was given, or failed with
// ErrClosed and stored nothing. The log stays gapless.
func testCloseWhileAppending(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	mustCreate(t, s, "r")

	const senders = 16
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		acked  = map[string]uint64{}
		closed atomic.Int32
	)
	started := make(chan struct{}, senders)
	for g := range senders {
		wg.Go(func() {
			for i := 0; ; i++ {
				cid := fmt.Sprintf("g%d-%d", g, i)
				m, _, err := s.Append(context.Background(), "r", store.NewMessage{ClientID: cid, Text: "x"})
				if err != nil {
					if !errors.Is(err, store.ErrClosed) {
						t.Errorf("Append during Close: %v, want nil or ErrClosed", err)
					}
					closed.Add(1)
					return
				}
				mu.Lock()
				acked[cid] = m.Seq
				mu.Unlock()
				if i == 0 {
					started <- struct{}{}
				}
			}
		})
	}
	for range senders {
		<-started
	}
	time.Sleep(20 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if closed.Load() != senders {
		t.Errorf("%d senders saw ErrClosed, want %d", closed.Load(), senders)
	}

	s = open(t, db, Config{})
	msgs, err := s.After(context.Background(), "r", 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(acked) {
		t.Errorf("stored %d messages, acknowledged %d", len(msgs), len(acked))
	}
	for i, m := range msgs {
		if m.Seq != uint64(i+1) {
			t.Fatalf("gap: message %d has seq %d", i, m.Seq)
		}
		if seq, ok := acked[m.ClientID]; !ok || seq != m.Seq {
			t.Errorf("stored %s at seq %d, acknowledged seq %d (%v)", m.ClientID, m.Seq, seq, ok)
		}
	}
}

// A database a newer release has written is refused, not rewritten: the
// refusal says why, and leaves the data for that release to open again.
func testNewerSchemaRefused(t *testing.T, db Opener) {
	if db.MarkNewerSchema == nil {
		t.Skip("the implementation records no schema version")
	}
	s := open(t, db, Config{})
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "c", "kept")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkNewerSchema(); err != nil {
		t.Fatalf("MarkNewerSchema: %v", err)
	}
	for attempt := 1; attempt <= 2; attempt++ {
		s, err := db.Open(Config{})
		if err == nil {
			_ = s.Close()
			t.Fatalf("open %d of a newer schema succeeded", attempt)
		}
		if !errors.Is(err, store.ErrNewerSchema) {
			t.Fatalf("open %d of a newer schema = %v, want ErrNewerSchema", attempt, err)
		}
	}
}
