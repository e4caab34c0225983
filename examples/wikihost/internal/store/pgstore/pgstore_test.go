package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/pgtest"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store/pgstore"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(pgtest.M{M: m}) }

func open(t *testing.T, dsn string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestPostgresConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store { return open(t, pgtest.DSN(t)) })
}

// TestTwoNodesShareOneDatabase: what one node writes, the other reads as
// soon as the write's notification reaches it, without a restart or a
// cache to expire, and concurrent upserts of one transcript from both
// nodes make one page.
func TestTwoNodesShareOneDatabase(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()

	p, err := a.CreatePage(store.Page{Title: "Shared", Body: "from a", Format: store.FormatWiki, View: []string{"alice"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := b.PageMeta(p.ID); err != nil || len(got.View) != 1 {
		t.Fatalf("node b reads %+v, %v", got, err)
	}
	if _, err := a.UpdatePage(p.ID, func(q *store.Page) error { q.View = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		got, _ := b.PageMeta(p.ID)
		return len(got.View) == 0
	}, "node b to see the new view list")
	same, err := b.CreatePage(store.Page{Title: "SHARED", Format: store.FormatWiki})
	if err != nil {
		t.Fatal(err)
	}
	if pages, err := a.PagesByTitle("shared"); err != nil || len(pages) != 2 || pages[0].ID != p.ID || pages[1].ID != same.ID {
		t.Errorf("node a finds %+v, %v; want both nodes' pages titled shared, oldest first", pages, err)
	}
	if err := a.PutSession("h", store.Session{UserID: "alice"}); err != nil {
		t.Fatal(err)
	}
	if err := b.DeleteSession("h"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		_, err := a.Session("h")
		return errors.Is(err, store.ErrNotFound)
	}, "a log-out on node b to end the session on node a")

	var wg sync.WaitGroup
	ids := make([]string, 20)
	for i := range ids {
		s := a
		if i%2 == 1 {
			s = b
		}
		wg.Go(func() {
			c, _, err := s.UpsertChild(store.Page{ParentID: p.ID, ChildKey: "room/2026-01-02", Title: fmt.Sprint("T", i), Format: store.FormatHTML})
			if err != nil {
				t.Error(err)
			}
			ids[i] = c.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("concurrent upserts made pages %v", ids)
		}
	}
}

// TestNodesStartingAtOnceMigrateOnce: many nodes opening a new database at
// the same moment all succeed, and the schema is created once.
func TestNodesStartingAtOnceMigrateOnce(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for range cap(errs) {
		wg.Go(func() {
			s, err := pgstore.Open(context.Background(), dsn, pgstore.Options{})
			if err == nil {
				err = s.SetMeta("x", "y")
				s.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("a node failed to start: %v", err)
		}
	}
	if v := schemaVersion(t, dsn); v != pgstore.SchemaVersion {
		t.Errorf("schema version %d, want %d", v, pgstore.SchemaVersion)
	}
}

func schemaVersion(t *testing.T, dsn string) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v, rows int
	if err := conn.QueryRow(context.Background(), `SELECT max(version), count(*) FROM wiki_schema`).Scan(&v, &rows); err != nil {
		t.Fatal(err)
	}
	if rows != 1 {
		t.Errorf("wiki_schema has %d rows, want 1", rows)
	}
	return v
}

// TestNewerSchemaRefusesToStart: a node left on an old version during a
// rolling upgrade must not write into a schema it does not know.
func TestNewerSchemaRefusesToStart(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	open(t, dsn).Close()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), `UPDATE wiki_schema SET version = version + 1`); err != nil {
		t.Fatal(err)
	}
	_, err = pgstore.Open(context.Background(), dsn, pgstore.Options{})
	if !errors.Is(err, pgstore.ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprint(pgstore.SchemaVersion+1)) {
		t.Errorf("Open of a newer schema: %v, want ErrSchemaTooNew naming the version", err)
	}
}

func TestBadDSNFailsClearlyWithoutEchoingIt(t *testing.T) {
	t.Parallel()
	_, err := pgstore.Open(context.Background(), "postgres://u:s3cret@[bad", pgstore.Options{})
	if err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open of a malformed DSN: %v", err)
	}
}

// TestExclusiveHoldsAcrossNodes: while one node runs an Exclusive, the
// other's waits.
func TestExclusiveHoldsAcrossNodes(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	entered := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- a.Exclusive(func() error {
			close(entered)
			<-release
			return a.SetMeta("seed", "a")
		})
	}()
	<-entered
	bDone := make(chan error, 1)
	go func() {
		bDone <- b.Exclusive(func() error {
			v, err := b.Meta("seed")
			if err == nil && v != "a" {
				err = fmt.Errorf("node b ran before node a finished: seed = %q", v)
			}
			return err
		})
	}()
	select {
	case err := <-bDone:
		t.Fatalf("node b's Exclusive ran while node a held it: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := <-bDone; err != nil {
		t.Error(err)
	}
}

// TestDatabaseOutageIsUnavailableThenRecovers: while PostgreSQL is down,
// calls fail at once with store.ErrUnavailable (the wiki answers 503), and
// they work again once it is back, without reopening the store.
func TestDatabaseOutageIsUnavailableThenRecovers(t *testing.T) {
	t.Parallel()
	srv := pgtest.NewServer(t)
	s := open(t, srv.DSN(t))
	defer s.Close()
	p, err := s.CreatePage(store.Page{Title: "Before", Format: store.FormatWiki})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := s.PageMeta(p.ID); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("read during the outage: %v, want ErrUnavailable", err)
	}
	if _, err := s.CreatePage(store.Page{Title: "During", Format: store.FormatWiki}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("write during the outage: %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("failing took %v; want it fast", took)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		_, err := s.PageMeta(p.ID)
		return err == nil
	}, "reads work again after the restart")
	if _, err := s.CreatePage(store.Page{Title: "After", Format: store.FormatWiki}); err != nil {
		t.Errorf("write after the restart: %v", err)
	}
}

