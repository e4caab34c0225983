package main

import (
	"bytes"
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

// parsePayload undoes formatPayload; ok is false for any other text. It
// works on bytes, and the client id it returns shares text's memory, so
// that reading a delivery allocates nothing.
func parsePayload(text []byte) (clientID []byte, sentNanos int64, ok bool) {
	rest, found := bytes.CutPrefix(text, []byte(payloadPrefix))
	if !found {
		return nil, 0, false
	}
	clientID, rest, found = bytes.Cut(rest, []byte("|"))
	if !found || len(clientID) == 0 {
		return nil, 0, false
	}
	if i := bytes.IndexByte(rest, '|'); i >= 0 {
		rest = rest[:i]
	}
	ns, err := strconv.ParseInt(string(rest), 10, 64)
	if err != nil {
		return nil, 0, false
	}
	return clientID, ns, true
}

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
