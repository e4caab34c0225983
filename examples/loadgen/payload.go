package main

import (
	"strconv"
	"strings"
	"time"
)

// payloadPrefix starts every text this tool sends, so a receiver can tell
// its messages from anyone else's in the room.
const payloadPrefix = "lg|"

// formatPayload builds a message text carrying the client id and the send
// time, padded with '.' to at least minBytes. The client id rides in the
// text as well as in the request so a receiver can identify the message
// even if the server's event JSON left client_id out.
func formatPayload(clientID string, sentNanos int64, minBytes int) string {
	var b strings.Builder
	b.WriteString(payloadPrefix)
	b.WriteString(clientID)
	b.WriteByte('|')
	b.WriteString(strconv.FormatInt(sentNanos, 10))
	if n := minBytes - b.Len(); n > 0 {
		b.WriteByte('|')
		b.WriteString(strings.Repeat(".", n-1))
	}
	return b.String()
}

// parsePayload undoes formatPayload; ok is false for any other text.
func parsePayload(text string) (clientID string, sentNanos int64, ok bool) {
	rest, found := strings.CutPrefix(text, payloadPrefix)
	if !found {
		return "", 0, false
	}
	parts := strings.SplitN(rest, "|", 3)
	if len(parts) < 2 || parts[0] == "" {
		return "", 0, false
	}
	ns, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return parts[0], ns, true
}

// clock gives Unix nanoseconds read through Go's monotonic clock: the
// wall time once at start, plus monotonic time since. Latency is the
// difference of two readings in this process, so a wall-clock step (NTP)
// during a run cannot make it negative or huge.
type clock struct {
	start time.Time
	base  int64
}

func newClock() clock {
	now := time.Now()
	return clock{start: now, base: now.UnixNano()}
}

// Now returns the current time in Unix nanoseconds.
func (c clock) Now() int64 { return c.base + int64(time.Since(c.start)) }
