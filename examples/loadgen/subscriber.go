package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Reconnect and retry backoff: the brief's 50 ms doubling to 2 s, short
// enough to ride out a plugin restart, long enough not to hammer a server
// that is down.
const (
	minBackoff = 50 * time.Millisecond
	maxBackoff = 2 * time.Second
)

// maxEventLine bounds one SSE line. A message event's data line carries a
// whole message (up to 512 KiB of text, more once JSON-escaped).
const maxEventLine = 8 << 20

// wireMessage is the part of a message event's JSON this tool reads.
type wireMessage struct {
	Seq      int64  `json:"seq"`
	ClientID string `json:"client_id"`
	UserID   string `json:"user_id"`
	Text     string `json:"text"`
}

// subscriber follows one room's event stream for the whole run,
// reconnecting from its last seq whenever the stream ends. With several
// subscriber URLs (the nodes of a cluster) it starts on one and moves to
// the next when its node stops accepting streams, resuming from the same
// seq there, as a browser behind a load balancer does when a node dies.
type subscriber struct {
	room *room
	// apis are the nodes it may stream from; cur is the one in use.
	apis []*apiClient
	cur  int
	// sendBase is the senders' node: deliveries through any other count
	// as cross-node.
	sendBase    string
	cr          creds
	idleTimeout time.Duration
	clock       clock
	c           *counters
	errs        *errorLog

	ledger subLedger    // written only by run's goroutine; read after it ends
	last   atomic.Int64 // ledger.last, for the settle check while running

	ready     chan struct{} // closed once the first stream is open
	readyOnce sync.Once
}

// newSubscriber makes a subscriber to r that streams from apis[first],
// moving on to the next of apis when that fails.
func newSubscriber(r *room, apis []*apiClient, first int, sendBase string, cr creds, cfg Config, clk clock, c *counters, errs *errorLog) *subscriber {
	return &subscriber{
		room: r, apis: apis, cur: first, sendBase: sendBase, cr: cr, idleTimeout: cfg.IdleTimeout,
		clock: clk, c: c, errs: errs, ready: make(chan struct{}),
	}
}

// errIdle means the stream sent nothing, not even a heartbeat, for too long.
var errIdle = errors.New("event stream idle")

// run streams until ctx ends.
func (s *subscriber) run(ctx context.Context) {
	backoff := minBackoff
	for ctx.Err() == nil {
		began, received := time.Now(), s.ledger.received
		connected, err := s.stream(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.c.streamErrors.Add(1)
			s.errs.report(fmt.Errorf("room %s: %w", s.room.id, err))
		}
		if !connected && err != nil && len(s.apis) > 1 {
			// Its node refuses streams or is gone: try the next.
			// Streams resume by seq, so any node can take over.
			s.cur = (s.cur + 1) % len(s.apis)
			s.c.failovers.Add(1)
		}
		if connected {
			s.c.reconnects.Add(1)
			// A stream that delivered or lived a while was healthy,
			// not a server refusing us: start over from the shortest
			// wait.
			if s.ledger.received > received || time.Since(began) > time.Second {
				backoff = minBackoff
			}
		}
		wait := backoff
		if ra := retryAfter(err); ra > 0 {
			wait = ra
		}
		if !sleepCtx(ctx, wait) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// stream opens one event stream and reads it until it ends. connected
// reports whether the server accepted it; err is nil when the server
// simply closed it.
func (s *subscriber) stream(ctx context.Context) (connected bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The watchdog cancels a stream that has gone silent; every read
	// pushes it back. It also bounds waiting for the response headers.
	var idle atomic.Bool
	watchdog := time.AfterFunc(s.idleTimeout, func() {
		idle.Store(true)
		cancel()
	})
	defer watchdog.Stop()
	idleErr := func(err error) error {
		if idle.Load() {
			return fmt.Errorf("%w for %v: %w", errIdle, s.idleTimeout, err)
		}
		return err
	}

	api := s.apis[s.cur]
	resp, err := api.openEvents(ctx, s.cr, s.room.id, s.ledger.last)
	if err != nil {
		return false, idleErr(fmt.Errorf("%s: %w", api.base, err))
	}
	s.ledger.cross = api.base != s.sendBase
	// Not closeBody: draining a live stream would block until shutdown.
	defer resp.Body.Close()
	s.readyOnce.Do(func() { close(s.ready) })

	body := &activityReader{r: resp.Body, touch: func() { watchdog.Reset(s.idleTimeout) }}
	rd := newSSEReader(body, maxEventLine)
	defer func() { s.c.heartbeats.Add(int64(rd.Comments())) }()
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return true, idleErr(err)
		}
		switch ev.Type {
		case "message":
			s.onMessage(ev)
		case "presence":
			s.c.presence.Add(1)
		case "error", "reset":
			// The server's last word before it ends the stream
			// (no permission, plugin unavailable, room log replaced).
			s.c.streamErrors.Add(1)
			s.errs.report(fmt.Errorf("room %s: %s event: %s", s.room.id, ev.Type, ev.Data))
		}
	}
}

