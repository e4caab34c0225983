package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
)

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	// ID is the stream's last event id when the event was dispatched: an
	// id field sticks until another one replaces it, as in browsers.
	ID string
	// Type is the event field, or "message" when the event had none.
	Type string
	// Data is the data lines joined with "\n". It is only valid until
	// the next call to Next: the reader reuses it, because at tens of
	// thousands of events a second a copy per event was most of this
	// tool's garbage.
	Data []byte
}

// sseReader parses a text/event-stream as the HTML standard describes it,
// minus what this tool does not use (retry is ignored). It is written here
// rather than imported because the module takes no dependencies for
// examples, and the format is small.
type sseReader struct {
	sc       *bufio.Scanner
	lastID   string
	typ      string
	data     []byte // data lines so far, each ended by "\n"
	first    bool   // no line read yet: strip a byte order mark
	comments int    // comment lines seen, heartbeats among them
}

// newSSEReader reads events from r, refusing lines longer than maxLine
// bytes (a message event's data line holds a whole message as JSON).
func newSSEReader(r io.Reader, maxLine int) *sseReader {
	sc := bufio.NewScanner(r)
	// The limit is the larger of maxLine and the buffer's capacity. The
	// buffer starts small and grows for long lines: there is one per
	// stream, thousands in a run, and a fresh 64 KiB each cost more in
	// page faults than all the parsing.
	sc.Buffer(make([]byte, 0, min(4<<10, maxLine)), maxLine)
	sc.Split(splitSSELines)
	return &sseReader{sc: sc, first: true}
}

// Next returns the next event. At the end of the stream it returns io.EOF
// and drops an event that was not finished by a blank line, because the
// server may have been cut off in the middle of writing it.
func (r *sseReader) Next() (sseEvent, error) {
	for r.sc.Scan() {
		line := r.sc.Bytes()
		if r.first {
			line = bytes.TrimPrefix(line, byteOrderMark)
			r.first = false
		}
		if len(line) == 0 {
			if ev, ok := r.dispatch(); ok {
				return ev, nil
			}
			continue
		}
		r.field(line)
	}
	if err := r.sc.Err(); err != nil {
		return sseEvent{}, fmt.Errorf("reading event stream: %w", err)
	}
	return sseEvent{}, io.EOF
}

// Comments reports how many comment lines have been read.
func (r *sseReader) Comments() int { return r.comments }

var byteOrderMark = []byte("\uFEFF")

// field handles one non-blank line.
func (r *sseReader) field(line []byte) {
	if line[0] == ':' {
		r.comments++
		return
	}
	name, value, found := bytes.Cut(line, []byte(":"))
	if found {
		value = bytes.TrimPrefix(value, []byte(" "))
	}
	switch string(name) {
	case "event":
		r.typ = eventType(value)
	case "data":
		r.data = append(r.data, value...)
		r.data = append(r.data, '\n')
	case "id":
		// The standard ignores ids with NUL so they cannot truncate
		// Last-Event-ID headers.
		if bytes.IndexByte(value, 0) < 0 && string(value) != r.lastID {
			r.lastID = string(value)
		}
	}
}

// eventType returns the event field as a string without allocating for
// the types the chat server sends.
func eventType(b []byte) string {
	for _, known := range [...]string{"message", "presence", "error", "reset"} {
		if string(b) == known {
			return known
		}
	}
	return string(b)
}

// dispatch ends the current event. An event without data lines is not
// dispatched (its id still counts), as in browsers.
func (r *sseReader) dispatch() (sseEvent, bool) {
	defer func() {
		r.typ = ""
		r.data = r.data[:0]
	}()
	if len(r.data) == 0 {
		return sseEvent{}, false
	}
	typ := r.typ
	if typ == "" {
		typ = "message"
	}
	return sseEvent{ID: r.lastID, Type: typ, Data: r.data[:len(r.data)-1]}, true
}

// splitSSELines is a bufio.SplitFunc for the event-stream's three line
// endings: CRLF, LF and a lone CR. A final line with no line ending is
// dropped: the stream was cut while it was being written.
func splitSSELines(data []byte, atEOF bool) (advance int, token []byte, err error) {
	i := bytes.IndexAny(data, "\r\n")
	switch {
	case i < 0 && atEOF:
		return len(data), nil, nil
	case i < 0:
		return 0, nil, nil
	case data[i] == '\n':
		return i + 1, data[:i], nil
	case i+1 < len(data):
		if data[i+1] == '\n' {
			return i + 2, data[:i], nil
		}
		return i + 1, data[:i], nil
	case atEOF:
		return i + 1, data[:i], nil
	default:
		// A CR at the end of what has arrived: wait to see whether an LF
		// follows, or the LF would later read as an extra blank line
		// and dispatch an event early.
		return 0, nil, nil
	}
}
