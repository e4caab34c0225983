package hostsdk

import (
	"net/http/httptest"
	"testing"
	"time"
)

// deadlineRecorder is a ResponseWriter that records write deadlines, as
// net/http's does for a real connection.
type deadlineRecorder struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
}

func (d *deadlineRecorder) SetWriteDeadline(t time.Time) error {
	d.deadlines = append(d.deadlines, t)
	return nil
}

func TestSSEWriteDeadlineMovesOnlyWhenHalfIsGone(t *testing.T) {
	t.Parallel()
	rec := &deadlineRecorder{ResponseRecorder: httptest.NewRecorder()}
	s := newSSEWriter(rec, 10*time.Second)
	rec.deadlines = nil // newSSEWriter's probe
	for range 100 {
		if err := s.write([]byte("data: x\n\n")); err != nil {
			t.Fatal(err)
		}
	}
	if len(rec.deadlines) != 1 {
		t.Fatalf("%d deadline updates for 100 quick writes, want 1", len(rec.deadlines))
	}
	if left := time.Until(rec.deadlines[0]); left < 9*time.Second || left > 10*time.Second {
		t.Errorf("deadline %v away, want about the 10s timeout", left)
	}
	// With less than half the timeout left, the next write gets a whole
	// one again: no write can be cut after less than half.
	s.deadline = time.Now().Add(4 * time.Second)
	if err := s.write([]byte("data: y\n\n")); err != nil {
		t.Fatal(err)
	}
	if len(rec.deadlines) != 2 || time.Until(rec.deadlines[1]) < 9*time.Second {
		t.Errorf("deadlines %v: want a fresh 10s one after the old one ran low", rec.deadlines)
	}
	s.clearDeadline()
	if last := rec.deadlines[len(rec.deadlines)-1]; !last.IsZero() || !s.deadline.IsZero() {
		t.Errorf("clearDeadline left %v (remembered %v)", last, s.deadline)
	}
	if rec.Body.Len() != 101*len("data: x\n\n") {
		t.Errorf("wrote %d bytes", rec.Body.Len())
	}
}
