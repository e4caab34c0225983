package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
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

// createRooms creates rooms on page "p" through node and returns their ids.
func createRooms(t *testing.T, node *pgstore.Store, ids ...string) []string {
	t.Helper()
	for _, id := range ids {
		if _, err := node.CreateRoom(context.Background(), store.Room{ID: id, PageID: "p"}); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// sendFromEveryNode starts, on wg, senders goroutines per node that each
// append perSender messages to rooms in turn. A message's client id is
// "n<node>-<sender>-<i>", so a test can tell which node sent it.
func sendFromEveryNode(ctx context.Context, t *testing.T, wg *sync.WaitGroup, nodes []*pgstore.Store, rooms []string, senders, perSender int) {
	for n, node := range nodes {
		for g := range senders {
			wg.Go(func() {
				for i := range perSender {
					room := rooms[(g+i)%len(rooms)]
					if _, _, err := node.Append(ctx, room, store.NewMessage{ClientID: fmt.Sprintf("n%d-%d-%d", n, g, i), UserID: "u", Text: "x"}); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
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
	rooms := createRooms(t, nodes[0], "p.a", "p.b")
	const perSender = 60
	var wg sync.WaitGroup
	sendFromEveryNode(ctx, t, &wg, nodes, rooms, 4, perSender)
	wg.Go(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Error(err)
			return
		}
		defer func() { _ = conn.Close(ctx) }()
		for range 5 {
			if _, err := conn.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pagechat-listen'`); err != nil {
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

// With OnFollow set, a node's OnCommit gets exactly its own messages and
// OnFollow exactly the other node's, even when the follower reads a
// node's own commit before its writer hands it on (the wake-up of its own
// commit comes back at once): the notifier judges promptly only what
// reaches OnCommit, so a message of its own sent to OnFollow waited for
// another node's grace.
func TestOnFollowGetsOnlyOtherNodesMessages(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	type origin struct {
		mu                sync.Mutex
		own, other, wrong int
	}
	var origins [2]origin
	logs := []*seqLog{newSeqLog(t), newSeqLog(t)}
	nodes := make([]*pgstore.Store, 2)
	for i := range nodes {
		o, l := &origins[i], logs[i]
		mine := fmt.Sprintf("n%d-", i)
		tally := func(follow bool) store.CommitFunc {
			return func(added []store.Message) {
				l.onCommit(added)
				o.mu.Lock()
				defer o.mu.Unlock()
				for _, m := range added {
					switch ownMsg := strings.HasPrefix(m.ClientID, mine); {
					case ownMsg && !follow:
						o.own++
					case !ownMsg && follow:
						o.other++
					default:
						o.wrong++
						if o.wrong <= 3 {
							t.Errorf("node %d: %s seq %d (client id %s) came through OnFollow=%v", i, m.RoomID, m.Seq, m.ClientID, follow)
						}
					}
				}
			}
		}
		s, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn, OnCommit: tally(false), OnFollow: tally(true), PollInterval: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		nodes[i] = s
	}
	rooms := createRooms(t, nodes[0], "p.a", "p.b")
	const perSender = 40
	var wg sync.WaitGroup
	sendFromEveryNode(ctx, t, &wg, nodes, rooms, 2, perSender)
	wg.Wait()
	const each = 2 * perSender
	for i := range nodes {
		o := &origins[i]
		testutil.Eventually(t, 30*time.Second, func() bool {
			o.mu.Lock()
			defer o.mu.Unlock()
			return o.own+o.other+o.wrong == 2*each
		}, "node %d hearing every message", i)
		o.mu.Lock()
		if o.own != each || o.other != each {
			t.Errorf("node %d: OnCommit got %d of its %d messages, OnFollow %d of the other's %d", i, o.own, each, o.other, each)
		}
		o.mu.Unlock()
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
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pagechat-listen' AND state = 'idle'`).Scan(&n)
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

// A node whose transcript write fails lets the room's lease lapse and sits
// out one lease term for it, so a node whose host works takes the room
// over instead of the failing node renewing the lease on every look for as
// long as its host is broken. If no other node takes it, the failing node
// gets it back after that term, and two failing nodes take turns.
func TestFailedTranscriptWriteHandsTheLeaseOver(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	const lease = time.Hour // never runs out by itself during the test
	open := func(node string) *pgstore.Store {
		s, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn, Node: node, LeaseTTL: lease,
			DayOf: func(t time.Time) string { return t.UTC().Format(time.DateOnly) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	a, b := open("a"), open("b")
	if _, err := a.CreateRoom(ctx, store.Room{ID: "p.t", PageID: "p"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Append(ctx, "p.t", store.NewMessage{ClientID: "c", UserID: "u", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	// look asks s for the pending days, as its transcript writer does, and
	// reports whether s holds the room: the day of a room another node
	// holds (or s must keep out of) comes back due only much later.
	look := func(s *pgstore.Store) (held bool, date string) {
		t.Helper()
		p, err := s.PendingTranscripts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 1 {
			t.Fatalf("%s: %d pending days, want 1", s.Node(), len(p))
		}
		return p[0].NextTry.Before(time.Now().Add(lease / 2)), p[0].Date
	}
	fail := func(s *pgstore.Store, date string) {
		t.Helper()
		if _, err := s.TranscriptFailed(ctx, "p.t", date, time.Now().Add(time.Second)); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(s *pgstore.Store, want bool, why string) string {
		t.Helper()
		held, date := look(s)
		if held != want {
			t.Fatalf("%s holds the room: %v, want %v (%s)", s.Node(), held, want, why)
		}
		return date
	}

	date := expect(a, true, "first to look")
	expect(b, false, "a holds it")
	fail(a, date)
	expect(a, false, "a just failed: it must not renew its lease")
	expect(b, true, "a let its lease lapse")
	expect(a, false, "b holds it")

	// Both hosts broken: the nodes take turns, each retry counted.
	fail(b, date)
	expect(b, false, "b just failed")
	expect(a, true, "b let its lease lapse")

	// Alone, a failing node gets the room back after sitting out a term.
	fail(a, date)
	expect(a, false, "a just failed")
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, `UPDATE pagechat.transcript_leases SET expires_at = expires_at - make_interval(secs => $1)`, (lease + time.Minute).Seconds()); err != nil {
		t.Fatal(err)
	}
	expect(a, true, "a term has passed and no other node took the room")
	expect(b, false, "a holds it again")
}

// The mark of a given-up lease cannot be a node's own id, or that node
// would renew a lease it gave up.
func TestNodeIDCannotLookLikeAGivenUpLease(t *testing.T) {
	t.Parallel()
	_, err := pgstore.Open(context.Background(), pgstore.Options{DSN: pgtest.DSN(t), Node: "!released:n1"})
	if !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Open = %v, want store.ErrInvalid", err)
	}
}

// TestBansHeardAcrossNodes: each node keeps the bans it read, a ban or
// its lifting on one node holds on the other as soon as its notification
// arrives (well before a cached entry would expire, after 5 s), and a node
// that loses its LISTEN connection stops serving what it kept.
func TestBansHeardAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := openNode(t, dsn, nil), openNode(t, dsn, nil)
	ctx := context.Background()
	if _, err := a.CreateRoom(ctx, store.Room{ID: "p.bans", PageID: "p"}); err != nil {
		t.Fatal(err)
	}
	raw, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close(ctx) }()
	banned := func(s *pgstore.Store, user string) bool {
		t.Helper()
		_, err := s.Ban(ctx, "p.bans", user)
		if err != nil && !errors.Is(err, store.ErrBanNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	// cachedOn reports whether node a answers from memory: a ban
	// written behind every store's back is not seen.
	n := 0
	cachedOn := func() bool {
		n++
		user := fmt.Sprint("raw-", n)
		banned(a, user)
		if _, err := raw.Exec(ctx, `INSERT INTO pagechat.bans (room_id, user_id, reason, banned_by, banned_at) VALUES ('p.bans', $1, '', 'test', now())`, user); err != nil {
			t.Fatal(err)
		}
		return !banned(a, user)
	}
	testutil.Eventually(t, 10*time.Second, cachedOn, "node a to keep the room's bans")

	if _, err := b.PutBan(ctx, store.Ban{RoomID: "p.bans", UserID: "mallory", Reason: "spam", BannedBy: "mod"}); err != nil {
		t.Fatal(err)
	}
	if !banned(b, "mallory") {
		t.Error("node b does not see its own ban at once")
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return banned(a, "mallory") }, "node a to hear of node b's ban")
	if bans, err := a.Bans(ctx, "p.bans"); err != nil || !slices.ContainsFunc(bans, func(x store.Ban) bool { return x.UserID == "mallory" && x.Reason == "spam" }) {
		t.Errorf("node a lists %+v, %v; want mallory's ban among them", bans, err)
	}
	if err := a.DeleteBan(ctx, "p.bans", "mallory"); err != nil {
		t.Fatal(err)
	}
	if banned(a, "mallory") {
		t.Error("node a still sees the ban it lifted")
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return !banned(b, "mallory") }, "node b to hear the ban lifted")

	// Without its notifications node a drops what it kept at once,
	// long before it would expire.
	testutil.Eventually(t, 10*time.Second, cachedOn, "node a to keep the room's bans again")
	hidden := fmt.Sprint("raw-", n)
	if _, err := raw.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'pagechat-listen'`); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return banned(a, hidden) }, "node a to stop serving bans it can no longer hear about")
	if _, err := a.Ban(ctx, "p.nowhere", "u"); !errors.Is(err, store.ErrRoomNotFound) {
		t.Errorf("ban in an unknown room: %v, want ErrRoomNotFound", err)
	}
}

// TestWatchesHeardAcrossNodes: like bans, each node keeps the rooms'
// watches it read, and a change on one node reaches the other's as soon
// as its notification arrives (well before an entry would expire).
func TestWatchesHeardAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := openNode(t, dsn, nil), openNode(t, dsn, nil)
	ctx := context.Background()
	if _, err := a.CreateRoom(ctx, store.Room{ID: "p.watch", PageID: "p"}); err != nil {
		t.Fatal(err)
	}
	raw, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = raw.Close(ctx) }()
	state := func(s *pgstore.Store, user string) store.WatchState {
		t.Helper()
		w, err := s.Watches(ctx, "p.watch")
		if err != nil {
			t.Fatal(err)
		}
		return w[user]
	}
	// Node a answers from memory once it listens: a watch written
	// behind every store's back is not seen.
	n := 0
	testutil.Eventually(t, 10*time.Second, func() bool {
		n++
		user := fmt.Sprint("raw-", n)
		state(a, user)
		if _, err := raw.Exec(ctx, `INSERT INTO pagechat.watches (room_id, user_id, state) VALUES ('p.watch', $1, $2)`, user, int16(store.WatchOn)); err != nil {
			t.Fatal(err)
		}
		return state(a, user) != store.WatchOn
	}, "node a to keep the room's watches")

	if err := b.SetWatch(ctx, "p.watch", "carol", store.WatchOn); err != nil {
		t.Fatal(err)
	}
	if state(b, "carol") != store.WatchOn {
		t.Error("node b does not see its own watch at once")
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return state(a, "carol") == store.WatchOn }, "node a to hear of node b's watch")
	if err := a.SetWatch(ctx, "p.watch", "carol", store.WatchOff); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return state(b, "carol") == store.WatchOff }, "node b to hear carol stopped watching")
}
