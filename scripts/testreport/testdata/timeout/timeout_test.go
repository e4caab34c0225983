package timeout

import (
	"testing"
	"time"
)

// TestHangs outlives the -timeout the test gives go test, so the package
// panics with no fail event for this test.
func TestHangs(t *testing.T) {
	time.Sleep(time.Minute)
}
