package testutil

import (
	"fmt"
	"testing"
	"time"
)

// Polling starts fast, so a condition that holds almost at once costs
// almost nothing, and slows down to maxPoll, so a slow one (a call through
// the plugin, an HTTP request) is not hammered while it gets there.
const (
	firstPoll = time.Millisecond
	maxPoll   = 50 * time.Millisecond
)

// Eventually calls cond until it returns true, and fails t with Fatalf if
// it has not after timeout. It waits for a state the test then asserts on;
// the timeout is a bound for a loaded machine, not a timing check, so make
// it generous. msgAndArgs, if given, is a format string and its arguments
// saying what was awaited, for the failure message.
//
// cond runs on the calling goroutine, once more after the deadline before
// the test fails, and never after Eventually returns.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	wait := firstPoll
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, describe(msgAndArgs))
			return // a testing.TB whose Fatalf returns must not keep us here
		}
		time.Sleep(wait)
		wait = min(2*wait, maxPoll)
	}
}

func describe(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return "the condition"
	}
	format, ok := msgAndArgs[0].(string)
	if !ok {
		return fmt.Sprint(msgAndArgs...)
	}
	return fmt.Sprintf(format, msgAndArgs[1:]...)
}
