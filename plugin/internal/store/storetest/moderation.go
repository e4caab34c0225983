package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

func testReadMarkers(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustCreate(t, s, "other")
	for i := range 10 {
		mustAppend(t, s, "r", fmt.Sprint(i), "x")
	}
	set := func(room, user string, seq, want uint64) {
		t.Helper()
		got, err := s.SetReadMarker(ctx, room, user, seq)
		if err != nil || got != want {
			t.Errorf("SetReadMarker(%s, %s, %d) = %d, %v; want %d", room, user, seq, got, err, want)
		}
	}
	set("r", "ann", 4, 4)
	set("r", "ann", 2, 4) // never backwards
	set("r", "ann", 7, 7)
	set("r", "bob", 0, 0)
	set("r", "cy", 1000, 10) // past the last message: the last message
	set("other", "ann", 3, 0)

	read := func(s store.Store, room string, users []string, want map[string]uint64) {
		t.Helper()
		got, err := s.ReadMarkers(ctx, room, users...)
		if err != nil || !maps.Equal(got, want) {
			t.Errorf("ReadMarkers(%s, %q) = %v, %v; want %v", room, users, got, err, want)
		}
	}
	check := func(s store.Store) {
		t.Helper()
		read(s, "r", []string{"ann"}, map[string]uint64{"ann": 7})
		read(s, "r", []string{"ann", "cy", "nobody"}, map[string]uint64{"ann": 7, "cy": 10})
		read(s, "r", nil, map[string]uint64{"ann": 7, "bob": 0, "cy": 10})
		read(s, "other", nil, map[string]uint64{"ann": 0})
	}
	check(s)
	s = reopen(t, s, db, Config{})
	check(s)
	// The cap follows the room: a marker moves on as messages arrive.
	mustAppend(t, s, "r", "11", "x")
	set("r", "cy", 1000, 11)

	if _, err := s.SetReadMarker(ctx, "nope", "ann", 1); !errors.Is(err, store.ErrRoomNotFound) {
		t.Errorf("SetReadMarker(unknown room) = %v, want ErrRoomNotFound", err)
	}
	if _, err := s.SetReadMarker(ctx, "r", "", 1); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SetReadMarker(empty user) = %v, want ErrInvalid", err)
	}
	if _, err := s.ReadMarkers(ctx, "nope"); !errors.Is(err, store.ErrRoomNotFound) {
		t.Errorf("ReadMarkers(unknown room) = %v, want ErrRoomNotFound", err)
	}
}

