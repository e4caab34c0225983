package store

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock advances one second per call so every commit gets a distinct,
// predictable timestamp.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

func openAt(t testing.TB, path string, opts Options) *Bolt {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func openTemp(t testing.TB, opts Options) (*Bolt, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "chat.db")
	return openAt(t, path, opts), path
}

func mustCreate(t testing.TB, s *Bolt, id string) Room {
	t.Helper()
	r, err := s.CreateRoom(context.Background(), Room{ID: id, PageID: "p", Name: "Room " + id, Slug: id})
	if err != nil {
		t.Fatalf("CreateRoom(%q): %v", id, err)
	}
	return r
}

func mustAppend(t testing.TB, s *Bolt, room, cid, text string) Message {
	t.Helper()
	m, dup, err := s.Append(context.Background(), room, NewMessage{ClientID: cid, UserID: "u1", UserName: "User One", Text: text})
	if err != nil {
		t.Fatalf("Append(%q, %q): %v", room, cid, err)
	}
	if dup {
		t.Fatalf("Append(%q, %q): unexpected duplicate", room, cid)
	}
	return m
}

// commitRecorder is an OnCommit that records what it saw and checks that
// calls never overlap.
type commitRecorder struct {
	t        testing.TB
	inFlight atomic.Int32
	mu       sync.Mutex
	calls    int
	msgs     []Message
}

func (r *commitRecorder) onCommit(added []Message) {
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

func (r *commitRecorder) seen() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

func TestOpenCreatesParentDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "a", "b")
	openAt(t, filepath.Join(dir, "chat.db"), Options{})
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("parent dir mode = %o, want 700", perm)
	}
}

func TestOpenLocked(t *testing.T) {
	t.Parallel()
	first, path := openTemp(t, Options{})

	const timeout = 200 * time.Millisecond
	start := time.Now()
	second, err := Open(path, Options{LockTimeout: timeout})
	elapsed := time.Since(start)
	if err == nil {
		_ = second.Close()
		t.Fatal("second Open succeeded, want ErrLocked")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "pagechat plugin") {
		t.Errorf("error %q should name the path and the likely culprit", err)
	}
	if elapsed > timeout+2*time.Second {
		t.Errorf("second Open took %v with LockTimeout %v", elapsed, timeout)
	}

	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	openAt(t, path, Options{LockTimeout: timeout})
}

func TestCreateRoom(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s, _ := openTemp(t, Options{Now: clock.Now})
	ctx := context.Background()

	in := Room{
		ID: "page1.general", PageID: "page1", Name: "General", Slug: "general",
		Epoch: "caller-supplied", LastSeq: 42,
		Participants: []Participant{{UserID: "creator", DisplayName: "Creator"}},
	}
	r1, err := s.CreateRoom(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(r1.Epoch) != 32 || strings.Trim(r1.Epoch, "0123456789abcdef") != "" {
		t.Errorf("Epoch = %q, want 32 hex digits", r1.Epoch)
	}
	if r1.CreatedAt.IsZero() || r1.LastSeq != 0 || !r1.LastActivity.IsZero() {
		t.Errorf("new room = %+v, want CreatedAt set, no messages", r1)
	}
	if r1.Name != "General" || r1.PageID != "page1" || r1.Slug != "general" || len(r1.Participants) != 1 {
		t.Errorf("new room = %+v, lost caller fields", r1)
	}

	again, err := s.CreateRoom(ctx, Room{ID: "page1.general", Name: "Renamed"})
	if err != nil {
		t.Fatal(err)
	}
	if !roomsEqual(again, r1) {
		t.Errorf("second CreateRoom = %+v, want unchanged %+v", again, r1)
	}
	got, err := s.Room(ctx, "page1.general")
	if err != nil {
		t.Fatal(err)
	}
	if !roomsEqual(got, r1) {
		t.Errorf("Room = %+v, want %+v", got, r1)
	}

	other := mustCreate(t, s, "page1.other")
	if other.Epoch == r1.Epoch {
		t.Error("two rooms got the same epoch")
	}
	if n, err := s.RoomCount(ctx); err != nil || n != 2 {
		t.Errorf("RoomCount = %d, %v; want 2", n, err)
	}

	for _, id := range []string{"", strings.Repeat("x", 40000)} {
		if _, err := s.CreateRoom(ctx, Room{ID: id}); err == nil {
			t.Errorf("CreateRoom(id of %d bytes) succeeded", len(id))
		}
	}
	if _, err := s.Room(ctx, "nope"); !errors.Is(err, ErrRoomNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Room(unknown) = %v, want ErrRoomNotFound naming the room", err)
	}
}

func TestRoomCountEmpty(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, Options{})
	if n, err := s.RoomCount(context.Background()); err != nil || n != 0 {
		t.Errorf("RoomCount = %d, %v; want 0", n, err)
	}
}

