package pgstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/internal/testutil/pgtest"
	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/store/pgstore"
)

// A database written by the release before moderation and notifications
// (schema version 1) is migrated in place at Open: its messages read back
// with the new fields empty, its rooms take topics, and its history counts
// as judged, so the upgrade sends no alerts for old messages.
func TestMigrateFromVersion1(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC)
	setup := []string{
		`CREATE SCHEMA pagechat`,
		`CREATE TABLE pagechat.schema_version (version integer NOT NULL)`,
		`INSERT INTO pagechat.schema_version VALUES (1)`,
		pgstore.Migrations[0],
	}
	for _, q := range setup {
		if _, err := conn.Exec(ctx, q); err != nil {
			t.Fatalf("build a version 1 database: %v", err)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO pagechat.rooms (id, page_id, name, slug, epoch, created_at, last_seq, last_activity)
		VALUES ('old', 'p1', 'Old', 'old', 'e1', $1, 2, $1)`, sent); err != nil {
		t.Fatal(err)
	}
	for seq, text := range []string{"first", "second"} {
		if _, err := conn.Exec(ctx, `INSERT INTO pagechat.messages (room_id, seq, client_id, user_id, user_name, text, html, sent_at, kind, target, edit_seq, erased)
			VALUES ('old', $1, '', 'u1', 'Ann', $2, $2, $3, 0, 0, 0, false)`, seq+1, text, sent); err != nil {
			t.Fatal(err)
		}
	}
	_ = conn.Close(ctx)

	st, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn})
	if err != nil {
		t.Fatalf("open a version 1 database: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	msgs, err := st.After(ctx, "old", 0, 10)
	if err != nil || len(msgs) != 2 || msgs[1].Text != "second" || msgs[1].Mentions != nil || msgs[1].DeleteSeq != 0 {
		t.Fatalf("old messages after migration = %+v, %v; want both, new fields empty", msgs, err)
	}
	if seq, err := st.JudgedSeq(ctx, "old"); err != nil || seq != 2 {
		t.Errorf("JudgedSeq(old) = %d, %v; want 2 (history counts as judged)", seq, err)
	}
	if rooms, err := st.Unjudged(ctx); err != nil || len(rooms) != 0 {
		t.Errorf("Unjudged = %v, %v; want none", rooms, err)
	}
	ev, _, err := st.Append(ctx, "old", store.NewMessage{UserID: "mod", UserName: "Mo", Kind: store.KindTopic, Text: "Plans"})
	if err != nil {
		t.Fatalf("topic event on a migrated room: %v", err)
	}
	room, err := st.Room(ctx, "old")
	if err != nil || room.Topic != "Plans" || room.TopicBy != "mod" || !room.TopicAt.Equal(ev.SentAt) {
		t.Errorf("room after topic = %+v, %v; want topic Plans by mod at %v", room, err, ev.SentAt)
	}
	if err := st.CommitNotifications(ctx, []store.NotifyBatch{{RoomID: "old", JudgedSeq: ev.Seq}}); err != nil {
		t.Errorf("judge the new message: %v", err)
	}

	check, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = check.Close(ctx) }()
	var version int
	if err := check.QueryRow(ctx, `SELECT version FROM pagechat.schema_version`).Scan(&version); err != nil || version != pgstore.CurrentSchema {
		t.Errorf("schema version = %d, %v; want %d", version, err, pgstore.CurrentSchema)
	}
}

// Two nodes that judge the same messages (every node's OnCommit sees every
// message) cannot both queue alerts: the judged sequence is claimed in the
// commit, and the loser's alerts are rolled back with
// store.ErrStaleJudgement.
func TestJudgementClaimedOnceAcrossNodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	a, b := openNode(t, dsn, nil), openNode(t, dsn, nil)
	if _, err := a.CreateRoom(ctx, store.Room{ID: "r", PageID: "p", Name: "R"}); err != nil {
		t.Fatal(err)
	}
	m, _, err := a.Append(ctx, "r", store.NewMessage{UserID: "u1", UserName: "Ann", Text: "hi @bob", Mentions: []string{"bob"}})
	if err != nil {
		t.Fatal(err)
	}
	alert := func(node string) []store.NotifyBatch {
		return []store.NotifyBatch{{RoomID: "r", JudgedSeq: m.Seq, Alerts: []store.Alert{{
			ID: "mention-" + node, UserID: "bob", Kind: "mention", Seq: m.Seq, Subject: "Ann mentioned you", Created: time.Now()}}}}
	}
	errs := make(chan error, 2)
	go func() { errs <- a.CommitNotifications(ctx, alert("a")) }()
	go func() { errs <- b.CommitNotifications(ctx, alert("b")) }()
	var won, stale int
	for range 2 {
		switch err := <-errs; {
		case err == nil:
			won++
		case errors.Is(err, store.ErrStaleJudgement):
			stale++
		default:
			t.Errorf("CommitNotifications: %v", err)
		}
	}
	if won != 1 || stale != 1 {
		t.Errorf("%d judgements won and %d were stale; want 1 and 1", won, stale)
	}
	out, err := b.Outbox(ctx, 10)
	if err != nil || len(out) != 1 {
		t.Errorf("outbox = %+v, %v; want exactly one alert", out, err)
	}
}
