package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pagechat/pagechat/plugin/internal/store"
)

func testAppendBasics(t *testing.T, db Opener) {
	clock := newTickingClock()
	rec := &commitRecorder{t: t}
	s := open(t, db, Config{Now: clock.Now, OnCommit: rec.onCommit})
	ctx := context.Background()
	mustCreate(t, s, "r")

	m1, dup, err := s.Append(ctx, "r", store.NewMessage{ClientID: "c1", UserID: "u1", UserName: "Ann", Text: "hello", HTML: "<p>hello</p>"})
	if err != nil || dup {
		t.Fatalf("Append = %v, %v", dup, err)
	}
	if m1.Seq != 1 || m1.RoomID != "r" || m1.Text != "hello" || m1.HTML != "<p>hello</p>" || m1.UserName != "Ann" || m1.SentAt.IsZero() {
		t.Errorf("first message = %+v", m1)
	}

	again, dup, err := s.Append(ctx, "r", store.NewMessage{ClientID: "c1", UserID: "u1", UserName: "Ann", Text: "different"})
	if err != nil || !dup || !messagesEqual(again, m1) {
		t.Errorf("retry = %+v, %v, %v; want duplicate of %+v", again, dup, err, m1)
	}

	// An empty client id opts out of deduplication.
	for want := uint64(2); want <= 3; want++ {
		m, dup, err := s.Append(ctx, "r", store.NewMessage{UserID: "u1", Text: "no id"})
		if err != nil || dup || m.Seq != want {
			t.Errorf("Append without client id = seq %d, %v, %v; want seq %d", m.Seq, dup, err, want)
		}
	}
	// Client ids are per room.
	mustCreate(t, s, "other")
	if m, dup, err := s.Append(ctx, "other", store.NewMessage{ClientID: "c1", UserID: "u1", Text: "elsewhere"}); err != nil || dup || m.Seq != 1 {
		t.Errorf("same client id in another room = seq %d, dup %v, %v; want a new message 1", m.Seq, dup, err)
	}
	if _, _, err := s.Append(ctx, "nope", store.NewMessage{ClientID: "c1"}); !errors.Is(err, store.ErrRoomNotFound) || !strings.Contains(err.Error(), "nope") {
		t.Errorf("Append to an unknown room = %v, want ErrRoomNotFound naming the room", err)
	}

	room := mustRoom(t, s, "r")
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
	if got := rec.seen(); len(got) != 4 {
		t.Errorf("OnCommit saw %d messages, want 4 (duplicates are not reported)", len(got))
	}
}

