package wiki

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// fileIDPattern is the form of the ids attach generates. Content is stored
// under the id alone, so checking it before building a path means no
// request can name a file outside the files directory.
var fileIDPattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// attach stores exactly f.Size bytes of content as a file of f.PageID.
func (w *Wiki) attach(f store.File, content io.Reader) (store.File, error) {
	if f.Size < 0 || f.Size > MaxFileBytes {
		return store.File{}, fmt.Errorf("%w: file of %d bytes (limit %d)", ErrTooLarge, f.Size, MaxFileBytes)
	}
	if _, err := w.store.PageMeta(f.PageID); err != nil {
		return store.File{}, err
	}
	raw := make([]byte, 16)
	if _, err := rand.Read(raw); err != nil {
		return store.File{}, fmt.Errorf("file id: %w", err)
	}
	f.ID = hex.EncodeToString(raw)
	f.Created = w.now().UTC()

	// Write to a temporary name and rename, so a file is either complete
	// under its id or absent.
	tmp, err := os.CreateTemp(w.filesDir, "upload-*")
	if err != nil {
		return store.File{}, fmt.Errorf("store file: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	if err := copyExactly(tmp, content, f.Size); err != nil {
		_ = tmp.Close()
		return store.File{}, err
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return store.File{}, fmt.Errorf("store file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return store.File{}, fmt.Errorf("store file: %w", err)
	}
	final := filepath.Join(w.filesDir, f.ID)
	if err := os.Rename(tmp.Name(), final); err != nil {
		return store.File{}, fmt.Errorf("store file: %w", err)
	}
	if err := w.store.AddFile(f); err != nil {
		_ = os.Remove(final)
		return store.File{}, err
	}
	w.log.Info("file attached", "page", f.PageID, "file", f.ID, "user", f.UserID, "size", f.Size, "type", f.ContentType)
	return f, nil
}

// copyExactly copies size bytes and fails if content is shorter or longer.
func copyExactly(dst io.Writer, content io.Reader, size int64) error {
	n, err := io.CopyN(dst, content, size)
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: file content ended after %d of %d bytes", ErrInvalid, n, size)
	}
	if err != nil {
		return fmt.Errorf("store file: %w", err)
	}
	var extra [1]byte
	if m, _ := io.ReadFull(content, extra[:]); m > 0 {
		return fmt.Errorf("%w: file content is longer than the announced %d bytes", ErrInvalid, size)
	}
	return nil
}

// OpenFile returns an attached file's metadata and content for userID, who
// must be allowed to view its page. The caller closes the file.
func (w *Wiki) OpenFile(userID, fileID string) (store.File, *os.File, error) {
	// A file on a page userID may not view is answered exactly as one
	// that does not exist.
	noSuchFile := ErrNoSuchFile
	if !fileIDPattern.MatchString(fileID) {
		return store.File{}, nil, noSuchFile
	}
	f, err := w.store.File(fileID)
	if errors.Is(err, store.ErrNotFound) {
		return store.File{}, nil, noSuchFile
	}
	if err != nil {
		return store.File{}, nil, err
	}
	if err := w.require(w.CanView, userID, f.PageID, "view"); errors.Is(err, ErrNotFound) {
		return store.File{}, nil, noSuchFile
	} else if err != nil {
		return store.File{}, nil, err
	}
	content, err := os.Open(filepath.Join(w.filesDir, f.ID))
	if err != nil {
		return store.File{}, nil, fmt.Errorf("open file %s: %w", f.ID, err)
	}
	return f, content, nil
}

// detach removes an attached file from its page: its metadata, then its
// content, so a crash in between leaves an orphan file on disk rather
// than a listed file without content.
func (w *Wiki) detach(pageID, fileID, userID string) error {
	if !fileIDPattern.MatchString(fileID) {
		return fmt.Errorf("file %q: %w", fileID, ErrNotFound)
	}
	if err := w.store.DeleteFile(pageID, fileID); err != nil {
		return err
	}
	if err := os.Remove(filepath.Join(w.filesDir, fileID)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove file %s: %w", fileID, err)
	}
	w.log.Info("file removed: its chat message was deleted", "page", pageID, "file", fileID, "by", userID)
	return nil
}
