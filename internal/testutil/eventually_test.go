package testutil

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// recordingTB is a testing.TB whose Fatalf records the failure and ends
// the calling goroutine, as the real one does, without failing the test
// that uses it.
type recordingTB struct {
	testing.TB
	mu     sync.Mutex
	failed bool
	msg    string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Fatalf(format string, args ...any) {
	r.mu.Lock()
	r.failed = true
	r.msg = fmt.Sprintf(format, args...)
	r.mu.Unlock()
	runtime.Goexit()
}

// run calls Eventually on its own goroutine, as the testing package runs
// a test, so that Fatalf's Goexit ends only that goroutine.
func (r *recordingTB) run(timeout time.Duration, cond func() bool, msgAndArgs ...any) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		Eventually(r, timeout, cond, msgAndArgs...)
	}()
	<-done
}

func TestEventuallyFailsWhenTheConditionNeverHolds(t *testing.T) {
	t.Parallel()
	r := &recordingTB{TB: t}
	calls := 0
	r.run(20*time.Millisecond, func() bool { calls++; return false }, "room %q to open", "lobby")
	if !r.failed {
		t.Fatal("Eventually returned without failing the test although the condition never held")
	}
	for _, want := range []string{"timed out after 20ms", `room "lobby" to open`} {
		if !strings.Contains(r.msg, want) {
			t.Errorf("failure message %q lacks %q", r.msg, want)
		}
	}
	if calls < 2 {
		t.Errorf("condition polled %d times before giving up; want repeated polls", calls)
	}
}

func TestEventuallyReturnsOnceTheConditionHolds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		holdAfter int // the condition holds from this call on
	}{
		{"at once", 1},
		{"after a few polls", 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &recordingTB{TB: t}
			calls := 0
			r.run(time.Minute, func() bool { calls++; return calls >= tt.holdAfter })
			if r.failed {
				t.Fatalf("Eventually failed the test: %s", r.msg)
			}
			if calls != tt.holdAfter {
				t.Errorf("condition called %d times, want %d: no call after it held", calls, tt.holdAfter)
			}
		})
	}
}

func TestEventuallyDescribesAnUnnamedWait(t *testing.T) {
	t.Parallel()
	r := &recordingTB{TB: t}
	r.run(time.Millisecond, func() bool { return false })
	if !r.failed || !strings.Contains(r.msg, "waiting for the condition") {
		t.Errorf("failed %v with %q; want a failure naming the condition", r.failed, r.msg)
	}
}
