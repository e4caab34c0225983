package server

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pagechat/pagechat/internal/handshake"
	"github.com/pagechat/pagechat/internal/testutil"
	chatv1 "github.com/pagechat/pagechat/proto/gen/pagechat/chat/v1"
)

// On a real full disk a send answers RESOURCE_EXHAUSTED with STORAGE_FULL
// (finding #1: it was INTERNAL), stores nothing, loses nothing it
// acknowledged, and sends work again once space is freed.
func TestSendOnAFullDiskIsStorageFull(t *testing.T) {
	dir := testutil.SmallFS(t)
	h := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.DataDir = filepath.Join(dir, "chat") })
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	filler := filepath.Join(dir, "filler")
	testutil.FillDisk(t, filler)

	text := strings.Repeat("x", 8<<10)
	var acked uint64
	var err error
	for i := 0; i < 4096; i++ {
		var resp *chatv1.SendResponse
		resp, err = h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: "alice", RoomId: room, ClientId: fmt.Sprint("c", i), Text: text})
		if err != nil {
			break
		}
		acked = resp.GetMessage().GetSeq()
	}
	if status.Code(err) != codes.ResourceExhausted || reasonOf(err) != handshake.ReasonStorageFull {
		t.Fatalf("send on a full disk = %v (reason %q), want ResourceExhausted with %s", err, reasonOf(err), handshake.ReasonStorageFull)
	}
	if got := h.lastSeq(room); got != acked {
		t.Fatalf("last seq %d after the failure, want the %d acknowledged", got, acked)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: "alice", RoomId: room, ClientId: "after", Text: "space is back"}); err != nil {
		t.Fatalf("send once space is back: %v", err)
	}
	if got := h.lastSeq(room); got != acked+1 {
		t.Errorf("last seq %d, want %d", got, acked+1)
	}
}

// An upload whose message cannot be stored for lack of space answers
// STORAGE_FULL and takes its file off the page again: the README promises
// that such an upload "stores nothing", and a file no message points at
// is the orphan finding #6 of issue 10 asked to avoid.
func TestUploadOnAFullDiskLeavesNoFile(t *testing.T) {
	dir := testutil.SmallFS(t)
	h := newConfigured(t, func(r *chatv1.ConfigureRequest) { r.DataDir = filepath.Join(dir, "chat") })
	h.host.mu.Lock()
	h.host.removesFiles = true
	h.host.mu.Unlock()
	room := h.openRoom("alice", "p1", "Lobby").GetId()
	testutil.FillDisk(t, filepath.Join(dir, "filler"))
	// Use up the free pages the database file still has.
	text := strings.Repeat("x", 8<<10)
	for i := 0; i < 4096; i++ {
		if _, err := h.c.Send(testCtx(t), &chatv1.SendRequest{UserId: "alice", RoomId: room, ClientId: fmt.Sprint("c", i), Text: text}); err != nil {
			break
		}
	}
	_, err := h.upload("alice", room, "up-1", "notes.txt", 1000)
	if status.Code(err) != codes.ResourceExhausted || reasonOf(err) != handshake.ReasonStorageFull {
		t.Fatalf("upload on a full disk = %v (reason %q), want ResourceExhausted with %s", err, reasonOf(err), handshake.ReasonStorageFull)
	}
	if n := h.host.attachedFiles(); n != 1 {
		t.Fatalf("host stored %d files, want the 1 attached before the message failed", n)
	}
	if got := h.host.removedFiles(); len(got) != 1 || !strings.HasPrefix(got[0], "p1/f1 ") {
		t.Errorf("files removed after the failed upload: %q, want p1/f1", got)
	}
}
