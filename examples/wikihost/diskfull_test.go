package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pagechat/pagechat/internal/testutil"
)

// The wiki on a disk that fills up (finding #1): chat sends answer 507
// storage_full and lose nothing acknowledged, the wiki restarts on the full
// disk, and once space is freed chat and search work again.
func TestFullDisk(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary")
	}
	t.Parallel()
	plugin := buildPlugin(t)
	fs := testutil.SmallFS(t)
	data := filepath.Join(fs, "data")
	args := []string{"-addr", "127.0.0.1:0", "-data", data, "-plugin", plugin, "-transcript-delay", "100ms"}
	wh := start(t, args)
	wh.do("GET", "/pages/1", "bob", nil, http.StatusOK) // opens the demo's room
	msgs := "/chat/api/rooms/1.team-room/messages"
	wh.do("POST", msgs, "bob", map[string]string{"text": "before the disk filled", "client_id": "c0"}, http.StatusOK)

	filler := filepath.Join(fs, "filler")
	testutil.FillDisk(t, filler)
	acked := 1
	text := strings.Repeat("wombat ", 1000)
	var code int
	var body string
	for i := 1; i < 2000; i++ {
		code, body = wh.request("POST", msgs, "bob", map[string]string{"text": text, "client_id": fmt.Sprint("c", i)})
		if code != http.StatusOK {
			break
		}
		acked++
	}
	if code != http.StatusInsufficientStorage || !strings.Contains(body, `"code":"storage_full"`) {
		t.Fatalf("send on a full disk: %d %s, want 507 storage_full", code, body)
	}
	if s := wh.status("GET", "/pages/1", "alice"); s != http.StatusOK {
		t.Errorf("page on a full disk: %d", s)
	}

	// The restart happens on the full disk, as an administrator's would.
	wh.stop()
	wh = start(t, args)
	if s := wh.status("GET", "/pages/1", "alice"); s != http.StatusOK {
		t.Errorf("page after a restart on a full disk: %d", s)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	wh.do("POST", msgs, "bob", map[string]string{"text": "space is back", "client_id": "after"}, http.StatusOK)
	var h struct{ Messages []struct{ Seq uint64 } }
	wh.decode(wh.do("GET", msgs+"?limit=100", "alice", nil, http.StatusOK), &h)
	if n := len(h.Messages); n == 0 || h.Messages[n-1].Seq != uint64(acked+1) {
		t.Errorf("history after the disk filled: %d messages, want the %d acknowledged and one more", n, acked)
	}
	wh.eventually("search works again", func() bool {
		code, body := wh.request("GET", "/api/search?q=welcome", "alice", nil)
		return code == http.StatusOK && strings.Contains(body, "Welcome to pagechat")
	})
	wh.stop()
}
