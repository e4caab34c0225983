package transcript

import (
	"testing"

	"go.uber.org/goleak"
)

// Every goroutine a test starts (Run) must have ended when it returns.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
