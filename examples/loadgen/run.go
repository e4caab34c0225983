package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// settlePoll is how often the settle phase checks whether every
// subscriber has caught up, so a healthy run ends soon after its last
// delivery instead of always waiting out -settle.
const settlePoll = 20 * time.Millisecond

// run performs one load run against cfg.URL and returns its result. Status
// lines go to log. It returns an error only when the run could not start
// (bad config, setup failed); delivery problems are in the Result.
//
// Phases: setup; subscribers connect; senders send for cfg.Duration;
// settle until every subscriber has its room's last acknowledged message
// or cfg.Settle passes; then everything is stopped and counted. Every
// phase has a deadline and the whole run a hard cap, so it ends by itself
// whatever the server does.
func run(ctx context.Context, cfg Config, log io.Writer) (Result, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return Result{}, err
	}
	outer := ctx
	ctx, cancel := context.WithTimeout(ctx, cfg.hardCap())
	defer cancel()

	hc := newHTTPClient(cfg.Rooms*cfg.Subs + cfg.senders() + setupParallel + 8)
	defer hc.CloseIdleConnections()
	api := newAPIClient(cfg.URL, hc)
	var subAPIs []*apiClient
	for _, u := range cfg.subURLs() {
		subAPIs = append(subAPIs, newAPIClient(u, hc))
	}
	runID := strings.ToLower(rand.Text()[:8])
	errs := newErrorLog(log, 20)

	var p plan
	if cfg.ProsodyMUC {
		p = prosodyPlan(cfg, runID)
		fmt.Fprintf(log, "loadgen: run %s: Prosody MUC mode: %d rooms on %s, %d occupants each (%d of them sending), %d XMPP users on %s\n",
			runID, cfg.Rooms, cfg.XMPPMUC, cfg.Subs, cfg.SendersPerRoom, cfg.xmppUsers(), cfg.XMPPServer)
	} else {
		fmt.Fprintf(log, "loadgen: run %s: creating %d rooms, %d sender, %d viewer and %d XMPP users on %s\n",
			runID, cfg.Rooms, cfg.senderUsers(), cfg.viewers(), cfg.xmppUsers(), cfg.URL)
		if len(cfg.SubURLs) > 0 {
			fmt.Fprintf(log, "loadgen: senders post to %s; subscribers connect to %s\n", cfg.URL, strings.Join(cfg.SubURLs, ", "))
		}
		setupCtx, setupDone := context.WithTimeout(ctx, cfg.SetupTimeout)
		var err error
		p, err = setup(setupCtx, api, cfg, runID, log)
		setupDone()
		if err != nil {
			return Result{}, fmt.Errorf("setup: %w", err)
		}
	}

	c := &counters{}
	clk := newClock()

	// XMPP occupants log in before anyone joins, so that joining is all
	// the servers see while the subscribers come up.
	var occs []*occupant
	if cfg.xmppSubs() > 0 {
		xctx, xdone := context.WithTimeout(ctx, cfg.SetupTimeout)
		err := prepareXMPP(xctx, api, cfg, p.xmppUsers, log)
		if err == nil {
			occs = newOccupants(p, cfg, runID, clk, c, errs)
			err = connectOccupants(xctx, cfg, occs, log)
		}
		xdone()
		if err != nil {
			return Result{}, fmt.Errorf("XMPP setup: %w", err)
		}
	}

	// Subscribers first, so every message has its audience when sent.
	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	var subWG sync.WaitGroup
	subs := make([]*subscriber, 0, cfg.Rooms*cfg.sseSubs())
	var ready []chan struct{}
	for _, r := range p.rooms {
		for range cfg.sseSubs() {
			viewer := p.viewers[len(subs)/cfg.StreamsPerUser]
			// Round robin over the subscriber URLs, as a load
			// balancer without sticky sessions spreads browsers.
			s := newSubscriber(r, subAPIs, len(subs)%len(subAPIs), api.base, viewer, cfg, clk, c, errs)
			subs = append(subs, s)
			ready = append(ready, s.ready)
			subWG.Go(func() { s.run(streamCtx) })
		}
	}
	for _, o := range occs {
		ready = append(ready, o.ready)
		subWG.Go(func() { o.run(streamCtx) })
	}
	readyStart := time.Now()
	if n := waitReady(ctx, ready, cfg.ReadyTimeout); n > 0 {
		// They asked for everything from seq 0 (XMPP occupants: up to
		// 500 messages of history), so they lose nothing by connecting
		// late; only their first latencies suffer.
		fmt.Fprintf(log, "loadgen: %d of %d streams and occupants not joined after %v; sending anyway\n", n, len(ready), cfg.ReadyTimeout)
	} else {
		fmt.Fprintf(log, "loadgen: %d streams and %d XMPP occupants joined in %v; sending %g msgs/s for %v\n",
			len(subs), len(occs), time.Since(readyStart).Round(time.Millisecond), cfg.Rate, cfg.Duration)
	}

	// A person who sends has the popup open: its connection is up and its
	// history loaded before the first message. Without this every sender
	// would dial and be checked in the first second of the send phase,
	// and that second's latencies would measure connection set-up.
	var senders []*sender
	if !cfg.ProsodyMUC {
		senders = newSenders(p, cfg, runID, api, clk, c, errs)
	}
	// It is best effort: a sender whose room did not open will dial on
	// its first send, and its errors are counted there.
	if len(senders) > 0 {
		warmStart := time.Now()
		var unopened atomic.Int64
		_ = forEach(ctx, len(senders), len(senders), func(ctx context.Context, i int) error {
			if err := senders[i].api.loadHistory(ctx, senders[i].cr, senders[i].room.id); err != nil {
				unopened.Add(1)
				errs.report(err)
			}
			return nil
		})
		fmt.Fprintf(log, "loadgen: %d of %d senders opened their rooms in %v\n",
			int64(len(senders))-unopened.Load(), len(senders), time.Since(warmStart).Round(time.Millisecond))
	}

	// Send phase.
	meter := newCPUMeter(cfg.CPUPIDs)
	cpuStart := meter.snapshot()
	sendStart := time.Now()
	sendCtx, stopSending := context.WithDeadline(ctx, sendStart.Add(cfg.Duration))
	defer stopSending()
	ackCtx, stopAcks := context.WithDeadline(ctx, sendStart.Add(cfg.Duration+cfg.ackGrace()))
	defer stopAcks()
	stopProgress := startProgress(log, c, cfg.Progress, sendStart, len(occs) > 0)
	var sendWG sync.WaitGroup
	interval := cfg.sendInterval()
	for i, sd := range senders {
		phase := time.Duration(float64(interval) * float64(i) / float64(len(senders))) // float: no overflow at tiny rates
		sendWG.Go(func() { sd.run(sendCtx, ackCtx, phase) })
	}
	if cfg.ProsodyMUC {
		var xsenders []*occupant
		for _, o := range occs {
			if o.lane >= 0 {
				xsenders = append(xsenders, o)
			}
		}
		for i, o := range xsenders {
			phase := time.Duration(float64(interval) * float64(i) / float64(len(xsenders)))
			sendWG.Go(func() { o.send(sendCtx, interval, phase, cfg.MsgBytes) })
		}
	}
	<-sendCtx.Done()
	sendPhase := time.Since(sendStart)
	sendersDone := make(chan struct{})
	go func() {
		sendWG.Wait()
		close(sendersDone)
	}()

	// Settle phase.
	settleStart := time.Now()
	settleCtx, settleDone := context.WithTimeout(ctx, cfg.Settle)
	waitSettled(settleCtx, sendersDone, subs, occs)
	settleDone()
	settlePhase := time.Since(settleStart)
	cpuEnd := meter.snapshot()

	// Stop everything and wait for it, so the tally reads finished data.
	stopAcks()
	<-sendersDone
	stopStreams()
	subWG.Wait()
	stopProgress()

	var ackLat []uint32
	for _, sd := range senders {
		ackLat = append(ackLat, sd.ackLatency...)
	}
	for _, o := range occs {
		ackLat = append(ackLat, o.ackLatency...)
	}
	res := tally(tallyInput{
		cfg: cfg, counters: c, subs: subs, occs: occs, ackLatency: ackLat,
		sendPhase: sendPhase, settlePhase: settlePhase,
	})
	res.CPU = meter.result(cpuStart, cpuEnd, res.Acked)
	if len(cfg.CPUPIDs) > 0 {
		res.ServerCPUMsPerMsg = serverMsPerMsg(res.CPU)
	}
	fmt.Fprintln(log, formatCPU(res.CPU, res.Acked))
	res.Interrupted = outer.Err() != nil
	return res, nil
}

