package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/pgtest"
	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/store/pgstore"
)

// seqLog is an OnCommit that records, per room, the seqs it was given and
// fails on a gap, a repeat or overlapping calls.
type seqLog struct {
	t    *testing.T
	mu   sync.Mutex
	busy bool
	last map[string]uint64
}

func newSeqLog(t *testing.T) *seqLog { return &seqLog{t: t, last: map[string]uint64{}} }

func (l *seqLog) onCommit(added []store.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.busy {
		l.t.Error("OnCommit calls overlap")
	}
	for _, m := range added {
		if m.Seq != l.last[m.RoomID]+1 {
			l.t.Errorf("room %s: OnCommit got seq %d after %d", m.RoomID, m.Seq, l.last[m.RoomID])
		}
		l.last[m.RoomID] = m.Seq
	}
}

func (l *seqLog) lastSeq(room string) uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last[room]
}

func openNode(t *testing.T, dsn string, onCommit store.CommitFunc) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), pgstore.Options{DSN: dsn, OnCommit: onCommit, PollInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Two nodes append to the same rooms at once; each node's OnCommit sees
// every message of every room, its own and the other's, once and in
// order, even while the LISTEN connections are being killed.
func TestNodesSeeEachOthersMessagesOnceInOrder(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	logs := []*seqLog{newSeqLog(t), newSeqLog(t)}
	nodes := []*pgstore.Store{openNode(t, dsn, logs[0].onCommit), openNode(t, dsn, logs[1].onCommit)}
	ctx := context.Background()
	rooms := []string{"p.a", "p.b"}
	for _, r := range rooms {
		if _, err := nodes[0].CreateRoom(ctx, store.Room{ID: r, PageID: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	const perSender = 60
	var wg sync.WaitGroup
	for n, node := range nodes {
		for g := range 4 {
			wg.Go(func() {
				for i := range perSender {
					room := rooms[(g+i)%len(rooms)]
					if _, _, err := node.Append(ctx, room, store.NewMessage{ClientID: fmt.Sprint(n, g, i), UserID: "u", Text: "x"}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Go(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		for range 5 {
			if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN pagechat'`); err != nil {
				t.Error(err)
			}
			time.Sleep(30 * time.Millisecond)
		}
	})
	wg.Wait()
	var total uint64
	for _, r := range rooms {
		room, err := nodes[1].Room(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		total += room.LastSeq
		for i, l := range logs {
			testutil.Eventually(t, 30*time.Second, func() bool { return l.lastSeq(r) == room.LastSeq },
				"node %d delivering room %s up to %d", i, r, room.LastSeq)
		}
	}
	if total != 2*4*perSender {
		t.Errorf("%d messages stored, want %d", total, 2*4*perSender)
	}
}

// Nodes starting together on an empty database create the schema once,
// under the migration lock, and all start.
func TestNodesStartingTogetherMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			s, err := pgstore.Open(context.Background(), pgstore.Options{DSN: dsn})
			if err != nil {
				errs <- err
				return
			}
			errs <- s.Close()
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a node starting with others: %v", err)
		}
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var rows, version int
	if err := conn.QueryRow(context.Background(), `SELECT count(*), max(version) FROM pagechat.schema_version`).Scan(&rows, &version); err != nil {
		t.Fatal(err)
	}
	if rows != 1 || version != pgstore.CurrentSchema {
		t.Errorf("schema_version has %d rows, version %d; want 1 row at %d", rows, version, pgstore.CurrentSchema)
	}
}

func TestOpenFailsClearly(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, dsn string
		want      error
	}{
		{"malformed", "postgres://u:pw1234@127.0.0.1:nope/db", store.ErrInvalid},
		{"unreachable", "postgres://u:pw1234@127.0.0.1:1/db?connect_timeout=2", store.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := pgstore.Open(context.Background(), pgstore.Options{DSN: tc.dsn})
			if !errors.Is(err, tc.want) {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw1234") {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
}

// A node hears of another node's commit by its notification, not only by
// the slow poll: with the poll an hour away, the message still arrives.
// The notification is sent after the commit, outside its transaction, so
// this is what checks that it is sent at all.
func TestNotificationWakesTheOtherNode(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	open := func(onCommit store.CommitFunc) *pgstore.Store {
		s, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn, OnCommit: onCommit, PollInterval: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a := open(nil)
	if _, err := a.CreateRoom(ctx, store.Room{ID: "p.n", PageID: "p"}); err != nil {
		t.Fatal(err)
	}
	log := newSeqLog(t)
	open(log.onCommit)
	// Both followers listen before the send; a listener's first act after
	// connecting is one poll, which must not be what finds the message.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	testutil.Eventually(t, 30*time.Second, func() bool {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN pagechat' AND state = 'idle'`).Scan(&n)
		return err == nil && n == 2
	}, "both nodes listening")
	time.Sleep(100 * time.Millisecond) // the listeners' first poll, done
	for i := range 3 {
		if _, _, err := a.Append(ctx, "p.n", store.NewMessage{ClientID: fmt.Sprint("c", i), UserID: "u", Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 30*time.Second, func() bool { return log.lastSeq("p.n") == 3 }, "the other node delivering the messages")
}
