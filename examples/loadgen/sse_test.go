package main

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

// readAll parses a whole stream and returns its events, comment count and
// final error (io.EOF at a clean end).
func readAll(r io.Reader, maxLine int) ([]sseEvent, int, error) {
	rd := newSSEReader(r, maxLine)
	var evs []sseEvent
	for {
		ev, err := rd.Next()
		if err != nil {
			return evs, rd.Comments(), err
		}
		ev.Data = append([]byte{}, ev.Data...) // Next reuses it
		evs = append(evs, ev)
	}
}

// sameEvent is event equality for slices.EqualFunc: an sseEvent holds a
// []byte, so == does not apply to it.
func sameEvent(a, b sseEvent) bool {
	return a.ID == b.ID && a.Type == b.Type && bytes.Equal(a.Data, b.Data)
}

func TestSSEReader(t *testing.T) {
	t.Parallel()
	msg := func(id, data string) sseEvent { return sseEvent{ID: id, Type: "message", Data: []byte(data)} }
	tests := []struct {
		name     string
		in       string
		want     []sseEvent
		comments int
	}{
		{"one event", "id: 1\nevent: message\ndata: {\"seq\":1}\n\n",
			[]sseEvent{msg("1", `{"seq":1}`)}, 0},
		{"multi-line data", "data: a\ndata: b\ndata:\ndata: c\n\n",
			[]sseEvent{msg("", "a\nb\n\nc")}, 0},
		{"comments and heartbeats", ": hello\n\n:\nid: 2\n: in between\ndata: x\n\n: heartbeat\n\n",
			[]sseEvent{msg("2", "x")}, 4},
		{"id without data is not dispatched but sticks", "id: 7\n\ndata: y\n\n",
			[]sseEvent{msg("7", "y")}, 0},
		{"id sticks across events", "id: 3\ndata: a\n\ndata: b\n\n",
			[]sseEvent{msg("3", "a"), msg("3", "b")}, 0},
		{"empty id resets", "id: 3\ndata: a\n\nid\ndata: b\n\n",
			[]sseEvent{msg("3", "a"), msg("", "b")}, 0},
		{"id with NUL ignored", "id: 3\ndata: a\n\nid: 4\x005\ndata: b\n\n",
			[]sseEvent{msg("3", "a"), msg("3", "b")}, 0},
		{"CRLF", "id: 1\r\nevent: presence\r\ndata: p\r\n\r\ndata: q\r\n\r\n",
			[]sseEvent{{ID: "1", Type: "presence", Data: []byte("p")}, msg("1", "q")}, 0},
		{"lone CR", "id: 1\revent: presence\rdata: p\r\rdata: q\r\r",
			[]sseEvent{{ID: "1", Type: "presence", Data: []byte("p")}, msg("1", "q")}, 0},
		{"mixed endings", "data: a\r\ndata: b\rdata: c\n\r\n",
			[]sseEvent{msg("", "a\nb\nc")}, 0},
		{"no space after colon, and only one space stripped", "data:x\ndata:  y\n\n",
			[]sseEvent{msg("", "x\n y")}, 0},
		{"field without colon", "data\n\n",
			[]sseEvent{msg("", "")}, 0},
		{"event type resets after dispatch", "event: presence\ndata: p\n\ndata: m\n\n",
			[]sseEvent{{Type: "presence", Data: []byte("p")}, msg("", "m")}, 0},
		{"unknown fields and retry ignored", "retry: 1000\nfoo: bar\ndata: z\n\n",
			[]sseEvent{msg("", "z")}, 0},
		{"byte order mark", "\uFEFFdata: bom\n\n",
			[]sseEvent{msg("", "bom")}, 0},
		{"unfinished event at EOF dropped", "data: done\n\nid: 9\ndata: half\n",
			[]sseEvent{msg("", "done")}, 0},
		{"unfinished line at EOF dropped", "data: done\n\ndata: {\"seq\":",
			[]sseEvent{msg("", "done")}, 0},
		{"blank lines only", "\n\n\r\n\r",
			nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Whole, and one byte per read: a CR at the end of one
			// read followed by LF in the next is still one line end.
			for _, r := range []io.Reader{strings.NewReader(tc.in), iotest.OneByteReader(strings.NewReader(tc.in))} {
				got, comments, err := readAll(r, 1024)
				if !errors.Is(err, io.EOF) {
					t.Fatalf("err = %v, want io.EOF", err)
				}
				if !slices.EqualFunc(got, tc.want, sameEvent) {
					t.Errorf("events\n got %q\nwant %q", got, tc.want)
				}
				if comments != tc.comments {
					t.Errorf("comments = %d, want %d", comments, tc.comments)
				}
			}
		})
	}
}

func TestSSEReaderErrors(t *testing.T) {
	t.Parallel()
	long := "data: " + strings.Repeat("x", 100) + "\n\n"
	if _, _, err := readAll(strings.NewReader(long), 64); err == nil || errors.Is(err, io.EOF) {
		t.Errorf("line over the limit: err = %v, want an error", err)
	}
	boom := errors.New("connection reset")
	r := io.MultiReader(strings.NewReader("data: a\n\ndata: b\n"), iotest.ErrReader(boom))
	evs, _, err := readAll(r, 1024)
	if !errors.Is(err, boom) || len(evs) != 1 {
		t.Errorf("broken stream: %d events, err %v; want 1 event and the read error", len(evs), err)
	}
}

// FuzzSSEReader checks that parsing never panics and does not depend on
// how the stream is split into reads.
func FuzzSSEReader(f *testing.F) {
	for _, s := range []string{
		"id: 1\nevent: message\ndata: {}\n\n",
		"data: a\r\ndata: b\rdata: c\n\r\n",
		": c\n\nid\x00\ndata\n\r",
		"\uFEFFdata:x\r",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		whole, wc, werr := readAll(strings.NewReader(in), 4096)
		bytewise, bc, berr := readAll(iotest.OneByteReader(strings.NewReader(in)), 4096)
		if !slices.EqualFunc(whole, bytewise, sameEvent) || wc != bc || (werr == nil) != (berr == nil) {
			t.Fatalf("whole read %q (%d comments, %v) != byte-wise read %q (%d, %v)", whole, wc, werr, bytewise, bc, berr)
		}
	})
}
