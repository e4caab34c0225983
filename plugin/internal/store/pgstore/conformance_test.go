package pgstore_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/pagechat/pagechat/internal/testutil/pgtest"
	"github.com/pagechat/pagechat/plugin/internal/store"
	"github.com/pagechat/pagechat/plugin/internal/store/pgstore"
	"github.com/pagechat/pagechat/plugin/internal/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.M{M: m})
}

// openPG opens a store on dsn with cfg.
func openPG(dsn string, cfg storetest.Config) (store.Store, error) {
	return pgstore.Open(context.Background(), pgstore.Options{
		DSN:             dsn,
		OnCommit:        cfg.OnCommit,
		Now:             cfg.Now,
		DayOf:           cfg.DayOf,
		MaxRoomsPerPage: cfg.MaxRoomsPerPage,
	})
}

// rawContains looks for needle in every column of every row of the
// store's tables, read with SQL and not through the store.
func rawContains(dsn string, needle []byte) (bool, error) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer func() { _ = conn.Close(ctx) }()
	rows, _ := conn.Query(ctx, `SELECT tablename FROM pg_tables WHERE schemaname = 'pagechat'`)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return false, err
	}
	for _, table := range tables {
		var found bool
		q := `SELECT EXISTS (SELECT 1 FROM pagechat.` + pgx.Identifier{table}.Sanitize() + ` t WHERE strpos(t::text, $1) > 0)`
		if err := conn.QueryRow(ctx, q, string(needle)).Scan(&found); err != nil {
			return false, err
		}
		if found {
			return true, nil
		}
	}
	return false, nil
}

func TestPostgresConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn := pgtest.DSN(t)
		return storetest.Opener{
			Open: func(cfg storetest.Config) (store.Store, error) { return openPG(dsn, cfg) },
			MarkNewerSchema: func() error {
				conn, err := pgx.Connect(context.Background(), dsn)
				if err != nil {
					return err
				}
				defer func() { _ = conn.Close(context.Background()) }()
				_, err = conn.Exec(context.Background(), `UPDATE pagechat.schema_version SET version = $1`, pgstore.CurrentSchema+1)
				return err
			},
			RawContains: func(needle []byte) (bool, error) { return rawContains(dsn, needle) },
		}
	})
}
