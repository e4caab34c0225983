package pgstore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// A restarting PostgreSQL answers new connections "the database system is
// starting up" (57P03) and cuts open ones with 57P01: both mean "try
// again shortly" (503), like a refused connection, while the server's
// answer to a bad statement stays what it is.
func TestDBErrTellsAnOutageFromAnAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		err         error
		unavailable bool
	}{
		{"starting up", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, true},
		{"shutting down", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"refused connection", fmt.Errorf("dial unix /tmp/sock: connect: no such file or directory"), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"syntax error", &pgconn.PgError{Code: "42601"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := dbErr(fmt.Errorf("session: %w", tc.err))
			if errors.Is(got, store.ErrUnavailable) != tc.unavailable {
				t.Errorf("dbErr(%v) = %v; unavailable %v, want %v", tc.err, got, !tc.unavailable, tc.unavailable)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("dbErr(%v) = %v lost the cause", tc.err, got)
			}
		})
	}
	if dbErr(nil) != nil {
		t.Error("dbErr(nil) is not nil")
	}
}
