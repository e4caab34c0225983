package web

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"syscall"
	"testing"

	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// A write the wiki could not make for lack of disk space is 507 with a
// sentence, not 500 "internal error" (finding #1).
func TestClassifyFullDisk(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"page write on a full disk", fmt.Errorf("save page: %w", &os.PathError{Op: "write", Path: "/data/wiki.db", Err: syscall.ENOSPC}), http.StatusInsufficientStorage, "storage_full"},
		{"search down", fmt.Errorf("search: %w", wiki.ErrSearchUnavailable), http.StatusServiceUnavailable, "search_unavailable"},
		{"database down", fmt.Errorf("page 1: %w", wiki.ErrUnavailable), http.StatusServiceUnavailable, "unavailable"},
		{"anything else", errors.New("boom"), http.StatusInternalServerError, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			status, code, msg := classify(tt.err)
			if status != tt.status || code != tt.code || msg == "" {
				t.Errorf("classify = %d %q %q, want %d %q", status, code, msg, tt.status, tt.code)
			}
		})
	}
}