// onMessage accounts for one message event.
func (s *subscriber) onMessage(ev sseEvent) {
	recv := s.clock.Now()
	seq, text, ok := fastMessage(ev)
	var clientID []byte
	if !ok {
		var m wireMessage
		if err := json.Unmarshal(ev.Data, &m); err != nil {
			s.c.badEvents.Add(1)
			s.errs.report(fmt.Errorf("room %s: message event: %w", s.room.id, err))
			return
		}
		seq, text, clientID = m.Seq, []byte(m.Text), []byte(m.ClientID)
		if seq == 0 {
			seq, _ = strconv.ParseInt(ev.ID, 10, 64)
		}
	}
	if seq <= 0 || seq > maxTrackedSeq {
		s.c.badEvents.Add(1)
		s.errs.report(fmt.Errorf("room %s: message event with seq %d (id %q)", s.room.id, seq, ev.ID))
		return
	}
	latency := time.Duration(-1)
	if cid, sent, ok := parsePayload(text); ok {
		if len(clientID) == 0 {
			clientID = cid
		}
		latency = max(time.Duration(recv-sent), 0)
		s.c.window.add(latency)
	}
	s.ledger.observe(seq, s.room.bind(clientID, seq), latency)
	s.c.received.Add(1)
	s.last.Store(s.ledger.last)
}

// caughtUp reports whether the subscriber has seen its room's highest
// acknowledged seq. Streams deliver in order, so a seq missing below that
// point will not come later: waiting longer would not change the count.
func (s *subscriber) caughtUp() bool {
	return s.last.Load() >= s.room.maxAcked.Load()
}

// activityReader calls touch after every read that returned data.
type activityReader struct {
	r     io.Reader
	touch func()
}

func (a *activityReader) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.touch()
	}
	return n, err
}

// sleepCtx waits d or until ctx ends; it reports whether the full wait
// passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// textField opens the message text in the event JSON the handler writes.
const textField = `"text":"` + payloadPrefix

// fastMessage reads one of this tool's own messages without a JSON decode:
// the seq from the event id (the contract makes them equal) and the text,
// which formatPayload keeps free of quotes and escapes. At tens of
// thousands of deliveries a second the decoder was a fifth of the tool's
// CPU, on the same cores as the server it measures. Anything else (another
// client's message, an unexpected shape) takes the full decode.
func fastMessage(ev sseEvent) (seq int64, text []byte, ok bool) {
	seq, err := strconv.ParseInt(ev.ID, 10, 64)
	if err != nil || seq <= 0 {
		return 0, nil, false
	}
	i := bytes.Index(ev.Data, []byte(textField))
	if i < 0 {
		return 0, nil, false
	}
	rest := ev.Data[i+len(textField)-len(payloadPrefix):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return 0, nil, false
	}
	return seq, rest[:end], true
}