// Reports of one user's marker arrive out of order from several tabs; the
// marker ends at the highest, whatever the order.
func testReadMarkersConcurrent(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	ctx := context.Background()
	mustCreate(t, s, "r")
	const n = 50
	for i := range n {
		mustAppend(t, s, "r", fmt.Sprint(i), "x")
	}
	report := func(g, i int) uint64 { return uint64((i*7 + g*13) % (n + 1)) }
	want := map[string]uint64{}
	var wg sync.WaitGroup
	for g := range 8 {
		for i := range n {
			user := fmt.Sprint("u", g%2)
			want[user] = max(want[user], report(g, i))
		}
		wg.Go(func() {
			for i := range n {
				seq := report(g, i)
				got, err := s.SetReadMarker(ctx, "r", fmt.Sprint("u", g%2), seq)
				if err != nil || got < seq {
					t.Errorf("SetReadMarker(%d) = %d, %v", seq, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	got, err := s.ReadMarkers(ctx, "r")
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("ReadMarkers = %v, %v; want %v", got, err, want)
	}
}

func bansEqual(a, b store.Ban) bool {
	return a.RoomID == b.RoomID && a.UserID == b.UserID && a.Reason == b.Reason && a.BannedBy == b.BannedBy &&
		a.BannedAt.Equal(b.BannedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

func testBans(t *testing.T, db Opener) {
	clock := testutil.NewClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	cfg := Config{Now: clock.Now}
	s := open(t, db, cfg)
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustCreate(t, s, "other")

	put := func(b store.Ban) store.Ban {
		t.Helper()
		got, err := s.PutBan(ctx, b)
		if err != nil {
			t.Fatalf("PutBan(%+v): %v", b, err)
		}
		return got
	}
	zed := put(store.Ban{RoomID: "r", UserID: "zed", Reason: "spam", BannedBy: "mod"})
	if !zed.BannedAt.Equal(clock.Now()) || zed.Reason != "spam" || zed.BannedBy != "mod" || !zed.ExpiresAt.IsZero() {
		t.Errorf("PutBan = %+v, want BannedAt now and the caller's fields", zed)
	}
	at := time.Date(2026, 4, 30, 0, 0, 0, 0, time.UTC)
	amy := put(store.Ban{RoomID: "r", UserID: "amy", Reason: "rude", BannedBy: "mod2", BannedAt: at, ExpiresAt: at.Add(72 * time.Hour)})
	if !amy.BannedAt.Equal(at) {
		t.Errorf("PutBan kept BannedAt %v, want the caller's %v", amy.BannedAt, at)
	}

	check := func(s store.Store) {
		t.Helper()
		got, err := s.Ban(ctx, "r", "zed")
		if err != nil || !bansEqual(got, zed) {
			t.Errorf("Ban(zed) = %+v, %v; want %+v", got, err, zed)
		}
		if _, err := s.Ban(ctx, "other", "zed"); !errors.Is(err, store.ErrBanNotFound) {
			t.Errorf("Ban in another room = %v, want ErrBanNotFound", err)
		}
		list, err := s.Bans(ctx, "r")
		if err != nil || len(list) != 2 || !bansEqual(list[0], amy) || !bansEqual(list[1], zed) {
			t.Errorf("Bans = %+v, %v; want amy, zed", list, err)
		}
		if list, err := s.Bans(ctx, "other"); err != nil || len(list) != 0 {
			t.Errorf("Bans of a room without any = %+v, %v", list, err)
		}
	}
	check(s)
	s = reopen(t, s, db, cfg)
	check(s)

	// Replacing a ban changes it in place.
	zed = put(store.Ban{RoomID: "r", UserID: "zed", Reason: "more spam", BannedBy: "mod2"})
	if got, err := s.Ban(ctx, "r", "zed"); err != nil || got.Reason != "more spam" || got.BannedBy != "mod2" {
		t.Errorf("replaced ban = %+v, %v", got, err)
	}
	if err := s.DeleteBan(ctx, "r", "zed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ban(ctx, "r", "zed"); !errors.Is(err, store.ErrBanNotFound) {
		t.Errorf("Ban after DeleteBan = %v, want ErrBanNotFound", err)
	}
	if err := s.DeleteBan(ctx, "r", "zed"); err != nil {
		t.Errorf("DeleteBan of a lifted ban = %v, want nil", err)
	}
	if list, err := s.Bans(ctx, "r"); err != nil || len(list) != 1 || list[0].UserID != "amy" {
		t.Errorf("Bans after lifting zed's = %+v, %v", list, err)
	}

	for name, err := range map[string]error{
		"PutBan(unknown room)":    func() error { _, err := s.PutBan(ctx, store.Ban{RoomID: "nope", UserID: "u"}); return err }(),
		"DeleteBan(unknown room)": s.DeleteBan(ctx, "nope", "u"),
		"Ban(unknown room)":       func() error { _, err := s.Ban(ctx, "nope", "u"); return err }(),
		"Bans(unknown room)":      func() error { _, err := s.Bans(ctx, "nope"); return err }(),
	} {
		if !errors.Is(err, store.ErrRoomNotFound) {
			t.Errorf("%s = %v, want ErrRoomNotFound", name, err)
		}
	}
	if _, err := s.PutBan(ctx, store.Ban{RoomID: "r"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("PutBan(empty user) = %v, want ErrInvalid", err)
	}
}

func testBanExpiry(t *testing.T, db Opener) {
	start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clock := testutil.NewClock(start)
	s := open(t, db, Config{Now: clock.Now})
	ctx := context.Background()
	mustCreate(t, s, "r")
	for _, b := range []store.Ban{
		{RoomID: "r", UserID: "hour", ExpiresAt: start.Add(time.Hour)},
		{RoomID: "r", UserID: "day", ExpiresAt: start.Add(24 * time.Hour)},
		{RoomID: "r", UserID: "ever"},
		{RoomID: "r", UserID: "past", ExpiresAt: start.Add(-time.Minute)},
	} {
		if _, err := s.PutBan(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		at     time.Duration
		banned []string // by user id
	}{
		{0, []string{"day", "ever", "hour"}},
		{time.Hour - time.Second, []string{"day", "ever", "hour"}},
		{time.Hour, []string{"day", "ever"}}, // expires at ExpiresAt, not after
		{48 * time.Hour, []string{"ever"}},
	}
	for _, st := range steps {
		clock.Set(start.Add(st.at))
		list, err := s.Bans(ctx, "r")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, b := range list {
			ids = append(ids, b.UserID)
		}
		if fmt.Sprint(ids) != fmt.Sprint(st.banned) {
			t.Errorf("at +%v: Bans = %v, want %v", st.at, ids, st.banned)
		}
		for _, user := range []string{"hour", "day", "ever", "past"} {
			_, err := s.Ban(ctx, "r", user)
			want := false
			for _, b := range st.banned {
				want = want || b == user
			}
			if got := err == nil; got != want || (!got && !errors.Is(err, store.ErrBanNotFound)) {
				t.Errorf("at +%v: Ban(%s) = %v, want banned %v", st.at, user, err, want)
			}
		}
	}
	// A new ban on a user whose ban expired is in force again.
	if _, err := s.PutBan(ctx, store.Ban{RoomID: "r", UserID: "hour", ExpiresAt: clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Ban(ctx, "r", "hour"); err != nil {
		t.Errorf("renewed ban: %v", err)
	}
}

// Topic and moderation events take sequence numbers like messages, so the
// log stays gapless; a topic event sets the room's topic in the same
// commit, and every field of an event survives a reopen.
func testTopicAndModerationEvents(t *testing.T, db Opener) {
	clock := newTickingClock()
	rec := &commitRecorder{t: t}
	cfg := Config{Now: clock.Now, OnCommit: rec.onCommit}
	s := open(t, db, cfg)
	ctx := context.Background()
	mustCreate(t, s, "r")
	m1 := mustAppend(t, s, "r", "m1", "hello")
	topic := mustChange(t, s, "r", store.NewMessage{Kind: store.KindTopic, ClientID: "t1", UserID: "mod", UserName: "Mo", Text: "Release planning"})
	room := mustRoom(t, s, "r")
	if room.Topic != "Release planning" || room.TopicBy != "mod" || !room.TopicAt.Equal(topic.SentAt) || room.LastSeq != topic.Seq {
		t.Errorf("room after a topic event = topic %q by %q at %v, last seq %d; want the event's", room.Topic, room.TopicBy, room.TopicAt, room.LastSeq)
	}
	until := clock.Now().Add(24 * time.Hour).Truncate(time.Second)
	kick := mustChange(t, s, "r", store.NewMessage{Kind: store.KindKick, UserID: "mod", Subject: "zed", Reason: "calm down"})
	ban := mustChange(t, s, "r", store.NewMessage{Kind: store.KindBan, ClientID: "b1", UserID: "mod", Subject: "zed", Reason: "spam", Until: until})
	unban := mustChange(t, s, "r", store.NewMessage{Kind: store.KindUnban, UserID: "mod", Subject: "zed"})
	del := mustChange(t, s, "r", store.NewMessage{Kind: store.KindDelete, Target: m1.Seq, UserID: "mod", Reason: "off topic"})
	cleared := mustChange(t, s, "r", store.NewMessage{Kind: store.KindTopic, UserID: "mod2"})
	if got := mustRoom(t, s, "r"); got.Topic != "" || got.TopicBy != "mod2" {
		t.Errorf("room after clearing the topic = %q by %q", got.Topic, got.TopicBy)
	}
	if kick.Subject != "zed" || kick.Reason != "calm down" || ban.Subject != "zed" || !ban.Until.Equal(until) || unban.Subject != "zed" {
		t.Errorf("moderation events = %+v, %+v, %+v", kick, ban, unban)
	}
	if del.Reason != "off topic" {
		t.Errorf("delete event = %+v, want its reason", del)
	}
	check := func(s store.Store) {
		t.Helper()
		log := wholeLog(t, s, "r")
		checkLifecycle(t, log)
		for _, want := range []store.Message{topic, kick, ban, unban, del, cleared} {
			if got := log[want.Seq-1]; !messagesEqual(got, want) {
				t.Errorf("log has %+v at %d, want %+v", got, want.Seq, want)
			}
		}
		if got := log[m1.Seq-1]; got.DeleteSeq != del.Seq || got.DeletedBy != "mod" {
			t.Errorf("deleted message = %+v, want DeleteSeq %d by mod", got, del.Seq)
		}
	}
	check(s)
	if seen := rec.seen(); len(seen) != int(cleared.Seq) {
		t.Errorf("OnCommit saw %d events, want %d", len(seen), cleared.Seq)
	}
	// A retried event is the same event.
	if got, dup, err := s.Append(ctx, "r", store.NewMessage{Kind: store.KindBan, ClientID: "b1", UserID: "mod", Subject: "zed", Reason: "spam", Until: until}); err != nil || !dup || got.Seq != ban.Seq {
		t.Errorf("retried ban = %+v, dup %v, %v; want the duplicate of %d", got, dup, err, ban.Seq)
	}
	s = reopen(t, s, db, cfg)
	check(s)
	if got := mustRoom(t, s, "r"); got.TopicBy != "mod2" || got.LastSeq != cleared.Seq {
		t.Errorf("after reopen: room topic by %q, last seq %d", got.TopicBy, got.LastSeq)
	}
}

func testModerationEventErrors(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	ctx := context.Background()
	mustCreate(t, s, "r")
	m1 := mustAppend(t, s, "r", "m1", "hello")
	later := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		m    store.NewMessage
	}{
		{"kick without subject", store.NewMessage{Kind: store.KindKick, UserID: "mod"}},
		{"ban with text", store.NewMessage{Kind: store.KindBan, UserID: "mod", Subject: "z", Text: "x"}},
		{"kick with an end", store.NewMessage{Kind: store.KindKick, UserID: "mod", Subject: "z", Until: later}},
		{"topic with a target", store.NewMessage{Kind: store.KindTopic, UserID: "mod", Target: m1.Seq, Text: "t"}},
		{"topic with a subject", store.NewMessage{Kind: store.KindTopic, UserID: "mod", Subject: "z", Text: "t"}},
		{"topic with a file", store.NewMessage{Kind: store.KindTopic, UserID: "mod", Text: "t", File: &store.File{ID: "f"}}},
		{"plain message with a reason", store.NewMessage{UserID: "u", Text: "x", Reason: "why"}},
		{"edit with a reason", store.NewMessage{Kind: store.KindEdit, Target: m1.Seq, UserID: "u", Text: "x", Reason: "why"}},
		{"delete with a subject", store.NewMessage{Kind: store.KindDelete, Target: m1.Seq, UserID: "u", Subject: "z"}},
		{"unknown kind", store.NewMessage{Kind: store.MessageKind(42), UserID: "u", Subject: "z"}},
	} {
		if _, _, err := s.Append(ctx, "r", tc.m); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("%s = %v, want ErrInvalid", tc.name, err)
		}
	}
	if got := mustRoom(t, s, "r").LastSeq; got != m1.Seq {
		t.Errorf("refused events took seqs: LastSeq %d, want %d", got, m1.Seq)
	}
}
