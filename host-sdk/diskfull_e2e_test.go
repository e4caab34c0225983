package hostsdk

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/pagechat/pagechat/internal/testutil"
)

// A host whose file store is full (its AttachFile fails with ENOSPC) makes
// an upload answer 507 storage_full with a sentence, not 503 host_failed
// with an invitation to retry, and announces nothing (finding #1).
func TestUploadToAFullHostDiskIs507(t *testing.T) {
	t.Parallel()
	ws := newWebServer(t, nil)
	path := ws.api(ws.room.ID) + "/files"
	upload := func(cid string) (*http.Response, []byte) {
		body, ctype := multipartBody(t, map[string]string{"client_id": cid}, "a.txt", []byte("hello"))
		return ws.do(t, http.MethodPost, path, basicUser("alice"), body, map[string]string{"Content-Type": ctype})
	}
	ws.host.failAttach(fmt.Errorf("store file: %w", &os.PathError{Op: "write", Path: "/files/x", Err: syscall.ENOSPC}))
	resp, body := upload("up-1")
	wantError(t, resp, body, http.StatusInsufficientStorage, "storage_full")
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		t.Errorf("Retry-After %q: a full disk is not fixed by waiting a moment", ra)
	}
	if h, err := ws.client.History(testCtx(t), "alice", ws.room.ID, 0, 0); err != nil || len(h.Messages) != 0 {
		t.Fatalf("history after the failed upload: %d messages (%v), want none", len(h.Messages), err)
	}
	ws.host.failAttach(nil)
	if resp, body := upload("up-1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("upload once space is back: %d %s", resp.StatusCode, body)
	}
}

// An upload spooled to a temporary directory on a full disk (the host's
// own disk, before anything reaches the plugin or the host's file store)
// answers 507 storage_full too, not 500 internal (finding #1: "chat sends
// and uploads on a full disk answer a clear error").
func TestUploadSpooledToAFullDiskIs507(t *testing.T) {
	// Not parallel: TMPDIR is process-wide.
	ws := newWebServer(t, nil)
	fs := testutil.SmallFS(t)
	t.Setenv("TMPDIR", fs) // after the plugin is built and started
	path := ws.api(ws.room.ID) + "/files"
	upload := func(cid string) (*http.Response, []byte) {
		// Over the in-memory threshold, so it is spooled to TMPDIR.
		body, ctype := multipartBody(t, map[string]string{"client_id": cid}, "big.bin", bytes.Repeat([]byte("x"), uploadMemory+4096))
		return ws.do(t, http.MethodPost, path, basicUser("alice"), body, map[string]string{"Content-Type": ctype})
	}
	filler := filepath.Join(fs, "filler")
	testutil.FillDisk(t, filler)
	resp, body := upload("up-1")
	wantError(t, resp, body, http.StatusInsufficientStorage, "storage_full")
	if h, err := ws.client.History(testCtx(t), "alice", ws.room.ID, 0, 0); err != nil || len(h.Messages) != 0 {
		t.Fatalf("history after the failed upload: %d messages (%v), want none", len(h.Messages), err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if resp, body := upload("up-1"); resp.StatusCode != http.StatusOK {
		t.Fatalf("upload once space is back: %d %s", resp.StatusCode, body)
	}
}
