package transcript

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/plugin/internal/store"
)

func at(day, h, m int) time.Time { return time.Date(2026, 3, day, h, m, 0, 0, time.UTC) }

type page struct{ parent, title, body string }

// fakePages is a host that stores pages by key and can refuse the first
// writes.
type fakePages struct {
	mu     sync.Mutex
	pages  map[string]page
	writes int
	refuse int           // refuse this many more writes
	cost   time.Duration // each write takes this long, as a host's indexing does
	starts []time.Time   // when each write began
}

func (p *fakePages) UpsertChildPage(_ context.Context, parentID, key, title, body string) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.starts = append(p.starts, time.Now())
	time.Sleep(p.cost)
	if p.refuse > 0 {
		p.refuse--
		return "", errors.New("host is down for maintenance")
	}
	p.writes++
	p.pages[key] = page{parentID, title, body}
	return "/pages/" + key, nil
}

func (p *fakePages) get(key string) (page, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pg, ok := p.pages[key]
	return pg, ok
}

func (p *fakePages) count() (pages, writes int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pages), p.writes
}

type parents struct{}

func (parents) ParentPage(_ context.Context, pageID string) (Parent, error) {
	return Parent{Title: "Page " + pageID, URL: "/pages/" + pageID}, nil
}

const roomID = "p1.team"

type env struct {
	t      *testing.T
	clock  *testutil.Clock
	path   string
	store  *store.Bolt
	pages  *fakePages
	w      *Writer
	logs   *testutil.SyncBuffer
	writer atomic.Pointer[Writer]
}

// newEnv opens a store and writer whose clock starts at start; a zero
// start means the real clock.
func newEnv(t *testing.T, delay time.Duration, start time.Time) *env {
	t.Helper()
	e := &env{
		t:     t,
		clock: testutil.NewClock(start),
		path:  filepath.Join(t.TempDir(), "chat.db"),
		pages: &fakePages{pages: make(map[string]page)},
		logs:  &testutil.SyncBuffer{},
	}
	now := e.clock.Now
	if start.IsZero() {
		now = time.Now
	}
	e.open(delay, now)
	if _, err := e.store.CreateRoom(context.Background(), store.Room{ID: roomID, PageID: "p1", Name: "Team", Slug: "team"}); err != nil {
		t.Fatal(err)
	}
	return e
}