func roomsEqual(a, b Room) bool {
	if a.ID != b.ID || a.PageID != b.PageID || a.Name != b.Name || a.Slug != b.Slug || a.Epoch != b.Epoch ||
		!a.CreatedAt.Equal(b.CreatedAt) || a.LastSeq != b.LastSeq || !a.LastActivity.Equal(b.LastActivity) ||
		len(a.Participants) != len(b.Participants) {
		return false
	}
	for i := range a.Participants {
		p, q := a.Participants[i], b.Participants[i]
		if p.UserID != q.UserID || p.DisplayName != q.DisplayName || !p.LastSeen.Equal(q.LastSeen) {
			return false
		}
	}
	return true
}

func messagesEqual(a, b Message) bool {
	return a.RoomID == b.RoomID && a.Seq == b.Seq && a.ClientID == b.ClientID && a.UserID == b.UserID &&
		a.UserName == b.UserName && a.Text == b.Text && a.SentAt.Equal(b.SentAt)
}

func TestAppendBasics(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	rec := &commitRecorder{t: t}
	s, _ := openTemp(t, Options{Now: clock.Now, OnCommit: rec.onCommit})
	ctx := context.Background()
	mustCreate(t, s, "r")

	m1, dup, err := s.Append(ctx, "r", NewMessage{ClientID: "c1", UserID: "u1", UserName: "Ann", Text: "hello"})
	if err != nil || dup {
		t.Fatalf("Append = %v, %v", dup, err)
	}
	if m1.Seq != 1 || m1.RoomID != "r" || m1.Text != "hello" || m1.SentAt.IsZero() {
		t.Errorf("first message = %+v", m1)
	}

	again, dup, err := s.Append(ctx, "r", NewMessage{ClientID: "c1", UserID: "u1", UserName: "Ann", Text: "different"})
	if err != nil || !dup || !messagesEqual(again, m1) {
		t.Errorf("retry = %+v, %v, %v; want duplicate of %+v", again, dup, err, m1)
	}

	// An empty client id opts out of deduplication.
	for want := uint64(2); want <= 3; want++ {
		m, dup, err := s.Append(ctx, "r", NewMessage{UserID: "u1", Text: "no id"})
		if err != nil || dup || m.Seq != want {
			t.Errorf("Append without client id = seq %d, %v, %v; want seq %d", m.Seq, dup, err, want)
		}
	}

	if _, _, err := s.Append(ctx, "r", NewMessage{ClientID: strings.Repeat("c", 40000)}); err == nil {
		t.Error("Append with oversized client id succeeded")
	}

	room, err := s.Room(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if room.LastSeq != 3 {
		t.Errorf("LastSeq = %d, want 3", room.LastSeq)
	}
	msgs, err := s.After(ctx, "r", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 3 || !messagesEqual(msgs[0], m1) {
		t.Errorf("After = %+v", msgs)
	}
	if !room.LastActivity.Equal(msgs[2].SentAt) {
		t.Errorf("LastActivity = %v, want %v", room.LastActivity, msgs[2].SentAt)
	}
	if got := rec.seen(); len(got) != 3 {
		t.Errorf("OnCommit saw %d messages, want 3 (duplicates are not reported)", len(got))
	}
}

func TestConcurrentAppendsAreGapless(t *testing.T) {
	t.Parallel()
	const (
		senders = 32
		perSend = 50
	)
	rooms := []string{"p.a", "p.b"}
	rec := &commitRecorder{t: t}
	s, _ := openTemp(t, Options{OnCommit: rec.onCommit})
	for _, id := range rooms {
		mustCreate(t, s, id)
	}

	var wg sync.WaitGroup
	acked := make([][]Message, senders)
	for g := range senders {
		wg.Go(func() {
			for j := range perSend {
				room := rooms[(g+j)%len(rooms)]
				m, dup, err := s.Append(context.Background(), room, NewMessage{
					ClientID: fmt.Sprintf("g%d-%d", g, j), UserID: fmt.Sprintf("u%d", g), Text: "hi",
				})
				if err != nil || dup {
					t.Errorf("Append: dup=%v err=%v", dup, err)
					return
				}
				acked[g] = append(acked[g], m)
			}
		})
	}
	wg.Wait()

	perRoom := senders * perSend / len(rooms)
	committed := make(map[string][]Message)
	for _, m := range rec.seen() {
		committed[m.RoomID] = append(committed[m.RoomID], m)
	}
	for _, id := range rooms {
		msgs, err := s.After(context.Background(), id, 0, 10*perRoom)
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != perRoom {
			t.Errorf("room %s has %d messages, want %d", id, len(msgs), perRoom)
		}
		for i, m := range msgs {
			if m.Seq != uint64(i+1) {
				t.Fatalf("room %s: message %d has seq %d", id, i, m.Seq)
			}
		}
		if got := committed[id]; len(got) != perRoom {
			t.Errorf("OnCommit saw %d messages for %s, want %d", len(got), id, perRoom)
		} else {
			for i, m := range got {
				if !messagesEqual(m, msgs[i]) {
					t.Fatalf("room %s: OnCommit message %d = %+v, stored %+v", id, i, m, msgs[i])
				}
			}
		}
		room, err := s.Room(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if room.LastSeq != uint64(perRoom) || len(room.Participants) != senders {
			t.Errorf("room %s: LastSeq %d, %d participants", id, room.LastSeq, len(room.Participants))
		}
	}
	for g, ms := range acked {
		for _, m := range ms {
			stored, err := s.After(context.Background(), m.RoomID, m.Seq-1, 1)
			if err != nil || len(stored) != 1 || !messagesEqual(stored[0], m) {
				t.Fatalf("sender %d: acknowledged %+v, stored %+v (%v)", g, m, stored, err)
			}
		}
	}
}

func TestConcurrentSameClientID(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, Options{})
	mustCreate(t, s, "r")

	const n = 20
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		seqs  = map[uint64]int{}
		fresh int
	)
	for range n {
		wg.Go(func() {
			m, dup, err := s.Append(context.Background(), "r", NewMessage{ClientID: "same", UserID: "u", Text: "once"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			seqs[m.Seq]++
			if !dup {
				fresh++
			}
		})
	}
	wg.Wait()
	if len(seqs) != 1 || seqs[1] != n || fresh != 1 {
		t.Errorf("seqs %v, %d non-duplicates; want all %d at seq 1, one non-duplicate", seqs, fresh, n)
	}
	msgs, err := s.After(context.Background(), "r", 0, 100)
	if err != nil || len(msgs) != 1 {
		t.Errorf("stored %d messages (%v), want 1", len(msgs), err)
	}
}

// newTestRequest builds a request the way submit does, for tests that drive
// commit directly to control exactly what lands in one batch.
func newTestRequest(kind opKind, room string, m NewMessage, p Participant) *request {
	return &request{ctx: context.Background(), kind: kind, roomID: room, msg: m, part: p, done: make(chan result, 1)}
}

func TestBatchMixedResults(t *testing.T) {
	t.Parallel()
	rec := &commitRecorder{t: t}
	s, _ := openTemp(t, Options{OnCommit: rec.onCommit})
	mustCreate(t, s, "r")
	canceled, cancel := context.WithCancel(context.Background())
	cancel()

	batch := []*request{
		newTestRequest(opAppend, "r", NewMessage{ClientID: "a", UserID: "u1", Text: "1"}, Participant{}),
		newTestRequest(opAppend, "nope", NewMessage{ClientID: "b", UserID: "u1", Text: "lost"}, Participant{}),
		newTestRequest(opAppend, "r", NewMessage{ClientID: "c", UserID: "u2", Text: "2"}, Participant{}),
		newTestRequest(opAppend, "r", NewMessage{ClientID: "a", UserID: "u1", Text: "retry"}, Participant{}),
		newTestRequest(opTouch, "nope", NewMessage{}, Participant{UserID: "u3"}),
		newTestRequest(opTouch, "r", NewMessage{}, Participant{UserID: "u3", DisplayName: "Three"}),
		newTestRequest(opAppend, "r", NewMessage{ClientID: "d", Text: "gave up"}, Participant{}),
	}
	batch[6].ctx = canceled
	// The writer is idle, so calling commit here does not overlap with it.
	s.commit(batch)

	res := make([]result, len(batch))
	for i, r := range batch {
		res[i] = <-r.done
	}
	if res[0].err != nil || res[0].dup || res[0].msg.Seq != 1 {
		t.Errorf("first append = %+v", res[0])
	}
	if !errors.Is(res[1].err, ErrRoomNotFound) || !strings.Contains(res[1].err.Error(), "nope") {
		t.Errorf("unknown room = %v, want ErrRoomNotFound naming the room", res[1].err)
	}
	if res[2].err != nil || res[2].msg.Seq != 2 {
		t.Errorf("second append = %+v", res[2])
	}
	if res[3].err != nil || !res[3].dup || !messagesEqual(res[3].msg, res[0].msg) {
		t.Errorf("in-batch duplicate = %+v, want duplicate of %+v", res[3], res[0].msg)
	}
	if !errors.Is(res[4].err, ErrRoomNotFound) {
		t.Errorf("touch unknown room = %v", res[4].err)
	}
	if res[5].err != nil {
		t.Errorf("touch = %v", res[5].err)
	}
	if !errors.Is(res[6].err, context.Canceled) {
		t.Errorf("canceled request = %v", res[6].err)
	}

	if rec.calls != 1 || len(rec.msgs) != 2 || rec.msgs[0].Seq != 1 || rec.msgs[1].Seq != 2 {
		t.Errorf("OnCommit: %d calls, %+v", rec.calls, rec.msgs)
	}
	room, err := s.Room(context.Background(), "r")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, p := range room.Participants {
		ids = append(ids, p.UserID)
	}
	if room.LastSeq != 2 || strings.Join(ids, ",") != "u1,u2,u3" {
		t.Errorf("room after batch: LastSeq %d, participants %v", room.LastSeq, ids)
	}
}

func TestUnknownRoomDoesNotFailOthers(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, Options{})
	mustCreate(t, s, "r")

	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			room := "r"
			if i%2 == 1 {
				room = "missing"
			}
			_, _, err := s.Append(context.Background(), room, NewMessage{ClientID: fmt.Sprint(i), Text: "x"})
			switch {
			case room == "r" && err != nil:
				t.Errorf("valid append: %v", err)
			case room == "missing" && !errors.Is(err, ErrRoomNotFound):
				t.Errorf("append to missing room: %v, want ErrRoomNotFound", err)
			}
		})
	}
	wg.Wait()
	if room, err := s.Room(context.Background(), "r"); err != nil || room.LastSeq != 25 {
		t.Errorf("LastSeq = %d, %v; want 25", room.LastSeq, err)
	}
}

