package main

import (
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
)

// startProgress prints one status line to w every interval until the
// returned stop is called; stop waits for the printer to end.
func startProgress(w io.Writer, c *counters, every time.Duration, start time.Time, xmpp bool) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		prevAcked, prevAt := c.acked.Load(), start
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				acked := c.acked.Load()
				rate := 0.0
				if d := now.Sub(prevAt).Seconds(); d > 0 {
					rate = float64(acked-prevAcked) / d
				}
				prevAcked, prevAt = acked, now
				// delivered here is every message event received; the
				// final result counts only acknowledged messages.
				lat := c.window.drain()
				xlat := ""
				if xmpp {
					x := c.xwindow.drain()
					xlat = " xmpp p50=" + ms(x.p50) + " p99=" + ms(x.p99) + " max=" + ms(x.max)
				}
				fmt.Fprintf(w, "loadgen: %6.1fs sent=%d acked=%d delivered=%d rate=%.1f/s latency p50=%s p99=%s max=%s%s errors=%d reconnects=%d\n",
					now.Sub(start).Seconds(), c.sent.Load(), acked, c.received.Load(), rate,
					ms(lat.p50), ms(lat.p99), ms(lat.max), xlat, c.errors(), c.reconnects.Load())
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// ms formats d in milliseconds for progress lines.
func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d.Microseconds())/1000, 'f', 1, 64) + "ms"
}

// errorLog prints the first distinct errors of a run to w, so the reason
// behind a rising error count is visible without flooding the terminal.
type errorLog struct {
	w    io.Writer
	mu   sync.Mutex
	left int
	seen map[string]bool
}

func newErrorLog(w io.Writer, limit int) *errorLog {
	return &errorLog{w: w, left: limit, seen: make(map[string]bool)}
}

// report prints err unless it was printed before or the limit is spent.
func (l *errorLog) report(err error) {
	msg := err.Error()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.left <= 0 || l.seen[msg] {
		return
	}
	l.seen[msg] = true
	l.left--
	fmt.Fprintln(l.w, "loadgen: error:", msg)
	if l.left == 0 {
		fmt.Fprintln(l.w, "loadgen: further errors are counted, not shown")
	}
}