// open opens the store and a writer on it, wired like the plugin wires
// them: the store's commits poke the writer.
func (e *env) open(delay time.Duration, now func() time.Time) {
	e.t.Helper()
	st, err := store.Open(e.path, store.Options{
		Now:   now,
		DayOf: DayFunc(time.UTC),
		OnCommit: func([]store.Message) {
			if w := e.writer.Load(); w != nil {
				w.Notify()
			}
		},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = st.Close() })
	w, err := New(Config{
		Store:   st,
		Pages:   e.pages,
		Parents: parents{},
		Delay:   delay,
		Now:     now,
		Logger:  hclog.New(&hclog.LoggerOptions{Output: e.logs, Level: hclog.Debug}),
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.store, e.w = st, w
	e.writer.Store(w)
}

func (e *env) send(text string) store.Message {
	e.t.Helper()
	m, _, err := e.store.Append(context.Background(), roomID, store.NewMessage{UserID: "alice", UserName: "Alice", Text: text, HTML: "<em>" + text + "</em>"})
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func (e *env) flush() {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.w.Flush(ctx); err != nil {
		e.t.Fatalf("Flush: %v", err)
	}
}

func (e *env) page(date string) (page, bool) {
	return e.pages.get(Key(roomID, date))
}

func (e *env) mustPage(date string) page {
	e.t.Helper()
	p, ok := e.page(date)
	if !ok {
		e.t.Fatalf("no transcript page for %s", date)
	}
	return p
}

func (e *env) pending() []store.PendingTranscript {
	e.t.Helper()
	p, err := e.store.PendingTranscripts(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func TestTwoDaysGiveTwoPages(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute, at(1, 10, 0))
	e.send("hello day one")
	e.clock.Set(at(2, 9, 0))
	e.send("hello day two")
	e.clock.Advance(time.Minute)
	e.flush()

	d1, d2 := e.mustPage("2026-03-01"), e.mustPage("2026-03-02")
	if d1.title != "Team chat transcript 2026-03-01" || d2.title != "Team chat transcript 2026-03-02" {
		t.Errorf("titles %q, %q", d1.title, d2.title)
	}
	if d1.parent != "p1" || d2.parent != "p1" {
		t.Errorf("parents %q, %q; want the room's page", d1.parent, d2.parent)
	}
	if !strings.Contains(d1.body, "<em>hello day one</em>") || strings.Contains(d1.body, "day two") {
		t.Errorf("day 1 page:\n%s", d1.body)
	}
	if !strings.Contains(d2.body, "<em>hello day two</em>") || strings.Contains(d2.body, "day one") {
		t.Errorf("day 2 page:\n%s", d2.body)
	}
	if !strings.Contains(d1.body, `<a rel="next" href="/pages/`+Key(roomID, "2026-03-02")+`">`) {
		t.Errorf("day 1 has no link to day 2:\n%s", d1.body)
	}
	if strings.Contains(d1.body, "not over yet") || !strings.Contains(d2.body, "not over yet") {
		t.Error("only the running day should say it is not over")
	}

	// Day 1's page was new when day 2 was written; day 2 is brought up to
	// date one delay later with its link back.
	e.clock.Advance(time.Minute)
	e.flush()
	if d2 = e.mustPage("2026-03-02"); !strings.Contains(d2.body, `<a rel="prev" href="/pages/`+Key(roomID, "2026-03-01")+`">`) {
		t.Errorf("day 2 has no link to day 1:\n%s", d2.body)
	}
	room, err := e.store.Room(context.Background(), roomID)
	if err != nil {
		t.Fatal(err)
	}
	if len(room.Transcripts) != 2 || room.Transcripts[0].Date != "2026-03-02" || room.Transcripts[1].URL != "/pages/"+Key(roomID, "2026-03-01") {
		t.Errorf("room transcripts = %+v", room.Transcripts)
	}
}

func TestIdleDayGetsNoPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute, at(1, 10, 0))
	e.send("before")
	e.clock.Set(at(3, 10, 0))
	e.send("after")
	e.clock.Advance(time.Hour)
	e.flush()
	if _, ok := e.page("2026-03-02"); ok {
		t.Error("a day without messages got a page")
	}
	if n, _ := e.pages.count(); n != 2 {
		t.Errorf("%d pages, want 2", n)
	}
	if d1 := e.mustPage("2026-03-01"); !strings.Contains(d1.body, `2026-03-03 &rarr;`) {
		t.Errorf("day 1's next link should skip the idle day:\n%s", d1.body)
	}
}

func TestRefusingHostIsRetriedWithBackoff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute, at(1, 10, 0))
	e.pages.refuse = 3
	e.send("first")
	e.clock.Advance(time.Minute)
	for attempt, wantWait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		e.flush()
		p := e.pending()
		if len(p) != 1 || p[0].Attempts != attempt+1 || p[0].NextTry.Sub(e.clock.Now()) != wantWait {
			t.Fatalf("after failure %d: %+v; want retry in %v", attempt+1, p, wantWait)
		}
		if attempt == 0 {
			e.send("second, while the host is down")
		}
		e.clock.Advance(10 * time.Minute)
	}
	e.flush()
	d1 := e.mustPage("2026-03-01")
	if !strings.Contains(d1.body, "<em>first</em>") || !strings.Contains(d1.body, "<em>second, while the host is down</em>") {
		t.Errorf("page after retries lacks messages:\n%s", d1.body)
	}
	logs := e.logs.String()
	if n := strings.Count(logs, "transcript page write failed"); n != 3 {
		t.Errorf("%d failure lines, want one per attempt (3):\n%s", n, logs)
	}
	for _, want := range []string{"attempt=1", "attempt=3", "room=" + roomID, "date=2026-03-01", "host is down"} {
		if !strings.Contains(logs, want) {
			t.Errorf("failure log lacks %q:\n%s", want, logs)
		}
	}
}

func TestDebounceWaitsForALullButNotForever(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute, at(1, 10, 0))
	e.send("one")
	e.clock.Advance(30 * time.Second)
	e.send("two")
	e.clock.Advance(50 * time.Second) // 80 s after the first, 50 s after the latest
	e.flush()
	if _, ok := e.page("2026-03-01"); ok {
		t.Fatal("written before a full delay after the latest message")
	}
	e.clock.Advance(10 * time.Second)
	e.flush()
	e.mustPage("2026-03-01")

	// A message every 50 s never leaves a 60 s lull; the page is still
	// written MaxPostponeFactor delays after the first unwritten one.
	_, before := e.pages.count()
	e.clock.Set(at(1, 12, 0))
	for i := 0; ; i++ {
		e.send("chatter")
		e.flush()
		_, writes := e.pages.count()
		elapsed := e.clock.Now().Sub(at(1, 12, 0))
		if writes > before {
			if elapsed != MaxPostponeFactor*time.Minute {
				t.Fatalf("written %v after the first change, want %v", elapsed, MaxPostponeFactor*time.Minute)
			}
			break
		}
		if elapsed > MaxPostponeFactor*time.Minute {
			t.Fatal("constant activity postponed the page past the cap")
		}
		e.clock.Advance(50 * time.Second)
	}
}

