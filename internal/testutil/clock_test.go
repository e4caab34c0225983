package testutil

import (
	"testing"
	"time"
)

func TestClocks(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	still := NewClock(start)
	if a, b := still.Now(), still.Now(); !a.Equal(start) || !b.Equal(start) {
		t.Errorf("still clock read %v then %v, want %v twice", a, b, start)
	}
	still.Advance(time.Hour)
	if got := still.Now(); !got.Equal(start.Add(time.Hour)) {
		t.Errorf("after Advance: %v", got)
	}

	ticking := NewTickingClock(start, time.Second)
	for i := 1; i <= 3; i++ {
		if got, want := ticking.Now(), start.Add(time.Duration(i)*time.Second); !got.Equal(want) {
			t.Fatalf("reading %d = %v, want %v", i, got, want)
		}
	}
}
