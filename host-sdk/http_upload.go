package hostsdk

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/pagechat/pagechat/internal/limits"
)

const (
	// uploadOverhead is what a multipart upload may carry beyond the file
	// itself: boundaries, part headers and the client id field.
	uploadOverhead = 64 << 10
	// uploadMemory is how much of an upload is held in memory; larger
	// files are spooled to a temporary file, so concurrent uploads cost
	// disk, not RAM. The plugin needs the exact size before the first
	// byte, which a multipart part does not declare, hence the spool.
	uploadMemory = 1 << 20
)

// serveUpload serves POST {prefix}api/rooms/{roomID}/files: a
// multipart/form-data body with the field "file" and optionally
// "client_id" (which makes a retry of the same upload announce it once).
func (h *Handler) serveUpload(w http.ResponseWriter, r *http.Request, id Identity, roomID string) error {
	if err := h.checkCSRF(r, id); err != nil {
		return err
	}
	limit := h.cfg.uploadLimit
	tooLarge := &apiError{status: http.StatusRequestEntityTooLarge, code: "too_large", msg: fmt.Sprintf("the file is larger than the limit of %d bytes", limit)}
	// Both refusals come before the first byte of the body is read: the
	// declared size, and whether the user may post at all, so a forbidden
	// or oversized upload costs neither bandwidth nor spool space.
	if r.ContentLength > limit+uploadOverhead {
		return tooLarge
	}
	if err := h.client.mayPost(r.Context(), id.UserID, roomID); err != nil {
		return err
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit+uploadOverhead)
	mr, err := r.MultipartReader()
	if err != nil {
		return badRequest("expected a multipart/form-data body")
	}
	var (
		clientID string
		name     string
		content  *spooledUpload
	)
	defer func() {
		if content != nil {
			content.Close()
		}
	}()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if isMaxBytes(err) {
				return tooLarge
			}
			return badRequest("malformed multipart body")
		}
		switch part.FormName() {
		case "client_id":
			if clientID != "" {
				return badRequest(`"client_id" given twice`)
			}
			b, err := io.ReadAll(io.LimitReader(part, limits.ClientIDBytes+1))
			if err != nil {
				if isMaxBytes(err) {
					return tooLarge
				}
				return badRequest("malformed multipart body")
			}
			if len(b) == 0 || len(b) > limits.ClientIDBytes {
				return badRequest(`"client_id" must be 1 to %d bytes`, limits.ClientIDBytes)
			}
			clientID = string(b)
		case "file":
			if content != nil {
				return badRequest("one file per upload")
			}
			name = part.FileName() // base name only; the plugin sanitises it further
			content, err = spoolUpload(part, limit)
			if err != nil {
				if errors.Is(err, errUploadTooLarge) || isMaxBytes(err) {
					return tooLarge
				}
				return fmt.Errorf("spool upload: %w", err)
			}
		default:
			return badRequest("unexpected form field %q; send \"file\" and optionally \"client_id\"", truncate(part.FormName(), 64))
		}
		_ = part.Close()
	}
	if content == nil {
		return badRequest(`no "file" field in the upload`)
	}
	if clientID == "" {
		// Without the browser's id a retry cannot be recognised, but the
		// upload itself is still valid.
		clientID = "upload-" + rand.Text()
	}
	if name == "" {
		name = "file"
	}
	res, err := h.client.Upload(r.Context(), id.UserID, roomID, clientID, name, content.size, content.reader())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, uploadResponseJSON{Seq: res.Message.Seq, Message: toMessageJSON(res.Message), File: toFileJSON(res.File)})
	return nil
}

func isMaxBytes(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

var errUploadTooLarge = errors.New("upload exceeds the limit")

// spooledUpload is an upload's content, in memory or in a temporary file,
// with its exact size.
type spooledUpload struct {
	mem  []byte
	file *os.File
	size int64
}

// spoolUpload reads r completely, refusing more than limit bytes.
func spoolUpload(r io.Reader, limit int64) (*spooledUpload, error) {
	var head bytes.Buffer
	n, err := head.ReadFrom(io.LimitReader(r, min(limit, uploadMemory)+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errUploadTooLarge
	}
	if n <= uploadMemory {
		return &spooledUpload{mem: head.Bytes(), size: n}, nil
	}
	f, err := os.CreateTemp("", "pagechat-upload-*")
	if err != nil {
		return nil, err
	}
	s := &spooledUpload{file: f}
	if _, err := f.Write(head.Bytes()); err != nil {
		s.Close()
		return nil, err
	}
	rest, err := io.Copy(f, io.LimitReader(r, limit-n+1))
	if err != nil {
		s.Close()
		return nil, err
	}
	if n+rest > limit {
		s.Close()
		return nil, errUploadTooLarge
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		s.Close()
		return nil, err
	}
	s.size = n + rest
	return s, nil
}

func (s *spooledUpload) reader() io.Reader {
	if s.file != nil {
		return s.file
	}
	return bytes.NewReader(s.mem)
}

// Close removes the temporary file, if any.
func (s *spooledUpload) Close() {
	if s.file != nil {
		_ = s.file.Close()
		_ = os.Remove(s.file.Name())
	}
}
