package hostsdk

import (
	"bytes"
	"strings"
	"testing"
)

func TestRenderMacroShowsRoomWithHistory(t *testing.T) {
	t.Parallel()
	host := newTestHost()
	host.deny("mallory", "p1", PermissionView)
	c := loadPlugin(t, host, t.TempDir())
	ctx := testCtx(t)

	first, err := c.RenderMacro(ctx, MacroRequest{UserID: "alice", PageID: "p1", Name: "Team Room", Params: map[string]string{"sound": "on"}})
	if err != nil {
		t.Fatal(err)
	}
	if first.RoomID != "p1.team-room" || !strings.Contains(first.HTML, "No messages yet") {
		t.Fatalf("new room rendered as %q (room %q)", first.HTML, first.RoomID)
	}
	if _, err := c.Send(ctx, "alice", first.RoomID, "m1", "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, "bob", first.RoomID, "m2", "hi"); err != nil {
		t.Fatal(err)
	}
	data := []byte("plain text notes\n")
	if _, err := c.Upload(ctx, "bob", first.RoomID, "f1", "notes.txt", int64(len(data)), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}

	got, err := c.RenderMacro(ctx, MacroRequest{UserID: "alice", PageID: "p1", Name: "Team Room", Params: map[string]string{"sound": "on"}, ChatPrefix: "/wiki/chat/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Alice Liddell", "Bob Builder", // participants
		"just now", "<time datetime=", // last activity, relative and absolute
		`<a href="/files/notes.txt">notes.txt</a>`,      // files
		`href="/wiki/chat/rooms/p1.team-room?sound=on"`, // join link under the host's prefix
		"Join chat",
	} {
		if !strings.Contains(got.HTML, want) {
			t.Errorf("macro table lacks %q:\n%s", want, got.HTML)
		}
	}

	denied, err := c.RenderMacro(ctx, MacroRequest{UserID: "mallory", PageID: "p1", Name: "Team Room"})
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"Team Room", "Alice", "notes.txt", "p1.team-room"} {
		if strings.Contains(denied.HTML, leak) {
			t.Errorf("viewer without view permission sees %q: %s", leak, denied.HTML)
		}
	}

	for _, bad := range []MacroRequest{
		{UserID: "alice", PageID: "p1", Name: "!!!"},
		{UserID: "alice", PageID: "p1", Name: "Ok", Params: map[string]string{"volume": "11"}},
	} {
		r, err := c.RenderMacro(ctx, bad)
		if err != nil {
			t.Fatalf("RenderMacro(%+v) failed instead of rendering an error box: %v", bad, err)
		}
		if !strings.Contains(r.HTML, "pagechat-error") || r.RoomID != "" {
			t.Errorf("RenderMacro(%+v) = %q, want an error box and no room", bad, r.HTML)
		}
	}
}
