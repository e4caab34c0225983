package main

import (
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// counters are the live totals shared by all goroutines of a run; the
// progress line reads them while the run goes on.
type counters struct {
	sent         atomic.Int64 // messages attempted (distinct client ids)
	acked        atomic.Int64 // messages acknowledged with a seq
	received     atomic.Int64 // message events received, duplicates included
	sendErrors   atomic.Int64 // failed POST attempts, 429 included
	rateLimited  atomic.Int64 // POST attempts answered 429
	unavailable  atomic.Int64 // POST attempts answered 503 "unavailable"
	slowest503   atomic.Int64 // µs of the longest of those, request to answer
	unacked      atomic.Int64 // messages given up on
	ackMismatch  atomic.Int64 // acked under another seq than subscribers saw
	streamErrors atomic.Int64 // failed stream connects and broken streams
	badEvents    atomic.Int64 // message events that could not be read
	reconnects   atomic.Int64 // streams opened again after they ended
	failovers    atomic.Int64 // streams moved to another -sub-url after theirs failed
	heartbeats   atomic.Int64 // comment lines
	presence     atomic.Int64 // presence events

	window latencyWindow // delivery latencies since the last progress line
}

// errors is the sum shown as "errors".
func (c *counters) errors() int64 {
	return c.sendErrors.Load() + c.unacked.Load() + c.ackMismatch.Load() +
		c.streamErrors.Load() + c.badEvents.Load()
}

// Result is the JSON line printed at the end of a run.
type Result struct {
	Sent       int64   `json:"sent"`         // messages attempted
	Acked      int64   `json:"acked"`        // messages whose POST returned a seq
	Delivered  int64   `json:"delivered"`    // (subscriber, acked message) pairs received
	Expected   int64   `json:"expected"`     // acked × subs
	Lost       int64   `json:"lost"`         // expected − delivered
	Duplicated int64   `json:"duplicated"`   // repeated seq or client id at one subscriber
	OutOfOrder int64   `json:"out_of_order"` // seq not above the subscriber's previous one
	MsgsPerS   float64 `json:"msgs_per_s"`   // acked / send-phase seconds
	TargetRate float64 `json:"target_rate"`  // the -rate asked for

	P50Ms    float64 `json:"p50_ms"` // send → receive, over all deliveries of acked messages
	P99Ms    float64 `json:"p99_ms"`
	MaxMs    float64 `json:"max_ms"`
	AckP50Ms float64 `json:"ack_p50_ms"` // first POST attempt → acknowledgement
	AckP99Ms float64 `json:"ack_p99_ms"`
	AckMaxMs float64 `json:"ack_max_ms"`

	Errors      int64 `json:"errors"`       // sum of the error counts below
	SendErrors  int64 `json:"send_errors"`  // failed POST attempts (each retry counts)
	RateLimited int64 `json:"rate_limited"` // of which answered 429
	// Of which answered 503 "unavailable" (the plugin restarting, or the
	// cluster's database down), and the longest such attempt: a send must
	// fail fast while the database is away, not hang.
	Unavailable      int64   `json:"unavailable"`
	UnavailableMaxMs float64 `json:"unavailable_max_ms,omitempty"`
	Unacked          int64   `json:"unacked"`       // messages never acknowledged
	AckMismatch      int64   `json:"ack_mismatch"`  // acked seq differs from the delivered one
	StreamErrors     int64   `json:"stream_errors"` // failed or broken event streams
	BadEvents        int64   `json:"bad_events"`    // unreadable message events
	Reconnects       int64   `json:"reconnects"`    // streams reopened after ending
	Failovers        int64   `json:"failovers"`     // streams moved to another -sub-url after theirs failed

	// Deliveries through another node than the senders' (-sub-url other
	// than -url): how many, and their send → receive latency. Absent
	// when every subscriber used the senders' node.
	CrossNode  int64   `json:"cross_node,omitempty"`
	CrossP50Ms float64 `json:"cross_p50_ms,omitempty"`
	CrossP99Ms float64 `json:"cross_p99_ms,omitempty"`
	CrossMaxMs float64 `json:"cross_max_ms,omitempty"`

	Received   int64 `json:"received"`   // all message events, duplicates included
	Heartbeats int64 `json:"heartbeats"` // SSE comment lines
	Presence   int64 `json:"presence"`   // presence events

	Rooms          int     `json:"rooms"`
	Subs           int     `json:"subs"` // per room
	SendersPerRoom int     `json:"senders_per_room"`
	Streams        int     `json:"streams"`    // rooms × subs
	DurationS      float64 `json:"duration_s"` // send phase, as it actually lasted
	SettleS        float64 `json:"settle_s"`   // wait for deliveries, as it actually lasted

	Interrupted bool `json:"interrupted,omitempty"` // stopped by a signal: counts are partial
}

// Failed reports whether the run saw lost, duplicated or reordered
// messages, the conditions that make the command exit non-zero.
func (r Result) Failed() bool {
	return r.Lost > 0 || r.Duplicated > 0 || r.OutOfOrder > 0
}

// tallyInput is what a finished run hands to tally. Every goroutine that
// wrote into it has ended.
type tallyInput struct {
	cfg         Config
	counters    *counters
	subs        []*subscriber
	ackLatency  []uint32 // µs, all senders
	sendPhase   time.Duration
	settlePhase time.Duration
}

// tally reconciles every subscriber against its room's acknowledged
// messages and fills the Result.
func tally(in tallyInput) Result {
	c := in.counters
	res := Result{
		Sent:           c.sent.Load(),
		Acked:          c.acked.Load(),
		TargetRate:     in.cfg.Rate,
		SendErrors:     c.sendErrors.Load(),
		RateLimited:    c.rateLimited.Load(),
		Unavailable:    c.unavailable.Load(),
		Unacked:        c.unacked.Load(),
		AckMismatch:    c.ackMismatch.Load(),
		StreamErrors:   c.streamErrors.Load(),
		BadEvents:      c.badEvents.Load(),
		Reconnects:     c.reconnects.Load(),
		Failovers:      c.failovers.Load(),
		Received:       c.received.Load(),
		Heartbeats:     c.heartbeats.Load(),
		Presence:       c.presence.Load(),
		Errors:         c.errors(),
		Rooms:          in.cfg.Rooms,
		Subs:           in.cfg.Subs,
		SendersPerRoom: in.cfg.SendersPerRoom,
		Streams:        in.cfg.Rooms * in.cfg.Subs,
		DurationS:      round3(in.sendPhase.Seconds()),
		SettleS:        round3(in.settlePhase.Seconds()),
	}
	if s := in.sendPhase.Seconds(); s > 0 {
		res.MsgsPerS = round3(float64(res.Acked) / s)
	}

	acked := make(map[*room][]int64)
	var lats, cross []uint32
	for _, s := range in.subs {
		seqs, ok := acked[s.room]
		if !ok {
			seqs = s.room.ackedSeqs()
			acked[s.room] = seqs
		}
		var got int64
		got, lats, cross = s.ledger.reconcile(seqs, lats, cross)
		res.Expected += int64(len(seqs))
		res.Delivered += got
		res.Duplicated += s.ledger.duplicated
		res.OutOfOrder += s.ledger.outOfOrder
		res.BadEvents += s.ledger.rejected
		res.Errors += s.ledger.rejected
	}
	res.Lost = res.Expected - res.Delivered
	res.UnavailableMaxMs = round3(float64(c.slowest503.Load()) / 1000)

	slices.Sort(lats)
	res.P50Ms, res.P99Ms, res.MaxMs = usToMs(percentile(lats, 50)), usToMs(percentile(lats, 99)), usToMs(percentile(lats, 100))
	slices.Sort(cross)
	res.CrossNode = int64(len(cross))
	res.CrossP50Ms, res.CrossP99Ms, res.CrossMaxMs = usToMs(percentile(cross, 50)), usToMs(percentile(cross, 99)), usToMs(percentile(cross, 100))
	ackLat := slices.Clone(in.ackLatency)
	slices.Sort(ackLat)
	res.AckP50Ms, res.AckP99Ms, res.AckMaxMs = usToMs(percentile(ackLat, 50)), usToMs(percentile(ackLat, 99)), usToMs(percentile(ackLat, 100))
	return res
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted values: the smallest value at or below which p% of them lie. It
// returns 0 for no values.
func percentile(sorted []uint32, p float64) uint32 {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

func usToMs(us uint32) float64 { return round3(float64(us) / 1000) }

// round3 keeps three decimals: microseconds in a millisecond figure.
func round3(f float64) float64 { return math.Round(f*1000) / 1000 }
