package chunkio

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func chunks(parts ...[]byte) func() ([]byte, error) {
	return func() ([]byte, error) {
		if len(parts) == 0 {
			return nil, io.EOF
		}
		p := parts[0]
		parts = parts[1:]
		if p == nil {
			return nil, ErrBadChunk
		}
		return p, nil
	}
}

func TestReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		size  int64
		parts [][]byte
		want  []byte
		err   error
	}{
		{"exact", 6, [][]byte{[]byte("abc"), []byte("def")}, []byte("abcdef"), nil},
		{"empty chunks tolerated", 3, [][]byte{{}, []byte("abc"), {}}, []byte("abc"), nil},
		{"short", 10, [][]byte{[]byte("abc")}, nil, ErrShort},
		{"long", 2, [][]byte{[]byte("abc")}, nil, ErrLong},
		{"oversized chunk", MaxChunk + 1, [][]byte{make([]byte, MaxChunk+1)}, nil, ErrBadChunk},
		{"header again", 3, [][]byte{nil}, nil, ErrBadChunk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := io.ReadAll(NewReader(tt.size, chunks(tt.parts...)))
			if !errors.Is(err, tt.err) {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if tt.err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("read %q, want %q", got, tt.want)
			}
			if tt.err != nil && !IsProtocolError(err) {
				t.Fatalf("%v is not reported as a protocol error", err)
			}
		})
	}
}

// streamMsg stands in for UploadRequest and AttachFileRequest.
type streamMsg struct {
	header *string
	chunk  []byte
}

func (m *streamMsg) GetHeader() *string { return m.header }
func (m *streamMsg) GetChunk() []byte   { return m.chunk }

func TestFromStream(t *testing.T) {
	t.Parallel()
	hdr := "again"
	tests := []struct {
		name string
		msgs []*streamMsg
		want string
		err  error
	}{
		{"chunks then the end", []*streamMsg{{chunk: []byte("hel")}, {chunk: []byte("lo")}}, "hello", nil},
		{"a second header", []*streamMsg{{chunk: []byte("hel")}, {header: &hdr}}, "hel", ErrBadChunk},
		{"too short", []*streamMsg{{chunk: []byte("hel")}}, "hel", ErrShort},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			msgs := tt.msgs
			r := FromStream[*streamMsg, *string](5, func() (*streamMsg, error) {
				if len(msgs) == 0 {
					return nil, io.EOF
				}
				m := msgs[0]
				msgs = msgs[1:]
				return m, nil
			})
			got, err := io.ReadAll(r)
			if string(got) != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("read %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
}
