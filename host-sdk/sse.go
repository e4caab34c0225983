package hostsdk

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// heartbeatLine is a comment line: EventSource ignores it, proxies see
// traffic.
var heartbeatLine = []byte(": heartbeat\n\n")

// sseWriter writes server-sent events to one browser, flushing after each
// batch and bounding each write with a deadline so that a browser that
// stops reading cannot hold the stream forever.
type sseWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
	// deadlines says whether the ResponseWriter supports write deadlines;
	// fixed at creation because Close reads it from another goroutine.
	deadlines bool
	// deadline is the write deadline last set by write.
	deadline time.Time
}

func newSSEWriter(w http.ResponseWriter, timeout time.Duration) *sseWriter {
	rc := http.NewResponseController(w)
	// Clearing the deadline is harmless and tells whether there is one.
	supported := !errors.Is(rc.SetWriteDeadline(time.Time{}), http.ErrNotSupported)
	return &sseWriter{w: w, rc: rc, timeout: timeout, deadlines: supported}
}

// write sends chunks and flushes them. Each write gets between half the
// timeout and the whole of it: the deadline is only pushed out once less
// than half is left, because moving it costs a timer update, and a busy
// room writes tens of thousands of events a second.
func (s *sseWriter) write(chunks ...[]byte) error {
	if s.deadlines {
		if now := time.Now(); s.deadline.Sub(now) < s.timeout/2 {
			s.deadline = now.Add(s.timeout)
			_ = s.rc.SetWriteDeadline(s.deadline)
		}
	}
	for _, c := range chunks {
		if _, err := s.w.Write(c); err != nil {
			return err
		}
	}
	return s.rc.Flush()
}

// clearDeadline removes the write deadline, so that the connection, which
// HTTP/1.1 reuses for the next request, does not inherit it.
func (s *sseWriter) clearDeadline() {
	if s.deadlines {
		s.deadline = time.Time{}
		_ = s.rc.SetWriteDeadline(time.Time{})
	}
}

// interrupt makes a blocked write fail now. It may be called from another
// goroutine while the stream's handler is still running (Close does, under
// Handler.mu, which the stream takes before returning).
func (s *sseWriter) interrupt() {
	if s.deadlines {
		_ = s.rc.SetWriteDeadline(time.Now())
	}
}

// frame is one encoded server-sent event, shared by every stream that
// sends it.
type frame struct {
	seq  uint64 // message sequence; 0 for events without one (presence)
	data []byte // complete event text, ending in a blank line
}

// sseEventName is the server-sent event name of a log entry: "message"
// for plain messages, "edit", "delete" and "topic" for those events, and
// "moderation" for kicks, bans and unbans.
func sseEventName(k MessageKind) string {
	switch k {
	case KindEdit, KindDelete, KindTopic:
		return string(k)
	case KindKick, KindBan, KindUnban:
		return "moderation"
	}
	return "message"
}

// messageFrame encodes a log entry as a server-sent event whose id is its
// sequence, so the browser's Last-Event-ID is its resume position. Every
// entry has one, events included: the stream stays gapless.
func messageFrame(m Message) (*frame, error) {
	data, err := json.Marshal(toMessageJSON(m))
	if err != nil {
		return nil, fmt.Errorf("encode message %d: %w", m.Seq, err)
	}
	b := make([]byte, 0, len(data)+64)
	b = append(b, "id: "...)
	b = strconv.AppendUint(b, m.Seq, 10)
	b = append(b, "\nevent: "...)
	b = append(b, sseEventName(m.Kind)...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	return &frame{seq: m.Seq, data: b}, nil
}

// presenceFrame encodes a presence change. It has no id: it is not a
// position in the room's log.
func presenceFrame(p Participant) (*frame, error) {
	return eventFrame("presence", toParticipantJSON(p))
}

// eventFrame encodes an event without id. JSON never contains a raw
// newline, so data fits on one line.
func eventFrame(event string, v any) (*frame, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", event, err)
	}
	b := make([]byte, 0, len(data)+32)
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, data...)
	b = append(b, "\n\n"...)
	return &frame{data: b}, nil
}

// Terminal events the browser acts on: it stops on "forbidden",
// "unauthenticated" and "not_found", and reloads history on "reset".
var (
	forbiddenFrame, _ = eventFrame("error", errorJSON{Error: "you no longer have permission to view this room", Code: "forbidden"})
	notFoundFrame, _  = eventFrame("error", errorJSON{Error: "this room no longer exists", Code: "not_found"})
	// unauthenticatedFrame ends a stream whose login ended (logout,
	// session expiry) while it was open.
	unauthenticatedFrame, _ = eventFrame("error", errorJSON{Error: "your login has ended; log in again to use the chat", Code: "unauthenticated"})
	unavailableFrame, _     = eventFrame("error", errorJSON{Error: "chat is temporarily unavailable; reconnecting", Code: "unavailable"})
)

// removedFrame is the error event that ends the stream of a user a
// moderator kicked (code "kicked": they may reconnect) or banned (code
// "banned": the popup stops).
func removedFrame(m Message) *frame {
	e := errorJSON{Code: "kicked", Error: "a moderator removed you from this room; you may rejoin"}
	if m.Kind == KindBan {
		e.Code, e.Error = "banned", "you are banned from this room"
		if m.Until.IsZero() {
			e.Error += " with no end date"
		} else {
			e.Error += " until " + m.Until.UTC().Format("2006-01-02 15:04 MST")
		}
	}
	if m.Reason != "" {
		e.Error += " (reason: " + m.Reason + ")"
	}
	fr, err := eventFrame("error", e)
	if err != nil {
		return forbiddenFrame
	}
	return fr
}
