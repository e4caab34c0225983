package store

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"

	bolt "go.etcd.io/bbolt"
)

// newFakeClock advances one second per reading, so every commit gets a
// distinct, predictable timestamp.
func newFakeClock() *testutil.Clock {
	return testutil.NewTickingClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), time.Second)
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

// newTestRequest builds a request the way submit does, for tests that drive
// commit directly to control exactly what lands in one batch.
func newTestRequest(kind opKind, room string, m NewMessage, p Participant) *request {
	return &request{ctx: context.Background(), kind: kind, roomID: room, msg: m, part: p, done: make(chan result, 1)}
}

// onWriter runs f on the writer goroutine, whose state (the open
// transaction, the journal) only it may touch, and waits for it.
func onWriter(t testing.TB, s *Bolt, f func()) {
	t.Helper()
	ran := make(chan struct{})
	select {
	case s.calls <- func() { f(); close(ran) }:
	case <-s.stopped:
		t.Fatal("the store is closed")
	}
	<-ran
}

// commitOnWriter commits batch as one batch on the writer goroutine.
func commitOnWriter(t testing.TB, s *Bolt, batch []*request) {
	t.Helper()
	onWriter(t, s, func() { s.commit(batch) })
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
	commitOnWriter(t, s, batch)

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

// Epochs are 128 random bits in hex, and keys bbolt cannot store are refused
// before anything is written.
func TestCreateRoomEpochAndKeyLimits(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, Options{})
	ctx := context.Background()
	r := mustCreate(t, s, "r")
	if len(r.Epoch) != 32 || strings.Trim(r.Epoch, "0123456789abcdef") != "" {
		t.Errorf("Epoch = %q, want 32 hex digits", r.Epoch)
	}
	long := strings.Repeat("x", 40000)
	if _, err := s.CreateRoom(ctx, Room{ID: long}); !errors.Is(err, ErrInvalid) {
		t.Errorf("CreateRoom(id of %d bytes) = %v, want ErrInvalid", len(long), err)
	}
	if _, _, err := s.Append(ctx, "r", NewMessage{ClientID: long}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Append with a client id of %d bytes = %v, want ErrInvalid", len(long), err)
	}
	if room, err := s.Room(ctx, "r"); err != nil || room.LastSeq != 0 {
		t.Errorf("room after refused writes: %+v, %v", room, err)
	}
	if n, err := s.RoomCount(ctx); err != nil || n != 1 {
		t.Errorf("RoomCount = %d, %v; want 1", n, err)
	}
}

func TestCloseStopsWriter(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t, Options{})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("writer goroutine still running after Close")
	}
}

// A request whose context ends while it waits behind another commit is
// never taken by the writer, so nothing of it is stored.
func TestAppendDoneWhileQueued(t *testing.T) {
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
}

// The refusal of a newer layout tells the admin which file, which versions
// and what to do, and writes nothing to the file.
func TestNewerLayoutRefusal(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "chat.db")
	s := openAt(t, path, Options{})
	mustCreate(t, s, "r")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		stored string
		want   []string // in the error
		is     error
	}{
		{strconv.Itoa(currentLayout + 5), []string{path, "layout version " + strconv.Itoa(currentLayout+5), "up to " + strconv.Itoa(currentLayout), "newer plugin"}, ErrNewerSchema},
		{"two", []string{path, `"two"`}, nil},
	} {
		setRawLayout(t, path, tc.stored)
		_, err := Open(path, Options{LockTimeout: time.Second})
		if err == nil {
			t.Fatalf("Open of layout %q succeeded", tc.stored)
		}
		if tc.is != nil && !errors.Is(err, tc.is) {
			t.Errorf("Open of layout %q = %v, want %v", tc.stored, err, tc.is)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("error %q does not mention %q", err, w)
			}
		}
		if _, layout := rawRoomRecord(t, path, "r"); layout != tc.stored {
			t.Errorf("layout after the refusal = %q, want %q untouched", layout, tc.stored)
		}
	}
}

