package main

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// latencyWindow counts delivery latencies since it was last drained, so
// each progress line can say how latency moves during a run: a steady
// p99 means queueing, a spike in one second means a stall. Adding is
// lock-free because every subscriber adds on every delivery.
//
// Buckets are log-linear: exact below 16 µs, then 16 per power of two, so
// a bucket is at most 1/16 wider than its lower bound.
type latencyWindow struct {
	buckets [windowBuckets]atomic.Int64
	max     atomic.Int64 // µs
}

const windowBuckets = 16 + 48*16

func windowBucket(us int64) int {
	if us < 16 {
		return int(max(us, 0))
	}
	shift := bits.Len64(uint64(us)) - 5 // puts the top five bits in the mantissa
	i := 16 + shift*16 + int(us>>shift) - 16
	return min(i, windowBuckets-1)
}

// windowUpper is the largest latency, in µs, that falls into bucket i.
func windowUpper(i int) int64 {
	if i < 16 {
		return int64(i)
	}
	shift := (i - 16) / 16
	mantissa := int64(16 + (i-16)%16)
	return (mantissa+1)<<shift - 1
}

func (w *latencyWindow) add(d time.Duration) {
	us := d.Microseconds()
	w.buckets[windowBucket(us)].Add(1)
	for {
		m := w.max.Load()
		if us <= m || w.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// windowStats summarises one drained window.
type windowStats struct {
	n             int64
	p50, p99, max time.Duration
}

// drain returns the window's figures and empties it. Deliveries added while
// it runs land in this window or the next, never in neither.
func (w *latencyWindow) drain() windowStats {
	var counts [windowBuckets]int64
	var st windowStats
	for i := range w.buckets {
		counts[i] = w.buckets[i].Swap(0)
		st.n += counts[i]
	}
	st.max = time.Duration(w.max.Swap(0)) * time.Microsecond
	if st.n == 0 {
		return st
	}
	p50, p99 := (st.n+1)/2, (st.n*99+99)/100 // ranks, rounded up
	var seen int64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		before := seen
		seen += c
		at := time.Duration(windowUpper(i)) * time.Microsecond
		if before < p50 && seen >= p50 {
			st.p50 = min(at, st.max)
		}
		if before < p99 && seen >= p99 {
			st.p99 = min(at, st.max)
		}
	}
	return st
}
