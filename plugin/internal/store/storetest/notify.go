package storetest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

// Markers reported together land together, each never moving back and
// capped at its room's last message; a stale room does not fail the rest.
func testReadMarkersBatch(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustCreate(t, s, "q")
	for i := range 5 {
		mustAppend(t, s, "r", fmt.Sprint(i), "x")
	}
	mustAppend(t, s, "q", "1", "x")
	if _, err := s.SetReadMarker(ctx, "r", "ann", 3); err != nil {
		t.Fatal(err)
	}
	err := s.SetReadMarkers(ctx, []store.ReadMarker{
		{RoomID: "r", UserID: "ann", Seq: 2},  // backwards: stays 3
		{RoomID: "r", UserID: "bob", Seq: 99}, // capped at 5
		{RoomID: "gone", UserID: "bob", Seq: 1},
		{RoomID: "q", UserID: "ann", Seq: 1},
	})
	if err != nil {
		t.Fatalf("SetReadMarkers: %v", err)
	}
	s = reopen(t, s, db, Config{})
	got, err := s.ReadMarkers(ctx, "r")
	if want := map[string]uint64{"ann": 3, "bob": 5}; err != nil || !maps.Equal(got, want) {
		t.Errorf("ReadMarkers(r) = %v, %v; want %v", got, err, want)
	}
	got, err = s.ReadMarkers(ctx, "q")
	if want := map[string]uint64{"ann": 1}; err != nil || !maps.Equal(got, want) {
		t.Errorf("ReadMarkers(q) = %v, %v; want %v", got, err, want)
	}
	wantErr(t, "SetReadMarkers(empty user)", s.SetReadMarkers(ctx, []store.ReadMarker{{RoomID: "r"}}), store.ErrInvalid)
}

// Mentions are stored with their message and read back by every read path.
func testMentionsStored(t *testing.T, db Opener) {
	rec := &commitRecorder{t: t}
	s := open(t, db, Config{OnCommit: rec.onCommit})
	ctx := context.Background()
	mustCreate(t, s, "r")
	m, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: "c", UserID: "ann", Text: "@bob @room", Mentions: []string{"bob", "cy"}, MentionsRoom: true})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(m.Mentions, []string{"bob", "cy"}) || !m.MentionsRoom {
		t.Errorf("Append returned mentions %q room %v", m.Mentions, m.MentionsRoom)
	}
	if seen := rec.seen(); len(seen) != 1 || !messagesEqual(seen[0], m) {
		t.Errorf("OnCommit saw %+v, want %+v", seen, m)
	}
	s = reopen(t, s, db, Config{})
	after, err := s.After(ctx, "r", 0, 0)
	if err != nil || len(after) != 1 || !messagesEqual(after[0], m) {
		t.Errorf("After = %+v, %v; want %+v", after, err, m)
	}
}

func testWatches(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustCreate(t, s, "r2")
	for _, w := range []struct {
		room, user string
		state      store.WatchState
	}{{"r", "ann", store.WatchOn}, {"r", "bob", store.WatchOff}, {"r", "cy", store.WatchOn}, {"r", "cy", store.WatchDefault}, {"r2", "ann", store.WatchOff}} {
		if err := s.SetWatch(ctx, w.room, w.user, w.state); err != nil {
			t.Fatalf("SetWatch(%+v): %v", w, err)
		}
	}
	s = reopen(t, s, db, Config{})
	got, err := s.Watches(ctx, "r")
	if want := map[string]store.WatchState{"ann": store.WatchOn, "bob": store.WatchOff}; err != nil || !maps.Equal(got, want) {
		t.Errorf("Watches(r) = %v, %v; want %v", got, err, want)
	}
	got, err = s.Watches(ctx, "r2")
	if want := map[string]store.WatchState{"ann": store.WatchOff}; err != nil || !maps.Equal(got, want) {
		t.Errorf("Watches(r2) = %v, %v; want %v", got, err, want)
	}
	wantErr(t, "SetWatch(unknown room)", s.SetWatch(ctx, "nope", "ann", store.WatchOn), store.ErrRoomNotFound)
	wantErr(t, "SetWatch(empty user)", s.SetWatch(ctx, "r", "", store.WatchOn), store.ErrInvalid)
}

