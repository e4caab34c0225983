package pgstore_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pagechat/pagechat/internal/testutil/pgtest"
	"github.com/pagechat/pagechat/plugin/internal/store/pgstore"
)

// The writer's lookups by client id and by seq run once per commit; their
// plans must probe an index per key even when prepared on an empty,
// never analyzed table (a fresh install), because a connection keeps a
// prepared statement's generic plan. A scan of the messages would make
// every commit cost time in proportion to the whole log.
func TestBatchLookupsProbeAnIndexWhateverTheStatistics(t *testing.T) {
	t.Parallel()
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	s, err := pgstore.Open(ctx, pgstore.Options{DSN: dsn})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, sql, args string
	}{
		{"by client id", pgstore.ClientLookupSQL, `'{r}', '{u}', '{c}'`},
		{"by seq", pgstore.TargetLookupSQL, `'{r}', '{1}'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "q" + strings.ReplaceAll(tc.name, " ", "_")
			if _, err := conn.Exec(ctx, `PREPARE `+name+` AS `+tc.sql); err != nil {
				t.Fatal(err)
			}
			rows, _ := conn.Query(ctx, `EXPLAIN EXECUTE `+name+`(`+tc.args+`)`)
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			plan := strings.Join(lines, "\n")
			if strings.Contains(plan, "Seq Scan") || !strings.Contains(plan, "Index Scan") {
				t.Errorf("plan reads the table instead of probing an index:\n%s", plan)
			}
		})
	}
}