// TestCacheServesUntilTold: a node serves sessions and page permissions
// it read from memory (a change made behind the store's back is not seen),
// forgets them when another node changes them, and stops serving from
// memory when its notification connection is lost, so that no change it
// could not hear about is hidden from it.
func TestCacheServesUntilTold(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	a, b := open(t, dsn), open(t, dsn)
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	raw, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close(ctx)
	p, err := a.CreatePage(store.Page{Title: "Cached", Format: store.FormatWiki, View: []string{"v0"}})
	if err != nil {
		t.Fatal(err)
	}
	setView := func(v string) {
		t.Helper()
		if _, err := raw.Exec(ctx, `UPDATE wiki_pages SET view_users = $2 WHERE id = $1`, p.ID, []string{v}); err != nil {
			t.Fatal(err)
		}
	}
	view := func(s *pgstore.Store) string {
		t.Helper()
		got, err := s.PageMeta(p.ID)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got.View, ",")
	}
	// cachedOn reports whether b serves the page from memory: it reads
	// the page, changes it behind every store's back, and reads again.
	n := 0
	cachedOn := func(s *pgstore.Store) bool {
		n++
		want := view(s)
		setView(fmt.Sprint("raw", n))
		return view(s) == want
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return cachedOn(b) }, "node b to cache page permissions")

	// A change through the other node is seen once its notification
	// arrives; through the same node, at once.
	if _, err := a.UpdatePage(p.ID, func(q *store.Page) error { q.View = []string{"from-a"}; return nil }); err != nil {
		t.Fatal(err)
	}
	// Well within the 5 s after which an entry would expire anyway.
	testutil.Eventually(t, 2*time.Second, func() bool { return view(b) == "from-a" }, "node b to hear of node a's change")
	if _, err := b.UpdatePage(p.ID, func(q *store.Page) error { q.View = []string{"from-b"}; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := view(b); got != "from-b" {
		t.Errorf("node b reads %q right after its own change, want from-b", got)
	}

	// Sessions too: a log-in elsewhere replaces the cached one.
	if err := b.PutSession("tok", store.Session{UserID: "alice"}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Session("tok"); err != nil || got.UserID != "alice" {
		t.Fatalf("session: %+v, %v", got, err)
	}
	if err := a.PutSession("tok", store.Session{UserID: "bob"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Second, func() bool {
		got, err := b.Session("tok")
		return err == nil && got.UserID == "bob"
	}, "node b to hear of the session's new user")

	// Cut the nodes' notification connections: what node b kept is
	// dropped with it, long before it would expire (after 5 s), so the
	// change it holds back now shows.
	testutil.Eventually(t, 10*time.Second, func() bool { return cachedOn(b) }, "node b to cache again")
	stale := view(b)
	if _, err := raw.Exec(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'pagechat-wiki-cache' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return view(b) != stale }, "node b to drop what it cached with its notification connection")
	testutil.Eventually(t, 10*time.Second, func() bool { return cachedOn(b) }, "node b to cache again once it listens again")
}