func testConcurrentAppendsAreGapless(t *testing.T, db Opener) {
	const (
		senders = 32
		perSend = 50
	)
	rooms := []string{"p.a", "p.b", "p.c", "p.d"}
	rec := &commitRecorder{t: t}
	s := open(t, db, Config{OnCommit: rec.onCommit})
	for _, id := range rooms {
		mustCreate(t, s, id)
	}

	var wg sync.WaitGroup
	acked := make([][]store.Message, senders)
	for g := range senders {
		wg.Go(func() {
			for j := range perSend {
				room := rooms[(g+j)%len(rooms)]
				m, dup, err := s.Append(context.Background(), room, store.NewMessage{
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
	committed := make(map[string][]store.Message)
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
		room := mustRoom(t, s, id)
		if room.LastSeq != uint64(perRoom) || len(room.Participants) != senders {
			t.Errorf("room %s: LastSeq %d, %d participants", id, room.LastSeq, len(room.Participants))
		}
	}
	// Each sender's own messages got increasing seqs in every room.
	for g, ms := range acked {
		last := map[string]uint64{}
		for _, m := range ms {
			if m.Seq <= last[m.RoomID] {
				t.Fatalf("sender %d: seq %d in %s after %d", g, m.Seq, m.RoomID, last[m.RoomID])
			}
			last[m.RoomID] = m.Seq
			stored, err := s.After(context.Background(), m.RoomID, m.Seq-1, 1)
			if err != nil || len(stored) != 1 || !messagesEqual(stored[0], m) {
				t.Fatalf("sender %d: acknowledged %+v, stored %+v (%v)", g, m, stored, err)
			}
		}
	}
}

func testConcurrentSameClientID(t *testing.T, db Opener) {
	rec := &commitRecorder{t: t}
	s := open(t, db, Config{OnCommit: rec.onCommit})
	mustCreate(t, s, "r")
	mustCreate(t, s, "r2")

	const n = 20
	type answer struct {
		seq uint64
		dup bool
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		answers = map[string][]answer{}
	)
	for i := range 2 * n {
		room := []string{"r", "r2"}[i%2]
		wg.Go(func() {
			m, dup, err := s.Append(context.Background(), room, store.NewMessage{ClientID: "same", UserID: "u", Text: "once"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			answers[room] = append(answers[room], answer{m.Seq, dup})
		})
	}
	wg.Wait()
	for _, room := range []string{"r", "r2"} {
		fresh := 0
		for _, a := range answers[room] {
			if a.seq != 1 {
				t.Errorf("room %s: a send got seq %d, want 1", room, a.seq)
			}
			if !a.dup {
				fresh++
			}
		}
		if len(answers[room]) != n || fresh != 1 {
			t.Errorf("room %s: %d answers, %d not duplicates; want %d, one", room, len(answers[room]), fresh, n)
		}
		msgs, err := s.After(context.Background(), room, 0, 100)
		if err != nil || len(msgs) != 1 {
			t.Errorf("room %s: stored %d messages (%v), want 1", room, len(msgs), err)
		}
	}
	if got := rec.seen(); len(got) != 2 {
		t.Errorf("OnCommit saw %d messages, want 2", len(got))
	}
}

func testUnknownRoomDoesNotFailOthers(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	mustCreate(t, s, "r")

	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			room := "r"
			if i%2 == 1 {
				room = "missing"
			}
			_, _, err := s.Append(context.Background(), room, store.NewMessage{ClientID: fmt.Sprint(i), Text: "x"})
			switch {
			case room == "r" && err != nil:
				t.Errorf("valid append: %v", err)
			case room == "missing" && !errors.Is(err, store.ErrRoomNotFound):
				t.Errorf("append to missing room: %v, want ErrRoomNotFound", err)
			}
		})
	}
	wg.Wait()
	if room := mustRoom(t, s, "r"); room.LastSeq != 25 {
		t.Errorf("LastSeq = %d; want 25", room.LastSeq)
	}
}

// blockingCommit makes OnCommit wait until release is closed, so a test can
// hold a commit "in flight".
type blockingCommit struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func newBlockingCommit() *blockingCommit {
	return &blockingCommit{entered: make(chan struct{}), release: make(chan struct{})}
}

func (b *blockingCommit) onCommit([]store.Message) {
	b.once.Do(func() { close(b.entered) })
	<-b.release
}

// A write whose context has already ended stores nothing.
func testAppendDoneBeforeSubmit(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	mustCreate(t, s, "r")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: "a"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Append = %v, want context.Canceled", err)
	}
	if err := s.TouchParticipant(ctx, "r", store.Participant{UserID: "u"}); !errors.Is(err, context.Canceled) {
		t.Errorf("TouchParticipant = %v, want context.Canceled", err)
	}
	if room := mustRoom(t, s, "r"); room.LastSeq != 0 || len(room.Participants) != 0 {
		t.Errorf("canceled requests were stored: %+v", room)
	}
}

// A sender whose context ends while its message is being committed is
// answered at once; the message may be stored all the same (OnCommit saw
// it, so it is), and a retry with the same client id finds it.
func testAppendDoneDuringCommit(t *testing.T, db Opener) {
	gate := newBlockingCommit()
	s := open(t, db, Config{OnCommit: gate.onCommit})
	defer func() {
		select {
		case <-gate.release:
		default:
			close(gate.release)
		}
	}()
	mustCreate(t, s, "r")
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := s.Append(ctx, "r", store.NewMessage{ClientID: "c", Text: "maybe"})
		errc <- err
	}()
	<-gate.entered
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Append = %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Error("Append did not return when its context ended during the commit")
	}
	close(gate.release)
	m, dup, err := s.Append(context.Background(), "r", store.NewMessage{ClientID: "c", Text: "maybe"})
	if err != nil || !dup || m.Seq != 1 {
		t.Errorf("retry = seq %d, dup %v, %v; want duplicate of seq 1", m.Seq, dup, err)
	}
}

func testPaging(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	ctx := context.Background()
	mustCreate(t, s, "full")
	mustCreate(t, s, "empty")
	const n = 10
	for i := range n {
		mustAppend(t, s, "full", fmt.Sprint(i), fmt.Sprint("m", i+1))
	}
	// More than DefaultPageLimit messages, to see the default kick in.
	mustCreate(t, s, "big")
	for i := range store.DefaultPageLimit + 5 {
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
		{"default limit", "big", 0, 0, 1, store.DefaultPageLimit},
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
		{"default limit", "big", 0, -5, 6, store.DefaultPageLimit, true},
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

	t.Run("walks", func(t *testing.T) {
		t.Parallel()
		// Paging backwards from the newest and forwards from the start
		// both visit every message of the big room once, in order.
		var back []uint64
		for before := uint64(0); ; {
			msgs, more, err := s.Before(ctx, "big", before, 7)
			if err != nil {
				t.Fatal(err)
			}
			for i := len(msgs) - 1; i >= 0; i-- {
				back = append(back, msgs[i].Seq)
			}
			if !more {
				break
			}
			before = msgs[0].Seq
		}
		var fwd []uint64
		for after := uint64(0); ; {
			msgs, err := s.After(ctx, "big", after, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				fwd = append(fwd, m.Seq)
			}
			after = msgs[len(msgs)-1].Seq
		}
		total := store.DefaultPageLimit + 5
		if len(back) != total || len(fwd) != total {
			t.Fatalf("walked %d back and %d forward, want %d", len(back), len(fwd), total)
		}
		for i := range total {
			if back[i] != uint64(total-i) || fwd[i] != uint64(i+1) {
				t.Fatalf("step %d: back %d, forward %d", i, back[i], fwd[i])
			}
		}
	})

	t.Run("unknown room", func(t *testing.T) {
		t.Parallel()
		if _, err := s.After(ctx, "nope", 0, 0); !errors.Is(err, store.ErrRoomNotFound) {
			t.Errorf("After = %v", err)
		}
		if _, _, err := s.Before(ctx, "nope", 0, 0); !errors.Is(err, store.ErrRoomNotFound) {
			t.Errorf("Before = %v", err)
		}
	})
}

// testClientIDPerSender checks that a client id deduplicates only the
// sender's own retries: client ids are chosen by the sender, so another
// user reusing one (by chance or on purpose) sends a message of their own
// and never receives the first sender's message back.
func testClientIDPerSender(t *testing.T, db Opener) {
	s := open(t, db, Config{})
	ctx := context.Background()
	mustCreate(t, s, "r")

	steps := []struct {
		user, text string
		wantSeq    uint64
		wantDup    bool
	}{
		{"bob", "from bob", 1, false},
		{"carol", "from carol", 2, false},
		{"bob", "bob again", 1, true},
		{"carol", "carol again", 2, true},
	}
	for _, st := range steps {
		m, dup, err := s.Append(ctx, "r", store.NewMessage{ClientID: "same", UserID: st.user, Text: st.text})
		if err != nil || dup != st.wantDup || m.Seq != st.wantSeq || m.UserID != st.user {
			t.Errorf("%s sends %q with client id \"same\" = seq %d by %q, dup %v, %v; want seq %d by %q, dup %v",
				st.user, st.text, m.Seq, m.UserID, dup, err, st.wantSeq, st.user, st.wantDup)
		}
	}
	if room := mustRoom(t, s, "r"); room.LastSeq != 2 {
		t.Errorf("LastSeq = %d, want 2: one message per sender", room.LastSeq)
	}

	lookups := []struct {
		room, user, clientID string
		wantFound            bool
		wantSeq              uint64
	}{
		{"r", "bob", "same", true, 1},
		{"r", "carol", "same", true, 2},
		{"r", "dave", "same", false, 0},
		{"r", "bob", "other", false, 0},
		{"r", "bob", "", false, 0},
	}
	for _, l := range lookups {
		m, found, err := s.ByClientID(ctx, l.room, l.user, l.clientID)
		if err != nil || found != l.wantFound || m.Seq != l.wantSeq {
			t.Errorf("ByClientID(%q, %q, %q) = seq %d, found %v, %v; want seq %d, found %v",
				l.room, l.user, l.clientID, m.Seq, found, err, l.wantSeq, l.wantFound)
		}
		if found && (m.UserID != l.user || m.ClientID != l.clientID) {
			t.Errorf("ByClientID(%q, %q, %q) = %+v, another sender's or id's message", l.room, l.user, l.clientID, m)
		}
	}
	if _, _, err := s.ByClientID(ctx, "nope", "bob", "same"); !errors.Is(err, store.ErrRoomNotFound) {
		t.Errorf("ByClientID in an unknown room = %v, want ErrRoomNotFound", err)
	}
}
