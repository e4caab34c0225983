package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/pagechat/pagechat/internal/testutil/pgtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.M{M: m})
}

func TestEachDSNIsAFreshDatabase(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	names := map[string]bool{}
	for range 2 {
		conn, err := pgx.Connect(ctx, pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		var name string
		var tables int
		err = conn.QueryRow(ctx, `SELECT current_database(), (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')`).Scan(&name, &tables)
		_ = conn.Close(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if names[name] || tables != 0 {
			t.Errorf("database %s (seen before: %v) has %d tables, want a fresh empty one", name, names[name], tables)
		}
		names[name] = true
	}
}

func TestServerRestarts(t *testing.T) {
	t.Parallel()
	s := pgtest.NewServer(t)
	dsn := s.DSN(t)
	ctx := context.Background()
	exec := func() error {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer func() { _ = conn.Close(ctx) }()
		_, err = conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS t (x int)`)
		return err
	}
	if err := exec(); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := exec(); err == nil {
		t.Fatal("connected to a stopped server")
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := exec(); err != nil {
		t.Fatalf("after restart: %v", err)
	}
}

func TestWithDatabaseAndRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, db, want, redacted string }{
		{"postgres://u:secret@h:5/x?sslmode=disable", "y", "postgres://u:secret@h:5/y?sslmode=disable", "postgres://u:xxxxx@h:5/x?sslmode=disable"},
		{"host=/tmp/s port=5 password=secret dbname=x", "y", "host=/tmp/s port=5 password=secret dbname=x dbname=y", "host=/tmp/s port=5 password=xxxxx dbname=x"},
	} {
		got, err := pgtest.WithDatabase(tc.in, tc.db)
		if err != nil || got != tc.want {
			t.Errorf("WithDatabase(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if r := pgtest.Redact(tc.in); r != tc.redacted {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, r, tc.redacted)
		}
	}
}
