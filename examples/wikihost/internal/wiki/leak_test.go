package wiki

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/pagechat/pagechat/internal/testutil/pgtest"
)

// TestMain checks that the tests leave no goroutine behind. bleve's
// analysis workers are process-wide by design, started when bleve loads.
// A private PostgreSQL server, if the cluster tests started one, stops
// after the tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pgtest.M{M: m}, goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
}
