package browsertest

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that the test leaves no goroutine behind: every chromedp
// context is cancelled (so each Chromium process has exited and chromedp's
// readers of its pipes have ended) and the API client's idle connections
// are closed. wikihost and the plugin run in processes of their own, so
// their goroutines are not this process's concern.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