// A judgement commits together with its alerts and digests, survives a
// reopen, and cannot be committed twice for the same messages.
func testNotificationsExactlyOnce(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustCreate(t, s, "q")
	for i := range 3 {
		mustAppend(t, s, "r", fmt.Sprint(i), "x")
	}
	mustAppend(t, s, "q", "1", "x")
	unjudged, err := s.Unjudged(ctx)
	slices.Sort(unjudged)
	if err != nil || !slices.Equal(unjudged, []string{"q", "r"}) {
		t.Fatalf("Unjudged = %q, %v; want [q r]", unjudged, err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	batch := store.NotifyBatch{
		RoomID:    "r",
		JudgedSeq: 2,
		Digests:   []store.Digest{{UserID: "cy", FirstSeq: 1, LastSeq: 2, Count: 2, Senders: []string{"Ann"}, LastAlert: at}},
		Alerts:    []store.Alert{{ID: "r/2/bob", UserID: "bob", Kind: "mention", Seq: 2, Subject: "s", Body: "b", URL: "/chat/rooms/r#m-2", Created: at}},
	}
	if err := s.CommitNotifications(ctx, []store.NotifyBatch{batch}); err != nil {
		t.Fatalf("CommitNotifications: %v", err)
	}
	wantErr(t, "CommitNotifications(same seq again)", s.CommitNotifications(ctx, []store.NotifyBatch{batch}), store.ErrStaleJudgement)
	s = reopen(t, s, db, Config{})
	if seq, err := s.JudgedSeq(ctx, "r"); err != nil || seq != 2 {
		t.Errorf("JudgedSeq(r) = %d, %v; want 2", seq, err)
	}
	if seq, err := s.JudgedSeq(ctx, "q"); err != nil || seq != 0 {
		t.Errorf("JudgedSeq(q) = %d, %v; want 0", seq, err)
	}
	unjudged, err = s.Unjudged(ctx)
	slices.Sort(unjudged)
	if err != nil || !slices.Equal(unjudged, []string{"q", "r"}) { // r still has seq 3
		t.Errorf("Unjudged = %q, %v; want [q r]", unjudged, err)
	}
	ds, err := s.Digests(ctx, "r")
	if err != nil || len(ds) != 1 || ds[0].UserID != "cy" || ds[0].RoomID != "r" || ds[0].Count != 2 ||
		!slices.Equal(ds[0].Senders, []string{"Ann"}) || !ds[0].LastAlert.Equal(at) || ds[0].FirstSeq != 1 || ds[0].LastSeq != 2 {
		t.Errorf("Digests(r) = %+v, %v", ds, err)
	}
	out, err := s.Outbox(ctx, 10)
	if err != nil || len(out) != 1 || out[0].ID != "r/2/bob" || out[0].RoomID != "r" || out[0].URL != "/chat/rooms/r#m-2" || !out[0].Created.Equal(at) {
		t.Errorf("Outbox = %+v, %v", out, err)
	}
	// A digest emptied by an alert keeps its LastAlert and leaves the
	// pending list.
	if err := s.CommitNotifications(ctx, []store.NotifyBatch{{RoomID: "r", Digests: []store.Digest{{UserID: "cy", LastAlert: at.Add(time.Hour)}}}}); err != nil {
		t.Fatal(err)
	}
	if ds, err := s.Digests(ctx, ""); err != nil || len(ds) != 0 {
		t.Errorf("pending Digests = %+v, %v; want none", ds, err)
	}
	if ds, err := s.Digests(ctx, "r"); err != nil || len(ds) != 1 || !ds[0].LastAlert.Equal(at.Add(time.Hour)) {
		t.Errorf("Digests(r) = %+v, %v", ds, err)
	}
}

func testOutbox(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	ctx := context.Background()
	mustCreate(t, s, "r")
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var alerts []store.Alert
	for i := range 5 {
		alerts = append(alerts, store.Alert{ID: fmt.Sprint("a", i), UserID: "bob", Kind: "mention", Seq: uint64(i + 1), Created: base.Add(time.Duration(5-i) * time.Second)})
	}
	if err := s.CommitNotifications(ctx, []store.NotifyBatch{{RoomID: "r", Alerts: alerts}}); err != nil {
		t.Fatal(err)
	}
	// Queuing an id again keeps one alert.
	if err := s.CommitNotifications(ctx, []store.NotifyBatch{{RoomID: "r", Alerts: alerts[:1]}}); err != nil {
		t.Fatal(err)
	}
	ids := func() []string {
		out, err := s.Outbox(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, a := range out {
			ids = append(ids, a.ID)
		}
		return ids
	}
	if got, want := ids(), []string{"a4", "a3", "a2", "a1", "a0"}; !slices.Equal(got, want) {
		t.Errorf("Outbox = %q, want oldest first %q", got, want)
	}
	next := base.Add(time.Minute)
	for want := 1; want <= 2; want++ {
		if n, err := s.AlertFailed(ctx, "a2", next); err != nil || n != want {
			t.Errorf("AlertFailed = %d, %v; want %d", n, err, want)
		}
	}
	if n, err := s.AlertFailed(ctx, "unknown", next); err != nil || n != 0 {
		t.Errorf("AlertFailed(unknown) = %d, %v; want 0", n, err)
	}
	for _, id := range []string{"a4", "a0", "a0", "unknown"} {
		if err := s.AlertDone(ctx, id); err != nil {
			t.Errorf("AlertDone(%s): %v", id, err)
		}
	}
	s = reopen(t, s, db, Config{})
	out, err := s.Outbox(ctx, 2)
	if err != nil || len(out) != 2 || out[0].ID != "a3" || out[1].ID != "a2" || out[1].Tries != 2 || !out[1].NextTry.Equal(next) {
		t.Errorf("Outbox(2) after reopen = %+v, %v", out, err)
	}
}