// newSenders makes SendersPerRoom senders for every room.
func newSenders(p plan, cfg Config, runID string, api *apiClient, clk clock, c *counters, errs *errorLog) []*sender {
	out := make([]*sender, cfg.senders())
	for i := range out {
		r := p.rooms[i/cfg.SendersPerRoom]
		cr := p.senders[i%cfg.SendersPerRoom]
		out[i] = &sender{
			room:           r,
			api:            api,
			cr:             cr,
			idPrefix:       fmt.Sprintf("lg-%s-r%d-s%d", runID, r.index+1, i+1),
			interval:       cfg.sendInterval(),
			attemptTimeout: cfg.AttemptTimeout,
			msgBytes:       cfg.MsgBytes,
			clock:          clk,
			c:              c,
			errs:           errs,
		}
	}
	return out
}

// waitReady waits until every channel in ready is closed (every
// subscriber's first stream open, every occupant joined), timeout passes
// or ctx ends, and returns how many are not.
func waitReady(ctx context.Context, ready []chan struct{}, timeout time.Duration) int {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for i, ch := range ready {
		select {
		case <-ch:
		case <-t.C:
			return notReady(ready[i:])
		case <-ctx.Done():
			return notReady(ready[i:])
		}
	}
	return 0
}

func notReady(ready []chan struct{}) int {
	n := 0
	for _, ch := range ready {
		select {
		case <-ch:
		default:
			n++
		}
	}
	return n
}

// waitSettled returns once the senders are done and every subscriber and
// occupant has caught up with its room, or when ctx ends.
func waitSettled(ctx context.Context, sendersDone <-chan struct{}, subs []*subscriber, occs []*occupant) {
	t := time.NewTicker(settlePoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		select {
		case <-sendersDone:
		default:
			continue
		}
		if allCaughtUp(subs, occs) {
			return
		}
	}
}

func allCaughtUp(subs []*subscriber, occs []*occupant) bool {
	for _, s := range subs {
		if !s.caughtUp() {
			return false
		}
	}
	for _, o := range occs {
		if !o.caughtUp() {
			return false
		}
	}
	return true
}

// prosodyPlan is the plan of a Prosody MUC run: rooms named after the run
// on the MUC component, and XMPP users that exist only there.
func prosodyPlan(cfg Config, runID string) plan {
	p := plan{rooms: make([]*room, cfg.Rooms), xmppUsers: make([]creds, cfg.xmppUsers())}
	for i := range p.rooms {
		p.rooms[i] = newRoom(i, "", fmt.Sprintf("lg-%s-%d", runID, i+1))
	}
	return p
}
