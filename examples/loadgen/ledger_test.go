package main

import (
	"slices"
	"testing"
	"time"
)

// d is one synthetic delivery: seq, and the seq the room had bound to the
// message's client id (0: none).
type d struct{ seq, bound int64 }

func TestSubLedger(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		deliveries []d
		acked      []int64
		delivered  int64 // of acked
		duplicated int64
		outOfOrder int64
		rejected   int64
		last       int64
		verdicts   []verdict // optional
	}{
		{name: "in order",
			deliveries: []d{{1, 1}, {2, 2}, {3, 3}}, acked: []int64{1, 2, 3},
			delivered: 3, last: 3, verdicts: []verdict{fresh, fresh, fresh}},
		{name: "nothing received",
			acked: []int64{1, 2}, delivered: 0},
		{name: "gap is lost",
			deliveries: []d{{1, 0}, {3, 0}}, acked: []int64{1, 2, 3},
			delivered: 2, last: 3},
		{name: "unacked deliveries do not count",
			deliveries: []d{{1, 0}, {2, 0}, {3, 0}}, acked: []int64{1, 3},
			delivered: 2, last: 3},
		{name: "same seq twice in a row",
			deliveries: []d{{1, 0}, {2, 0}, {2, 0}, {3, 0}}, acked: []int64{1, 2, 3},
			delivered: 3, duplicated: 1, last: 3, verdicts: []verdict{fresh, fresh, duplicate, fresh}},
		{name: "replayed range after a bad resume: duplicates, not also out of order",
			deliveries: []d{{1, 0}, {2, 0}, {3, 0}, {2, 0}, {3, 0}, {4, 0}}, acked: []int64{1, 2, 3, 4},
			delivered: 4, duplicated: 2, last: 4},
		{name: "swapped pair",
			deliveries: []d{{1, 0}, {3, 0}, {2, 0}, {4, 0}}, acked: []int64{1, 2, 3, 4},
			delivered: 4, outOfOrder: 1, last: 4, verdicts: []verdict{fresh, fresh, outOfOrder, fresh}},
		{name: "each late seq counts once",
			deliveries: []d{{5, 0}, {1, 0}, {2, 0}, {3, 0}}, acked: []int64{1, 2, 3, 5},
			delivered: 4, outOfOrder: 3, last: 5},
		{name: "late seq then its duplicate",
			deliveries: []d{{2, 0}, {1, 0}, {1, 0}}, acked: []int64{1, 2},
			delivered: 2, outOfOrder: 1, duplicated: 1, last: 2},
		{name: "client id stored twice under two seqs",
			deliveries: []d{{1, 1}, {2, 1}, {3, 3}}, acked: []int64{1, 3},
			delivered: 2, duplicated: 1, last: 3, verdicts: []verdict{fresh, duplicate, fresh}},
		{name: "client id duplicate is not also out of order",
			deliveries: []d{{1, 0}, {3, 3}, {2, 3}}, acked: []int64{1, 3},
			delivered: 2, duplicated: 1, last: 3},
		{name: "impossible seqs rejected",
			deliveries: []d{{0, 0}, {-1, 0}, {maxTrackedSeq + 1, 0}, {1, 0}}, acked: []int64{1},
			delivered: 1, rejected: 3, last: 1, verdicts: []verdict{rejected, rejected, rejected, fresh}},
		{name: "large seq grows the table",
			deliveries: []d{{1, 0}, {5000, 0}}, acked: []int64{1, 5000, 4999},
			delivered: 2, last: 5000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var l subLedger
			var verdicts []verdict
			for _, dl := range tc.deliveries {
				verdicts = append(verdicts, l.observe(dl.seq, dl.bound, time.Millisecond))
			}
			delivered, lats, _ := l.reconcile(tc.acked, nil, nil)
			if delivered != tc.delivered || l.duplicated != tc.duplicated || l.outOfOrder != tc.outOfOrder || l.rejected != tc.rejected || l.last != tc.last {
				t.Errorf("delivered=%d duplicated=%d out_of_order=%d rejected=%d last=%d, want %d %d %d %d %d",
					delivered, l.duplicated, l.outOfOrder, l.rejected, l.last,
					tc.delivered, tc.duplicated, tc.outOfOrder, tc.rejected, tc.last)
			}
			if int64(len(lats)) != delivered {
				t.Errorf("%d latencies for %d deliveries", len(lats), delivered)
			}
			if tc.verdicts != nil && !slices.Equal(verdicts, tc.verdicts) {
				t.Errorf("verdicts %v, want %v", verdicts, tc.verdicts)
			}
		})
	}
}

func TestSubLedgerLatency(t *testing.T) {
	t.Parallel()
	var l subLedger
	l.observe(1, 0, 1500*time.Microsecond)
	l.observe(2, 0, -1) // text without a send time
	l.observe(3, 0, 0)
	l.observe(4, 0, 24*time.Hour) // beyond what the table holds: capped
	l.cross = true                // the stream moved to another node
	l.observe(5, 0, 2*time.Millisecond)
	l.observe(6, 0, 24*time.Hour)
	l.observe(7, 0, -1)
	got, lats, cross := l.reconcile([]int64{1, 2, 3, 4, 5, 6, 7}, nil, nil)
	if got != 7 {
		t.Fatalf("delivered %d, want 7", got)
	}
	want := []uint32{1500, 0, maxLatencyUs, 2000, maxLatencyUs}
	if !slices.Equal(lats, want) {
		t.Errorf("latencies %v, want %v (unknown latency left out)", lats, want)
	}
	if want := []uint32{2000, maxLatencyUs}; !slices.Equal(cross, want) {
		t.Errorf("cross-node latencies %v, want %v", cross, want)
	}
}

func TestRoomBinding(t *testing.T) {
	t.Parallel()
	r := newRoom(0, "p", "p.r")
	if got := r.bind([]byte("a"), 2); got != 2 {
		t.Errorf("first bind = %d, want 2", got)
	}
	if got := r.bind([]byte("a"), 5); got != 2 {
		t.Errorf("second bind = %d, want the first seq 2", got)
	}
	if got := r.bind(nil, 7); got != 0 {
		t.Errorf("bind without client id = %d, want 0", got)
	}
	if !r.ack("a", 2) {
		t.Error("ack matching the delivered seq reported inconsistent")
	}
	if r.ack("b", 3); r.bind([]byte("b"), 3) != 3 {
		t.Error("ack did not bind its client id")
	}
	if r.ack("c", 1); r.maxAcked.Load() != 3 {
		t.Errorf("maxAcked = %d, want 3", r.maxAcked.Load())
	}
	r.bind([]byte("d"), 9)
	if r.ack("d", 4) {
		t.Error("ack under another seq than delivered reported consistent")
	}
	if got, want := r.ackedSeqs(), []int64{2, 3, 1, 4}; !slices.Equal(got, want) {
		t.Errorf("acked %v, want %v", got, want)
	}
}
