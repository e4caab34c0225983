package hostsdk

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/pagechat/pagechat/internal/testutil"
)

// These tests run the real plugin, built with a clock the test sets
// (internal/testplugins/clockplugin), so messages land on chosen days. The
// clock stands still between sets: nothing falls due until the test moves
// it, which makes "not yet written" as checkable as "written".

const clockFileEnv = "PAGECHAT_TEST_CLOCK_FILE"

// testClock is the file the plugin's clock reads.
type testClock struct {
	t    *testing.T
	path string
	mu   sync.Mutex
	now  time.Time
}

func newTestClock(t *testing.T, start time.Time) *testClock {
	t.Helper()
	c := &testClock{t: t, path: filepath.Join(t.TempDir(), "clock")}
	c.set(start)
	return c
}

// set moves the plugin's clock. It writes a new file and renames it over
// the old one, so the plugin never reads half a time.
func (c *testClock) set(at time.Time) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = at
	tmp := c.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(at.Format(time.RFC3339Nano)), 0o600); err != nil {
		c.t.Fatal(err)
	}
	if err := os.Rename(tmp, c.path); err != nil {
		c.t.Fatal(err)
	}
}

func (c *testClock) add(d time.Duration) {
	c.t.Helper()
	c.mu.Lock()
	at := c.now.Add(d)
	c.mu.Unlock()
	c.set(at)
}

// clockOption is the Option of withClock.
type clockOption struct{ clock *testClock }

// withClock makes loadPlugin start the clock fixture instead of the real
// plugin binary, reading clock.
func withClock(clock *testClock) Option { return clockOption{clock} }

func (o clockOption) apply(c *config) error {
	return WithPluginEnv(clockFileEnv + "=" + o.clock.path).apply(c)
}

func utc(day, hour, minute int) time.Time {
	return time.Date(2026, 3, day, hour, minute, 0, 0, time.UTC)
}

func transcriptKey(roomID, date string) string { return "pagechat-transcript/" + roomID + "/" + date }

// upserted returns the page the host holds under key.
func (h *testHost) upserted(key string) (ChildPage, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p, ok := h.upserts[key]
	return p, ok
}

func (h *testHost) upsertKeys() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var keys []string
	for k := range h.upserts {
		keys = append(keys, k)
	}
	return keys
}

// pageWith waits for the page under key to contain every want.
func pageWith(t *testing.T, h *testHost, key string, want ...string) ChildPage {
	t.Helper()
	var last ChildPage
	testutil.Eventually(t, waitTimeout, func() bool {
		p, ok := h.upserted(key)
		if !ok {
			return false
		}
		last = p
		for _, w := range want {
			if !strings.Contains(p.BodyHTML, w) {
				return false
			}
		}
		return true
	}, "%s containing %s", key, strings.Join(want, ", "))
	return last
}

