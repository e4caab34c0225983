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

// TestTwoNodesShareOneDatabase: what one node writes, the other reads at
// once, without a restart or a cache to expire, and concurrent upserts of
// one transcript from both nodes make one page.
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
	if got, _ := b.PageMeta(p.ID); len(got.View) != 0 {
		t.Errorf("node b still sees the old view list %v", got.View)
	}
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
	if _, err := a.Session("h"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a log-out on node b left the session on node a: %v", err)
	}

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
