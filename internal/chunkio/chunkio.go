// Package chunkio turns a gRPC stream of content chunks back into an
// io.Reader that delivers exactly the size announced in the stream's
// header. Both directions of file transfer use it: browser uploads into
// the plugin (ChatPlugin.Upload) and files from the plugin to the host
// (HostAPI.AttachFile), so a peer can trust the announced size.
package chunkio

import (
	"errors"
	"fmt"
	"io"

	"github.com/pagechat/pagechat/internal/limits"
)

// MaxChunk is the largest chunk the protocols allow.
const MaxChunk = limits.UploadChunkBytes

// Errors a Reader reports for a stream that breaks the protocol.
var (
	// ErrShort means the stream ended before the announced size.
	ErrShort = errors.New("stream ended before the announced size")
	// ErrLong means the stream carried more than the announced size.
	ErrLong = errors.New("stream carried more than the announced size")
	// ErrBadChunk means a message after the header was not a chunk of at
	// most MaxChunk bytes.
	ErrBadChunk = errors.New("expected content chunks of at most 1 MiB after the header")
)

// Reader reads the chunks that Next returns. Next returns io.EOF at the
// end of the stream, and ErrBadChunk for a message that is not a chunk.
type Reader struct {
	Next func() ([]byte, error)
	left int64
	buf  []byte
}

// NewReader returns a Reader expecting exactly size bytes.
func NewReader(size int64, next func() ([]byte, error)) *Reader {
	return &Reader{Next: next, left: size}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		chunk, err := r.Next()
		if errors.Is(err, io.EOF) {
			if r.left != 0 {
				return 0, fmt.Errorf("%w (%d bytes missing)", ErrShort, r.left)
			}
			return 0, io.EOF
		}
		if err != nil {
			return 0, err
		}
		if len(chunk) > MaxChunk {
			return 0, ErrBadChunk
		}
		if int64(len(chunk)) > r.left {
			return 0, ErrLong
		}
		r.left -= int64(len(chunk))
		r.buf = chunk
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// IsProtocolError reports whether err is one of the Reader's own errors,
// which callers turn into INVALID_ARGUMENT.
func IsProtocolError(err error) bool {
	return errors.Is(err, ErrShort) || errors.Is(err, ErrLong) || errors.Is(err, ErrBadChunk)
}

// Message is a stream message that carries either a header or a chunk,
// as UploadRequest and AttachFileRequest do.
type Message[H comparable] interface {
	GetHeader() H
	GetChunk() []byte
}

// FromStream returns a Reader over the chunks that recv returns (a gRPC
// stream's Recv, after its header), expecting exactly size bytes. A
// second header is ErrBadChunk.
func FromStream[M Message[H], H comparable](size int64, recv func() (M, error)) *Reader {
	var noHeader H
	return NewReader(size, func() ([]byte, error) {
		msg, err := recv()
		if err != nil {
			return nil, err
		}
		if msg.GetHeader() != noHeader {
			return nil, ErrBadChunk
		}
		return msg.GetChunk(), nil
	})
}