func TestDayIsFinalisedAfterMidnight(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute, at(1, 23, 0))
	e.send("late")
	e.clock.Advance(2 * time.Minute)
	e.flush()
	if p := e.mustPage("2026-03-01"); !strings.Contains(p.body, "not over yet") {
		t.Errorf("page written before midnight should say the day is running:\n%s", p.body)
	}
	e.clock.Set(at(1, 23, 59))
	e.flush()
	if _, writes := e.pages.count(); writes != 1 {
		t.Fatalf("%d writes before midnight, want 1", writes)
	}
	e.clock.Set(at(2, 0, 0))
	e.flush()
	if p := e.mustPage("2026-03-01"); strings.Contains(p.body, "not over yet") {
		t.Errorf("final page still says the day is running:\n%s", p.body)
	}
	if p := e.pending(); len(p) != 0 {
		t.Errorf("pending after the final write: %+v", p)
	}
}

func TestPendingWritesSurviveReopen(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Hour, at(1, 10, 0))
	e.send("before the restart")
	if err := e.store.Close(); err != nil {
		t.Fatal(err)
	}
	e.open(time.Second, e.clock.Now)
	e.clock.Advance(time.Second)
	e.flush()
	if p := e.mustPage("2026-03-01"); !strings.Contains(p.body, "before the restart") {
		t.Errorf("page after reopen:\n%s", p.body)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, cond, "%s", what)
}

// runWriter runs e.w until the test ends and checks that Run returns once
// its context is cancelled.
func runWriter(t *testing.T, e *env) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.w.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("Run did not return after its context was cancelled")
		}
	})
}

func TestRunWritesShortlyAfterActivity(t *testing.T) {
	t.Parallel()
	// The real clock, so the timer itself is what fires.
	e := newEnv(t, 20*time.Millisecond, time.Time{})
	runWriter(t, e)
	date := DayFunc(time.UTC)(e.send("live").SentAt)
	waitFor(t, "the page", func() bool { _, ok := e.page(date); return ok })
}

func TestRunFollowsAClockThatJumps(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Hour, at(1, 10, 0))
	runWriter(t, e)
	e.send("one")
	// Nothing is due for an hour of the injected clock; jump it.
	e.clock.Advance(2 * time.Hour)
	waitFor(t, "the page after the clock jumped", func() bool { _, ok := e.page("2026-03-01"); return ok })
}

// Rooms that fall due together are written one after another with pauses
// in proportion to what each write cost, so a backlog does not take the
// machine away from live chat.
func TestRunPacesABacklog(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute, at(1, 10, 0))
	const cost = 30 * time.Millisecond
	e.pages.cost = cost
	ctx := context.Background()
	rooms := []string{roomID, "p2.a", "p3.b", "p4.c"}
	for _, id := range rooms[1:] {
		if _, err := e.store.CreateRoom(ctx, store.Room{ID: id, PageID: id[:2], Name: id, Slug: id[3:]}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range rooms {
		if _, _, err := e.store.Append(ctx, id, store.NewMessage{UserID: "alice", UserName: "Alice", Text: "hi", HTML: "hi"}); err != nil {
			t.Fatal(err)
		}
	}
	e.clock.Advance(2 * time.Minute) // all four are due at once
	runWriter(t, e)
	waitFor(t, "every room's page", func() bool { n, _ := e.pages.count(); return n == len(rooms) })
	e.pages.mu.Lock()
	starts := slices.Clone(e.pages.starts)
	e.pages.mu.Unlock()
	// Each write took at least cost, so the pause after it was at least
	// paceFactor*cost.
	for i := 1; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < (1+paceFactor)*cost {
			t.Errorf("write %d began %v after the one before; want at least %v", i, gap, (1+paceFactor)*cost)
		}
	}
}

func TestRunReturnsWhenIdle(t *testing.T) {
	t.Parallel()
	e := newEnv(t, time.Minute, at(1, 10, 0))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.w.Run(ctx)
	}()
	e.send("pending, not due")
	cancel()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func TestNewRefusesIncompleteConfig(t *testing.T) {
	t.Parallel()
	if _, err := New(Config{}); err == nil {
		t.Error("New without store and pages succeeded")
	}
	e := newEnv(t, time.Minute, at(1, 10, 0))
	if _, err := New(Config{Store: e.store, Pages: e.pages, Delay: -time.Second}); err == nil {
		t.Error("New with a negative delay succeeded")
	}
}
