package main

import (
	"reflect"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	ten := []uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	hundred := make([]uint32, 100)
	for i := range hundred {
		hundred[i] = uint32(i + 1)
	}
	tests := []struct {
		name   string
		sorted []uint32
		p      float64
		want   uint32
	}{
		{"empty", nil, 50, 0},
		{"one value", []uint32{7}, 50, 7},
		{"one value p99", []uint32{7}, 99, 7},
		{"median of ten", ten, 50, 5},
		{"p99 of ten is the max", ten, 99, 10},
		{"max", ten, 100, 10},
		{"p90 of ten", ten, 90, 9},
		{"p91 of ten rounds up", ten, 91, 10},
		{"tiny p is the min", ten, 0.001, 1},
		{"p50 of 100", hundred, 50, 50},
		{"p99 of 100", hundred, 99, 99},
		{"two values median", []uint32{3, 9}, 50, 3},
	}
	for _, tc := range tests {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: percentile(p=%v) = %d, want %d", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestTally(t *testing.T) {
	t.Parallel()
	// Room a: acked 1..4, two subscribers. Room b: acked 1..2, two
	// subscribers. 12 expected deliveries.
	ra, rb := newRoom(0, "pa", "pa.r"), newRoom(1, "pb", "pb.r")
	for i := int64(1); i <= 4; i++ {
		ra.ack(string(rune('a'+i)), i)
	}
	rb.ack("x", 1)
	rb.ack("y", 2)
	sub := func(r *room, ds ...d) *subscriber {
		s := &subscriber{room: r}
		for _, dl := range ds {
			s.ledger.observe(dl.seq, dl.bound, time.Duration(dl.seq)*time.Millisecond)
		}
		return s
	}
	subs := []*subscriber{
		sub(ra, d{1, 0}, d{2, 0}, d{3, 0}, d{4, 0}),        // complete
		sub(ra, d{1, 0}, d{3, 0}, d{3, 0}, d{2, 0}),        // lost 4, duplicate 3, 2 out of order
		sub(rb, d{1, 0}, d{2, 0}, d{3, 0}),                 // 3 was never acked
		sub(rb, d{2, 0}, d{1, 0}, d{maxTrackedSeq + 1, 0}), // 1 out of order, one rejected
	}
	c := &counters{}
	c.sent.Store(7)
	c.acked.Store(6)
	c.unacked.Store(1)
	c.sendErrors.Store(2)
	ackLat := []uint32{3000, 1000, 2000}
	res := tally(tallyInput{
		cfg:      Config{Rooms: 2, Subs: 2, SendersPerRoom: 1, Rate: 10},
		counters: c, subs: subs, ackLatency: ackLat,
		sendPhase: 2 * time.Second, settlePhase: 500 * time.Millisecond,
	})
	want := Result{
		Sent: 7, Acked: 6, Expected: 12, Delivered: 11, Lost: 1, Duplicated: 1, OutOfOrder: 2,
		MsgsPerS: 3, TargetRate: 10,
		// Latencies of the 11 acked deliveries: 1,2,3,4, 1,2,3, 1,2, 1,2 ms.
		P50Ms: 2, P99Ms: 4, MaxMs: 4,
		AckP50Ms: 2, AckP99Ms: 3, AckMaxMs: 3,
		Errors: 4, SendErrors: 2, Unacked: 1, BadEvents: 1,
		Rooms: 2, Subs: 2, SendersPerRoom: 1, Streams: 4, DurationS: 2, SettleS: 0.5,
	}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("tally\n got %+v\nwant %+v", res, want)
	}
	if !res.Failed() {
		t.Error("Failed() = false with lost, duplicated and out-of-order messages")
	}
	if (Result{Acked: 5, Delivered: 10, Expected: 10}).Failed() {
		t.Error("Failed() = true for a clean result")
	}
	if ackLat[0] != 3000 {
		t.Error("tally sorted the caller's slice")
	}
}

func TestRound(t *testing.T) {
	t.Parallel()
	if got := usToMs(1234); got != 1.234 {
		t.Errorf("usToMs(1234) = %v", got)
	}
	if got := round3(2.0004999); got != 2 {
		t.Errorf("round3(2.0004999) = %v", got)
	}
}