func TestTranscriptsOnePagePerActiveDay(t *testing.T) {
	t.Parallel()
	host := newTestHost()
	clock := newTestClock(t, utc(1, 10, 0))
	c := loadPlugin(t, host, t.TempDir(), withClock(clock), WithTranscriptDelay(100*time.Millisecond))
	ctx := testCtx(t)
	room := openRoom(t, c, "Team Chat")

	if _, err := c.Send(ctx, "alice", room.ID, "d1", "hello from day one"); err != nil {
		t.Fatal(err)
	}
	clock.set(utc(2, 9, 0))
	if _, err := c.Send(ctx, "bob", room.ID, "d2", "hello from day two"); err != nil {
		t.Fatal(err)
	}
	clock.add(time.Second) // past the delay: both days are due
	day1 := pageWith(t, host, transcriptKey(room.ID, "2026-03-01"), "hello from day one", "rel=\"next\"")
	day2 := pageWith(t, host, transcriptKey(room.ID, "2026-03-02"), "hello from day two")
	if day1.Title != "Team Chat chat transcript 2026-03-01" || day2.Title != "Team Chat chat transcript 2026-03-02" {
		t.Errorf("titles %q and %q", day1.Title, day2.Title)
	}
	if day1.ParentID != "p1" || day2.ParentID != "p1" {
		t.Errorf("parents %q and %q, want the room's page p1", day1.ParentID, day2.ParentID)
	}
	if strings.Contains(day1.BodyHTML, "day two") || strings.Contains(day2.BodyHTML, "day one") {
		t.Errorf("a message is on the wrong day:\nday 1: %s\nday 2: %s", day1.BodyHTML, day2.BodyHTML)
	}
	for _, want := range []string{`<ol class="pagechat-transcript">`, `<li id="m-1">`, `href="#m-1"`, "Alice Liddell", `href="/chat/rooms/p1.team-chat"`, `href="/pages/p1"`} {
		if !strings.Contains(day1.BodyHTML, want) {
			t.Errorf("day 1 page lacks %s:\n%s", want, day1.BodyHTML)
		}
	}

	// Day 3 stays idle; day 4 has a message.
	clock.set(utc(4, 12, 0))
	if _, err := c.Send(ctx, "alice", room.ID, "d4", "hello from day four"); err != nil {
		t.Fatal(err)
	}
	clock.add(time.Second)
	pageWith(t, host, transcriptKey(room.ID, "2026-03-04"), "hello from day four", "rel=\"prev\"")
	// Day 2 learns about day 4 (its next day) once day 4's page exists.
	clock.add(time.Second)
	pageWith(t, host, transcriptKey(room.ID, "2026-03-02"), "2026-03-04 &rarr;", "2026-03-01</a>")
	if _, ok := host.upserted(transcriptKey(room.ID, "2026-03-03")); ok {
		t.Error("the idle day 3 got a transcript page")
	}
	if keys := host.upsertKeys(); len(keys) != 3 {
		t.Errorf("pages %v, want exactly days 1, 2 and 4", keys)
	}

	info, err := c.RoomInfo(ctx, "alice", room.ID)
	if err != nil {
		t.Fatal(err)
	}
	var dates []string
	for _, tr := range info.Transcripts {
		dates = append(dates, tr.Date)
		wantURL := "/pages/child-" + transcriptKey(room.ID, tr.Date)
		if tr.URL != wantURL || tr.Title != "Team Chat chat transcript "+tr.Date {
			t.Errorf("transcript %+v, want URL %s", tr, wantURL)
		}
	}
	if !slices.Equal(dates, []string{"2026-03-04", "2026-03-02", "2026-03-01"}) {
		t.Errorf("RoomInfo transcripts %v, want newest first", dates)
	}
	// The room's macro table links the pages too.
	table, err := c.RenderMacro(ctx, MacroRequest{UserID: "alice", PageID: "p1", Name: "Team Chat"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `<a href="/pages/child-` + transcriptKey(room.ID, "2026-03-04") + `">2026-03-04</a>`; !strings.Contains(table.HTML, want) {
		t.Errorf("macro table lacks %s:\n%s", want, table.HTML)
	}
}

func TestTranscriptDaysFollowTheTimeZone(t *testing.T) {
	t.Parallel()
	host := newTestHost()
	clock := newTestClock(t, utc(1, 23, 30)) // 00:30 on March 2nd in Berlin
	c := loadPlugin(t, host, t.TempDir(), withClock(clock), WithTranscriptDelay(100*time.Millisecond), WithTimeZone("Europe/Berlin"))
	room := openRoom(t, c, "Night Owls")
	if _, err := c.Send(testCtx(t), "alice", room.ID, "n1", "after midnight in Berlin"); err != nil {
		t.Fatal(err)
	}
	clock.add(time.Second)
	pageWith(t, host, transcriptKey(room.ID, "2026-03-02"), "after midnight in Berlin", ">00:30:00</time>", "Europe/Berlin")
}

// refusingHost fails the first UpsertChildPage calls, like a host that is
// restarting.
type refusingHost struct {
	*testHost
	mu     sync.Mutex
	refuse int
}

func (h *refusingHost) UpsertChildPage(ctx context.Context, c ChildPage) (Page, error) {
	h.mu.Lock()
	refused := h.refuse > 0
	if refused {
		h.refuse--
	}
	h.mu.Unlock()
	if refused {
		return Page{}, errors.New("wiki is in maintenance mode")
	}
	return h.testHost.UpsertChildPage(ctx, c)
}

func TestTranscriptsAreRetriedWhileTheHostRefuses(t *testing.T) {
	t.Parallel()
	host := &refusingHost{testHost: newTestHost(), refuse: 3}
	clock := newTestClock(t, utc(1, 10, 0))
	logs := &testutil.SyncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Warn})
	c := loadPlugin(t, host, t.TempDir(), withClock(clock), WithTranscriptDelay(100*time.Millisecond), WithLogger(logger))
	ctx := testCtx(t)
	room := openRoom(t, c, "Ops")
	if _, err := c.Send(ctx, "alice", room.ID, "o1", "first message"); err != nil {
		t.Fatal(err)
	}
	clock.add(time.Second)
	testutil.Eventually(t, waitTimeout, func() bool { return strings.Contains(logs.String(), "transcript page write failed") }, "the first refused write")
	if _, err := c.Send(ctx, "bob", room.ID, "o2", "sent while the wiki refuses"); err != nil {
		t.Fatal(err)
	}
	key := transcriptKey(room.ID, "2026-03-01")
	// Each poll that fails moves the clock past the longest backoff so
	// far, so the retries come as fast as the writer polls.
	testutil.Eventually(t, waitTimeout, func() bool {
		p, ok := host.upserted(key)
		if ok && strings.Contains(p.BodyHTML, "first message") && strings.Contains(p.BodyHTML, "sent while the wiki refuses") {
			return true
		}
		clock.add(10 * time.Second)
		return false
	}, "the page after the host recovers")
	if n := strings.Count(logs.String(), "transcript page write failed"); n != 3 {
		t.Errorf("%d failure log lines, want one per refused attempt (3):\n%s", n, logs.String())
	}
	for _, want := range []string{"attempt=3", "room=" + room.ID, "date=2026-03-01", "maintenance mode"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("failure log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestPendingTranscriptSurvivesAPluginRestart(t *testing.T) {
	t.Parallel()
	host := newTestHost()
	clock := newTestClock(t, utc(1, 10, 0))
	dataDir := t.TempDir()
	c := loadPlugin(t, host, dataDir, withClock(clock), WithTranscriptDelay(2*time.Second))
	room := openRoom(t, c, "Restart")
	if _, err := c.Send(testCtx(t), "alice", room.ID, "r1", "written before the restart"); err != nil {
		t.Fatal(err)
	}
	// The clock stands still, so the write is not due yet when Close
	// flushes what is due: it can only come from the pending state.
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if keys := host.upsertKeys(); len(keys) != 0 {
		t.Fatalf("pages written before the delay passed: %v", keys)
	}

	c = loadPlugin(t, host, dataDir, withClock(clock), WithTranscriptDelay(100*time.Millisecond))
	clock.add(time.Second)
	pageWith(t, host, transcriptKey(room.ID, "2026-03-01"), "written before the restart")
	testutil.Eventually(t, waitTimeout, func() bool {
		info, err := c.RoomInfo(testCtx(t), "alice", room.ID)
		return err == nil && len(info.Transcripts) == 1 && info.Transcripts[0].URL != ""
	}, "RoomInfo listing the transcript")
}

func TestTranscriptOptionsAreValidated(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]Option{
		"zone":        WithTimeZone("Mars/Olympus_Mons"),
		"empty zone":  WithTimeZone(""),
		"zero delay":  WithTranscriptDelay(0),
		"long delay":  WithTranscriptDelay(2 * time.Hour),
		"env no =":    WithPluginEnv("JUST_A_KEY"),
		"env no key":  WithPluginEnv("=value"),
		"env has NUL": WithPluginEnv("K=a\x00b"),
	} {
		if _, err := Load(context.Background(), "/nonexistent", t.TempDir(), newTestHost(), opt); err == nil || errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: Load = %v; want the option refused before the binary is looked at", name, err)
		}
	}
}