// editClosed runs fn in a write transaction on the closed database at
// path, to put a file into a state an older release left.
func editClosed(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

// viewClosed runs fn in a read transaction on the closed database at path.
func viewClosed(t *testing.T, path string, fn func(*bolt.Tx) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.View(fn); err != nil {
		t.Fatal(err)
	}
}

func setRawLayout(t *testing.T, path, layout string) {
	t.Helper()
	editClosed(t, path, func(tx *bolt.Tx) error { return tx.Bucket(metaBucket).Put(layoutKey, []byte(layout)) })
}

// Changes to messages of the same batch apply in order, and text erased
// within one commit never reaches the file at all.
func TestChangesInOneBatch(t *testing.T) {
	t.Parallel()
	rec := &commitRecorder{t: t}
	s, path := openTemp(t, Options{OnCommit: rec.onCommit})
	mustCreate(t, s, "r")
	const secret = "said-and-unsaid-in-one-breath"
	file := &File{ID: "f", Name: "gone.pdf", URL: "/f", ContentType: "application/pdf", Size: 1}
	batch := []*request{
		newTestRequest(opAppend, "r", NewMessage{ClientID: "a", UserID: "u1", Text: secret}, Participant{}),
		newTestRequest(opAppend, "r", NewMessage{Kind: KindEdit, Target: 1, UserID: "u1", Text: secret + " again"}, Participant{}),
		newTestRequest(opAppend, "r", NewMessage{Kind: KindDelete, Target: 1, UserID: "u1"}, Participant{}),
		newTestRequest(opAppend, "r", NewMessage{ClientID: "b", UserID: "u2", Text: "gone.pdf", File: file}, Participant{}),
		newTestRequest(opAppend, "r", NewMessage{Kind: KindDelete, Target: 4, UserID: "u2"}, Participant{}),
		newTestRequest(opAppend, "r", NewMessage{Kind: KindEdit, Target: 1, UserID: "u1", Text: "too late"}, Participant{}),
	}
	commitOnWriter(t, s, batch)
	for i, r := range batch {
		res := <-r.done
		if i == 5 {
			if !errors.Is(res.err, ErrMessageDeleted) {
				t.Errorf("edit after the delete in the same batch = %v, want ErrMessageDeleted", res.err)
			}
			continue
		}
		if res.err != nil || res.msg.Seq != uint64(i+1) {
			t.Errorf("request %d = seq %d, %v", i, res.msg.Seq, res.err)
		}
	}
	if rec.calls != 1 || len(rec.msgs) != 5 {
		t.Errorf("OnCommit: %d calls, %d messages; want 1 call with 5", rec.calls, len(rec.msgs))
	}
	msgs, err := s.After(context.Background(), "r", 0, 0)
	if err != nil || len(msgs) != 5 {
		t.Fatalf("log = %+v, %v", msgs, err)
	}
	if a := msgs[0]; !a.Erased || a.Text != "" || a.EditSeq != 2 {
		t.Errorf("message 1 = %+v, want erased after its edit", a)
	}
	if e := msgs[1]; !e.Erased || e.Text != "" {
		t.Errorf("edit 2 = %+v, want erased", e)
	}
	if b := msgs[3]; !b.Erased || b.File != nil {
		t.Errorf("upload 4 = %+v, want erased", b)
	}
	room, err := s.Room(context.Background(), "r")
	if err != nil || len(room.Files) != 0 {
		t.Errorf("files = %+v, %v; want none", room.Files, err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(secret)) || bytes.Contains(data, []byte("gone.pdf")) {
		t.Error("text erased in the commit that added it is in the file")
	}
}

// An erase whose scrub never ran (the process died between the two) is
// scrubbed by the next Open, before the store serves anything.
func TestOpenFinishesInterruptedScrub(t *testing.T) {
	t.Parallel()
	const secret = "words-a-crash-must-not-keep"
	s, path := openTemp(t, Options{})
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", "c", secret)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What the erasing commit leaves behind: the record without its text,
	// the scrub owed, and the old page free but not yet zeroed.
	editClosed(t, path, func(tx *bolt.Tx) error {
		rb, err := roomBuckets(tx, "r")
		if err != nil {
			return err
		}
		m, err := decodeMessage("r", seqKey(1), rb.log.Get(seqKey(1)))
		if err != nil {
			return err
		}
		m.Text, m.Erased = "", true
		if err := putMessage(rb.log, &m); err != nil {
			return err
		}
		return markScrub(tx)
	})
	if data, err := os.ReadFile(path); err != nil || !bytes.Contains(data, []byte(secret)) {
		t.Fatalf("setup: the old page with the text is not in the file (%v)", err)
	}

	s = openAt(t, path, Options{})
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(secret)) {
		t.Error("Open did not scrub the erased text out of the file")
	}
	// The message's journal record, which the file held, was left as it
	// was by the clean Close; the erase makes it text to wipe too.
	if data, err := os.ReadFile(journalPath(path)); err != nil || bytes.Contains(data, []byte(secret)) {
		t.Errorf("the erased text is still in the journal after Open (%v)", err)
	}
	if msgs, err := s.After(context.Background(), "r", 0, 0); err != nil || len(msgs) != 1 || !msgs[0].Erased {
		t.Errorf("log after the scrub = %+v, %v", msgs, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	viewClosed(t, path, func(tx *bolt.Tx) error {
		if tx.Bucket(metaBucket).Get(scrubKey) != nil {
			t.Error("the scrub mark is still set")
		}
		return nil
	})
}

// A layout-2 database, whose rooms lack the buckets of read markers and
// bans, gets them on Open and keeps its messages.
func TestOpenMigratesLayout2(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, Options{})
	mustCreate(t, s, "r")
	m := mustAppend(t, s, "r", "c", "from layout 2")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	editClosed(t, path, func(tx *bolt.Tx) error {
		rb := tx.Bucket(logsBucket).Bucket([]byte("r"))
		for _, name := range [][]byte{markersBucket, bansBucket} {
			if err := rb.DeleteBucket(name); err != nil {
				return err
			}
		}
		return tx.Bucket(metaBucket).Put(layoutKey, []byte("2"))
	})

	s = openAt(t, path, Options{})
	ctx := context.Background()
	if got, err := s.SetReadMarker(ctx, "r", "u1", 1); err != nil || got != 1 {
		t.Errorf("SetReadMarker after the migration = %d, %v", got, err)
	}
	if _, err := s.PutBan(ctx, Ban{RoomID: "r", UserID: "u2"}); err != nil {
		t.Errorf("PutBan after the migration: %v", err)
	}
	if msgs, err := s.After(ctx, "r", 0, 0); err != nil || len(msgs) != 1 || !messagesEqual(msgs[0], m) {
		t.Errorf("log after the migration = %+v, %v", msgs, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, layout := rawRoomRecord(t, path, "r"); layout != strconv.Itoa(currentLayout) {
		t.Errorf("layout = %q, want %d", layout, currentLayout)
	}
}

// A layout-3 database keys its dedupe entries by client id alone. Open
// re-keys them by sender, so the sender's retry is still recognised and
// another user's message with the same client id is not taken for one.
func TestOpenMigratesLayout3Dedupe(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, Options{})
	mustCreate(t, s, "r")
	m := mustAppend(t, s, "r", "c", "from layout 3")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	editClosed(t, path, func(tx *bolt.Tx) error {
		rb := tx.Bucket(logsBucket).Bucket([]byte("r"))
		if err := rb.DeleteBucket(dedupeBucket); err != nil {
			return err
		}
		dedupe, err := rb.CreateBucket(dedupeBucket)
		if err != nil {
			return err
		}
		if err := dedupe.Put([]byte("c"), seqKey(m.Seq)); err != nil {
			return err
		}
		return tx.Bucket(metaBucket).Put(layoutKey, []byte("3"))
	})

	s = openAt(t, path, Options{})
	ctx := context.Background()
	if got, dup, err := s.Append(ctx, "r", NewMessage{ClientID: "c", UserID: m.UserID, Text: "retry"}); err != nil || !dup || got.Seq != m.Seq {
		t.Errorf("the sender's retry after the migration = seq %d, dup %v, %v; want the duplicate %d", got.Seq, dup, err, m.Seq)
	}
	if got, dup, err := s.Append(ctx, "r", NewMessage{ClientID: "c", UserID: "someone else", Text: "mine"}); err != nil || dup || got.Seq != m.Seq+1 {
		t.Errorf("another user's client id \"c\" after the migration = seq %d, dup %v, %v; want a new message %d", got.Seq, dup, err, m.Seq+1)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, layout := rawRoomRecord(t, path, "r"); layout != strconv.Itoa(currentLayout) {
		t.Errorf("layout = %q, want %d", layout, currentLayout)
	}
}

// A database written before notifications existed starts judging at each
// room's last message: its history never becomes alerts.
func TestNotifyBaselineOnUpgrade(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.CreateRoom(ctx, Room{ID: "p.r", PageID: "p", Name: "R", Slug: "r"}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := s.Append(ctx, "p.r", NewMessage{ClientID: strconv.Itoa(i), UserID: "u", Text: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Make it look like an older release's file: no notification state.
	editClosed(t, path, func(tx *bolt.Tx) error { return tx.DeleteBucket(notifyBucket) })
	s, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if seq, err := s.JudgedSeq(ctx, "p.r"); err != nil || seq != 3 {
		t.Errorf("JudgedSeq after upgrade = %d, %v; want 3", seq, err)
	}
	if rooms, err := s.Unjudged(ctx); err != nil || len(rooms) != 0 {
		t.Errorf("Unjudged after upgrade = %q, %v; want none", rooms, err)
	}
	// A new room starts at 0.
	if _, err := s.CreateRoom(ctx, Room{ID: "p.new", PageID: "p", Name: "New", Slug: "new"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Append(ctx, "p.new", NewMessage{ClientID: "1", UserID: "u", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if rooms, err := s.Unjudged(ctx); err != nil || len(rooms) != 1 || rooms[0] != "p.new" {
		t.Errorf("Unjudged = %q, %v; want [p.new]", rooms, err)
	}
}

// Open says when it brought a file up from an older layout, which an admin
// planning a rollback needs to know, and stays quiet for a new or current
// file.
func TestUpgradedReportsTheLayoutFound(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t, Options{})
	if from, to, ok := s.Upgraded(); ok {
		t.Errorf("a new file: Upgraded = %d, %d, true; want false", from, to)
	}
	mustCreate(t, s, "r")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path, Options{})
	if from, to, ok := s.Upgraded(); ok {
		t.Errorf("a current file: Upgraded = %d, %d, true; want false", from, to)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	setRawLayout(t, path, "4")
	s = openAt(t, path, Options{})
	if from, to, ok := s.Upgraded(); !ok || from != 4 || to != currentLayout {
		t.Errorf("a layout-4 file: Upgraded = %d, %d, %v; want 4, %d, true", from, to, ok, currentLayout)
	}
}
