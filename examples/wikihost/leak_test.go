package main

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that a run of the whole program, plugin and all, leaves
// no goroutine behind once it has shut down. bleve's analysis workers are
// process-wide by design, started when bleve loads.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/blevesearch/bleve_index_api.AnalysisWorker"))
}