func TestTouchParticipant(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	s, _ := openTemp(t, Options{Now: clock.Now})
	ctx := context.Background()
	mustCreate(t, s, "r")
	t1 := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)

	steps := []Participant{
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
	m, _, err := s.Append(ctx, "r", NewMessage{ClientID: "x", UserID: "u3", UserName: "Cy", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	room, err := s.Room(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
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

	if err := s.TouchParticipant(ctx, "nope", Participant{UserID: "u1"}); !errors.Is(err, ErrRoomNotFound) {
		t.Errorf("unknown room: %v", err)
	}
	if err := s.TouchParticipant(ctx, "r", Participant{}); err == nil {
		t.Error("empty user id accepted")
	}
}

func TestReopen(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := Open(path, Options{Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	mustCreate(t, s, "r")
	var before []Message
	for i := range 3 {
		before = append(before, mustAppend(t, s, "r", fmt.Sprint("c", i), "text"))
	}
	if err := s.TouchParticipant(ctx, "r", Participant{UserID: "u9", DisplayName: "Nine"}); err != nil {
		t.Fatal(err)
	}
	roomBefore, err := s.Room(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path, Options{Now: clock.Now})
	roomAfter, err := s.Room(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if !roomsEqual(roomAfter, roomBefore) {
		t.Errorf("room after reopen = %+v, want %+v", roomAfter, roomBefore)
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
	retry, dup, err := s.Append(ctx, "r", NewMessage{ClientID: "c1", UserID: "u1", Text: "text"})
	if err != nil || !dup || !messagesEqual(retry, before[1]) {
		t.Errorf("retry after reopen = %+v, %v, %v; want duplicate of %+v", retry, dup, err, before[1])
	}
	if m := mustAppend(t, s, "r", "c3", "next"); m.Seq != 4 {
		t.Errorf("seq after reopen = %d, want 4", m.Seq)
	}
	if n, err := s.RoomCount(ctx); err != nil || n != 1 {
		t.Errorf("RoomCount = %d, %v", n, err)
	}
}

func TestClosed(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, Options{})
	mustCreate(t, s, "r")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("writer goroutine still running after Close")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}

	ctx := context.Background()
	checks := map[string]error{}
	_, _, checks["Append"] = s.Append(ctx, "r", NewMessage{ClientID: "x"})
	checks["TouchParticipant"] = s.TouchParticipant(ctx, "r", Participant{UserID: "u"})
	_, checks["CreateRoom"] = s.CreateRoom(ctx, Room{ID: "new"})
	_, checks["Room"] = s.Room(ctx, "r")
	_, checks["RoomCount"] = s.RoomCount(ctx)
	_, checks["After"] = s.After(ctx, "r", 0, 0)
	_, _, checks["Before"] = s.Before(ctx, "r", 0, 0)
	for name, err := range checks {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", name, err)
		}
	}
}

func TestCloseWhileAppending(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chat.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
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
				m, _, err := s.Append(context.Background(), "r", NewMessage{ClientID: cid, Text: "x"})
				if err != nil {
					if !errors.Is(err, ErrClosed) {
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

	s = openAt(t, path, Options{})
	msgs, err := s.After(context.Background(), "r", 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	// ErrClosed is only returned for requests the writer never took, so
	// the store holds exactly the acknowledged messages.
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

// blockingCommit makes OnCommit park the writer until release is closed, so
// tests can hold a commit "in flight".
type blockingCommit struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlockingCommit() *blockingCommit {
	return &blockingCommit{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingCommit) onCommit([]Message) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
}

func TestAppendContext(t *testing.T) {
	t.Parallel()

	t.Run("done before submit", func(t *testing.T) {
		t.Parallel()
		s, _ := openTemp(t, Options{})
		mustCreate(t, s, "r")
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := s.Append(ctx, "r", NewMessage{ClientID: "a"}); !errors.Is(err, context.Canceled) {
			t.Errorf("Append = %v, want context.Canceled", err)
		}
		if err := s.TouchParticipant(ctx, "r", Participant{UserID: "u"}); !errors.Is(err, context.Canceled) {
			t.Errorf("TouchParticipant = %v, want context.Canceled", err)
		}
		if room, _ := s.Room(context.Background(), "r"); room.LastSeq != 0 || len(room.Participants) != 0 {
			t.Errorf("canceled requests were stored: %+v", room)
		}
	})

	t.Run("done while queued", func(t *testing.T) {
		t.Parallel()
		gate := newBlockingCommit()
		s, _ := openTemp(t, Options{OnCommit: gate.onCommit})
		mustCreate(t, s, "r")
		first := make(chan error, 1)
		go func() {
			_, _, err := s.Append(context.Background(), "r", NewMessage{ClientID: "first"})
			first <- err
		}()
		<-gate.entered // the writer is busy with "first"

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if _, _, err := s.Append(ctx, "r", NewMessage{ClientID: "queued"}); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("queued Append = %v, want DeadlineExceeded", err)
		}
		close(gate.release)
		if err := <-first; err != nil {
			t.Fatal(err)
		}
		msgs, err := s.After(context.Background(), "r", 0, 0)
		if err != nil || len(msgs) != 1 || msgs[0].ClientID != "first" {
			t.Errorf("stored %+v (%v), want only the first message", msgs, err)
		}
	})

	t.Run("done during commit", func(t *testing.T) {
		t.Parallel()
		gate := newBlockingCommit()
		s, _ := openTemp(t, Options{OnCommit: gate.onCommit})
		mustCreate(t, s, "r")
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() {
			_, _, err := s.Append(ctx, "r", NewMessage{ClientID: "c", Text: "maybe"})
			errc <- err
		}()
		<-gate.entered
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Errorf("Append = %v, want context.Canceled", err)
		}
		close(gate.release)
		// The message was committed anyway; the documented retry is safe.
		m, dup, err := s.Append(context.Background(), "r", NewMessage{ClientID: "c", Text: "maybe"})
		if err != nil || !dup || m.Seq != 1 {
			t.Errorf("retry = seq %d, dup %v, %v; want duplicate of seq 1", m.Seq, dup, err)
		}
	})
}

func TestPaging(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, Options{})
	ctx := context.Background()
	mustCreate(t, s, "full")
	mustCreate(t, s, "empty")
	const n = 10
	for i := range n {
		mustAppend(t, s, "full", fmt.Sprint(i), fmt.Sprint("m", i+1))
	}
	// More than defaultPageLimit messages, to see the default kick in.
	mustCreate(t, s, "big")
	for i := range defaultPageLimit + 5 {
		mustAppend(t, s, "big", fmt.Sprint(i), "x")
	}

	after := []struct {
		name     string
		room     string
		afterSeq uint64
		limit    int
		first    uint64 // 0 = expect no messages
		count    int
	}{
		{"all", "full", 0, 0, 1, n},
		{"limit", "full", 0, 3, 1, 3},
		{"negative limit", "full", 0, -1, 1, n},
		{"tail", "full", 8, 5, 9, 2},
		{"at end", "full", n, 5, 0, 0},
		{"past end", "full", 100, 5, 0, 0},
		{"max seq", "full", math.MaxUint64, 5, 0, 0},
		{"empty room", "empty", 0, 10, 0, 0},
		{"default limit", "big", 0, 0, 1, defaultPageLimit},
	}
	for _, tc := range after {
		t.Run("After/"+tc.name, func(t *testing.T) {
			t.Parallel()
			msgs, err := s.After(ctx, tc.room, tc.afterSeq, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			checkRun(t, msgs, tc.first, tc.count)
		})
	}

	before := []struct {
		name      string
		room      string
		beforeSeq uint64
		limit     int
		first     uint64
		count     int
		more      bool
	}{
		{"newest", "full", 0, 3, 8, 3, true},
		{"all", "full", 0, 0, 1, n, false},
		{"exactly all", "full", 0, n, 1, n, false},
		{"middle", "full", 6, 2, 4, 2, true},
		{"reaches start", "full", 4, 3, 1, 3, false},
		{"limit beyond start", "full", 4, 10, 1, 3, false},
		{"before first", "full", 1, 5, 0, 0, false},
		{"just past last", "full", n + 1, 3, 8, 3, true},
		{"far beyond last", "full", 1000, 3, 8, 3, true},
		{"empty room", "empty", 0, 10, 0, 0, false},
		{"empty room with seq", "empty", 5, 10, 0, 0, false},
		{"default limit", "big", 0, -5, 6, defaultPageLimit, true},
	}
	for _, tc := range before {
		t.Run("Before/"+tc.name, func(t *testing.T) {
			t.Parallel()
			msgs, more, err := s.Before(ctx, tc.room, tc.beforeSeq, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			checkRun(t, msgs, tc.first, tc.count)
			if more != tc.more {
				t.Errorf("more = %v, want %v", more, tc.more)
			}
		})
	}

	t.Run("unknown room", func(t *testing.T) {
		t.Parallel()
		if _, err := s.After(ctx, "nope", 0, 0); !errors.Is(err, ErrRoomNotFound) {
			t.Errorf("After = %v", err)
		}
		if _, _, err := s.Before(ctx, "nope", 0, 0); !errors.Is(err, ErrRoomNotFound) {
			t.Errorf("Before = %v", err)
		}
	})
}

// checkRun asserts msgs are count consecutive seqs starting at first.
func checkRun(t *testing.T, msgs []Message, first uint64, count int) {
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
