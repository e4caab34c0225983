package main

import (
	"testing"
	"time"
)

func TestWindowBuckets(t *testing.T) {
	t.Parallel()
	prev := -1
	for us := int64(0); us < 1<<22; us = us*17/16 + 1 {
		i := windowBucket(us)
		if i < prev {
			t.Fatalf("bucket of %d µs is %d, below the bucket %d of a smaller latency", us, i, prev)
		}
		prev = i
		if up := windowUpper(i); up < us || float64(up) > float64(us)*17/16+1 {
			t.Fatalf("%d µs: bucket %d reaches %d µs, want within 1/16 above", us, i, up)
		}
	}
	if i := windowBucket(1 << 62); i != windowBuckets-1 {
		t.Errorf("huge latency in bucket %d, want the last", i)
	}
}

func TestWindowDrain(t *testing.T) {
	t.Parallel()
	var w latencyWindow
	if st := w.drain(); st.n != 0 || st.p99 != 0 {
		t.Fatalf("empty window: %+v", st)
	}
	// 98 fast deliveries and two slow ones: p50 is fast, p99 slow.
	for range 98 {
		w.add(2 * time.Millisecond)
	}
	w.add(300 * time.Millisecond)
	w.add(400 * time.Millisecond)
	st := w.drain()
	if st.n != 100 {
		t.Errorf("n = %d, want 100", st.n)
	}
	near := func(got, want time.Duration) bool { return got >= want && got <= want+want/16 }
	if !near(st.p50, 2*time.Millisecond) || !near(st.p99, 300*time.Millisecond) || st.max != 400*time.Millisecond {
		t.Errorf("p50 %v p99 %v max %v; want about 2ms, 300ms and exactly 400ms", st.p50, st.p99, st.max)
	}
	if st := w.drain(); st.n != 0 || st.max != 0 {
		t.Errorf("window not emptied: %+v", st)
	}
}
