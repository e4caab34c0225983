package hostsdk

import (
	"bytes"
	"testing"
)

// A retried upload (same user, same client id) is answered with the
// earlier message and its file, marked Duplicate, and not stored again.
func TestUploadRetryIsDuplicate(t *testing.T) {
	t.Parallel()
	host := newTestHost()
	c := loadPlugin(t, host, t.TempDir())
	ctx := testCtx(t)
	room := openRoom(t, c, "Files")
	data := bytes.Repeat([]byte("x"), 8<<20)
	first, err := c.Upload(ctx, "alice", room.ID, "up-1", "a.txt", int64(len(data)), bytes.NewReader(data))
	if err != nil || first.Duplicate {
		t.Fatalf("first upload = %+v, %v", first, err)
	}
	again, err := c.Upload(ctx, "alice", room.ID, "up-1", "a.txt", int64(len(data)), bytes.NewReader(data))
	if err != nil || !again.Duplicate || again.Message.Seq != first.Message.Seq || again.File.ID != first.File.ID {
		t.Fatalf("retry = %+v, %v; want the duplicate of seq %d", again, err, first.Message.Seq)
	}
}
