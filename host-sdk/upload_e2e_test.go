package hostsdk

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestUploadStoresFileOnPageAndAnnouncesIt(t *testing.T) {
	t.Parallel()
	host := newTestHost()
	host.deny("bob", "p1", PermissionPost)
	c := loadPlugin(t, host, t.TempDir(), WithMaxUploadBytes(1<<20))
	ctx := testCtx(t)
	room := openRoom(t, c, "Files")

	// A PNG signature followed by padding: the plugin must sniff the type
	// from the content, whatever the name claims.
	content := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 700_000)...)
	res, err := c.Upload(ctx, "alice", room.ID, "up-1", `..\../etc/pass<script>wd.txt`, int64(len(content)), bytes.NewReader(content))
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if res.File.ContentType != "image/png" {
		t.Errorf("content type %q, want image/png (sniffed)", res.File.ContentType)
	}
	if strings.ContainsAny(res.File.Name, `/\<>`) || strings.HasPrefix(res.File.Name, ".") {
		t.Errorf("file name %q was not sanitised", res.File.Name)
	}
	host.mu.Lock()
	stored := host.files[res.File.Name]
	host.mu.Unlock()
	if !bytes.Equal(stored, content) {
		t.Fatalf("host stored %d bytes, want the %d uploaded", len(stored), len(content))
	}
	if res.Message.File == nil || !strings.Contains(res.Message.HTML, `href="/files/`) || strings.Contains(res.Message.HTML, "<script>") {
		t.Errorf("announcement %q does not link the file safely", res.Message.HTML)
	}

	info, err := c.RoomInfo(ctx, "alice", room.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Files) != 1 || info.Files[0].Size != int64(len(content)) || info.Files[0].Seq != res.Message.Seq {
		t.Fatalf("room files = %+v, want the upload", info.Files)
	}

	tests := []struct {
		name string
		user string
		size int64
		body []byte
		want error
	}{
		{"too large", "alice", 2 << 20, make([]byte, 2<<20), ErrTooLarge},
		{"no post permission", "bob", 10, make([]byte, 10), ErrPermissionDenied},
		{"empty", "alice", 0, nil, ErrInvalidArgument},
		{"shorter than announced", "alice", 100, make([]byte, 50), ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Upload(ctx, tt.user, room.ID, "x-"+tt.name, "f.bin", tt.size, bytes.NewReader(tt.body))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Upload: %v, want %v", err, tt.want)
			}
		})
	}
	if info, err := c.RoomInfo(ctx, "alice", room.ID); err != nil || len(info.Files) != 1 {
		t.Fatalf("after refused uploads: %d files, %v; want still 1", len(info.Files), err)
	}
}
