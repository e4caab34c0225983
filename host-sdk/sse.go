package hostsdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// heartbeatLine is a comment line: EventSource ignores it, proxies see
// traffic.
var heartbeatLine = []byte(": heartbeat\n\n")

// sseWriter writes server-sent events to one browser, flushing after each
// batch and bounding each write with a deadline so that a browser that
// stops reading cannot hold the stream forever.
//
// On an HTTP/1.x connection the stream takes the connection over
// (hijack): it writes the response head itself and then the events
// straight to the socket, one writev per batch, and the stream's handler
// returns. net/http would otherwise keep, for every open stream, the
// handler's goroutine with the stack it grew while setting the stream up,
// a second goroutine watching the connection, and a read and a write
// buffer: most of what an idle stream costs. Where the connection cannot
// be taken over (HTTP/2, a middleware's wrapping ResponseWriter that does
// not implement http.Hijacker itself) the stream is written through the
// ResponseWriter.
type sseWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
	// deadlines says whether the ResponseWriter supports write deadlines;
	// fixed at creation because Close reads it from another goroutine.
	deadlines bool
	// deadline is the write deadline last set by write.
	deadline time.Time
	// conn is the taken-over connection, or nil. start sets it (and
	// deadlines) under mu, which interrupt takes, as it runs on another
	// goroutine; the stream's own goroutines read them freely.
	mu   sync.Mutex
	conn net.Conn
	bufs net.Buffers
	// unwatch takes conn out of the handler's close watcher, if it is
	// in it.
	unwatch func()
}

func newSSEWriter(w http.ResponseWriter, timeout time.Duration) *sseWriter {
	rc := http.NewResponseController(w)
	// Clearing the deadline is harmless and tells whether there is one.
	supported := !errors.Is(rc.SetWriteDeadline(time.Time{}), http.ErrNotSupported)
	return &sseWriter{w: w, rc: rc, timeout: timeout, deadlines: supported}
}

// start sends the 200 response head with hdr (the ResponseWriter's
// header, which middleware may have added to), taking the connection over
// where it can. It reports whether it did.
func (s *sseWriter) start(w http.ResponseWriter, r *http.Request, hdr http.Header) (bool, error) {
	if r.ProtoMajor != 1 {
		w.WriteHeader(http.StatusOK)
		return false, nil
	}
	// Only a ResponseWriter that offers the connection itself: a
	// middleware's wrapper that merely unwraps wants to see the writes
	// (to count, log or compress them), and gets them.
	hj, ok := w.(http.Hijacker)
	if !ok {
		w.WriteHeader(http.StatusOK)
		return false, nil
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		w.WriteHeader(http.StatusOK)
		return false, nil
	}
	// The buffered reader holds nothing a GET's stream needs, and the
	// writer nothing yet: both are dropped.
	_ = rw
	// Nothing of the ResponseWriter is kept: through it net/http's
	// request, buffers and connection state would stay in memory for as
	// long as the stream runs.
	s.mu.Lock()
	s.conn, s.w, s.rc, s.deadlines = conn, conn, nil, true
	s.mu.Unlock()
	// The server's read deadline for the request (its ReadTimeout) must
	// not cut the stream: the connection is only read to see it close.
	_ = conn.SetReadDeadline(time.Time{})
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	h := hdr.Clone()
	h.Del("Content-Length")
	h.Del("Transfer-Encoding")
	// The body ends when the connection does: no chunked framing, and
	// the connection is not reused.
	h.Set("Connection", "close")
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	if err := h.Write(&head); err != nil {
		return true, err
	}
	head.WriteString("\r\n")
	return true, s.write(head.Bytes())
}

// watchClose calls gone once the browser has closed a taken-over
// connection (or sent something, which a stream's browser never does).
// The shared watcher w does the watching where it can (nil means there is
// none); otherwise a goroutine of the stream's own waits in a one-byte
// read, and ends then or when close closes the connection.
func (s *sseWriter) watchClose(w *closeWatcher, gone func()) {
	if w != nil {
		if unwatch, err := w.watch(s.conn, gone); err == nil {
			s.unwatch = unwatch
			return
		}
	}
	go func() {
		var b [1]byte
		_, _ = s.conn.Read(b[:])
		gone()
	}()
}

// close closes a taken-over connection.
func (s *sseWriter) close() {
	if s.unwatch != nil {
		s.unwatch()
	}
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// write sends chunks and flushes them. Each write gets between half the
// timeout and the whole of it: the deadline is only pushed out once less
// than half is left, because moving it costs a timer update, and a busy
// room writes tens of thousands of events a second.
func (s *sseWriter) write(chunks ...[]byte) error {
	if s.deadlines {
		if now := time.Now(); s.deadline.Sub(now) < s.timeout/2 {
			s.deadline = now.Add(s.timeout)
			if s.conn != nil {
				_ = s.conn.SetWriteDeadline(s.deadline)
			} else {
				_ = s.rc.SetWriteDeadline(s.deadline)
			}
		}
	}
	if s.conn != nil {
		// One writev for the batch; Buffers consumes its slice, so it
		// is rebuilt in the writer's own backing array each time.
		s.bufs = append(s.bufs[:0], chunks...)
		b := s.bufs
		_, err := b.WriteTo(s.conn)
		clear(s.bufs)
		return err
	}
	for _, c := range chunks {
		if _, err := s.w.Write(c); err != nil {
			return err
		}
	}
	return s.rc.Flush()
}

// clearDeadline removes the write deadline, so that the connection, which
// HTTP/1.1 reuses for the next request, does not inherit it. A taken-over
// connection is not reused.
func (s *sseWriter) clearDeadline() {
	if s.deadlines && s.conn == nil {
		s.deadline = time.Time{}
		_ = s.rc.SetWriteDeadline(time.Time{})
	}
}

// interrupt makes a blocked write fail now. It may be called from another
// goroutine while the stream runs (Close does, under Handler.mu, which the
// stream takes before it ends).
func (s *sseWriter) interrupt() {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.conn != nil:
		_ = s.conn.SetWriteDeadline(time.Now())
	case s.deadlines:
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

// typingFrame encodes a typing signal. Like presence it has no id, so it
// never moves the browser's Last-Event-ID, and it is never replayed.
func typingFrame(t Typing) (*frame, error) {
	return eventFrame("typing", typingJSON(t))
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
