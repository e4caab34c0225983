// Command quickstart is the smallest pagechat host: it loads the plugin
// binary through host-sdk with an in-memory Host, opens a room on a page,
// follows it, and sends a few messages from two users. It shows the whole
// path a real host uses (go-plugin process, mutual TLS, HostAPI callbacks,
// bbolt storage) in one screenful; examples/wikihost is the full example.
//
//	go build -o /tmp/pagechat-plugin ./plugin/cmd/pagechat-plugin
//	go run ./examples/quickstart -plugin /tmp/pagechat-plugin
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

// demoHost lets everyone do everything on one page; a real host answers
// from its own users, pages and permission lists.
type demoHost struct{}

func (demoHost) CheckPermission(context.Context, string, string, hostsdk.Permission) (bool, error) {
	return true, nil
}

func (demoHost) GetPage(_ context.Context, id string) (hostsdk.Page, error) {
	if id != "home" {
		return hostsdk.Page{}, hostsdk.ErrNotFound
	}
	return hostsdk.Page{ID: "home", Title: "Home", URL: "/pages/home"}, nil
}

func (demoHost) GetUser(_ context.Context, id string) (hostsdk.User, error) {
	names := map[string]string{"alice": "Alice", "bob": "Bob"}
	if n, ok := names[id]; ok {
		return hostsdk.User{ID: id, DisplayName: n}, nil
	}
	return hostsdk.User{}, hostsdk.ErrNotFound
}

func (demoHost) UpsertChildPage(_ context.Context, c hostsdk.ChildPage) (hostsdk.Page, error) {
	return hostsdk.Page{ID: c.Key, Title: c.Title, ParentID: c.ParentID}, nil
}

func (demoHost) AttachFile(_ context.Context, f hostsdk.FileInfo, r io.Reader) (hostsdk.Attachment, error) {
	_, err := io.Copy(io.Discard, r)
	return hostsdk.Attachment{ID: f.Name}, err
}

func (demoHost) ResolveLink(context.Context, string, string, string) (hostsdk.Link, error) {
	return hostsdk.Link{}, nil
}

func main() {
	pluginPath := flag.String("plugin", "", "path to the pagechat-plugin binary (required)")
	dataDir := flag.String("data", filepath.Join(os.TempDir(), "pagechat-quickstart"), "directory for the plugin's database")
	flag.Parse()
	if *pluginPath == "" {
		fmt.Fprintln(os.Stderr, "usage: quickstart -plugin PATH [-data DIR]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()

	logger := hclog.New(&hclog.LoggerOptions{Name: "quickstart", Level: hclog.Info})
	chat, err := hostsdk.Load(ctx, *pluginPath, *dataDir, demoHost{}, hostsdk.WithLogger(logger))
	if err != nil {
		log.Fatalf("load plugin: %v", err)
	}
	defer chat.Close()

	room, err := chat.OpenRoom(ctx, "alice", "home", "Quickstart Room")
	if err != nil {
		log.Fatalf("open room: %v", err)
	}
	fmt.Printf("room %s (epoch %s) has %d stored messages\n", room.ID, room.Epoch, room.LastSeq)

	// Follow only what is new, then post from both users.
	sub, err := chat.Subscribe(ctx, "alice", room.ID, room.LastSeq, room.Epoch)
	if err != nil {
		log.Fatalf("subscribe: %v", err)
	}
	defer sub.Close()
	lines := []struct{ user, text string }{
		{"alice", "Hello from the quickstart!"},
		{"bob", "Hi Alice. This message is stored in bbolt and survives restarts."},
	}
	for i, l := range lines {
		id := fmt.Sprintf("quickstart-%d-%d", time.Now().UnixNano(), i)
		if _, err := chat.Send(ctx, l.user, room.ID, id, l.text); err != nil {
			log.Fatalf("send: %v", err)
		}
	}
	for got := 0; got < len(lines); {
		ev, err := sub.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			log.Fatalf("stream: %v", err)
		}
		if ev.Message != nil {
			got++
			m := ev.Message
			fmt.Printf("#%d %s %s: %s\n", m.Seq, m.SentAt.Local().Format("15:04:05"), m.UserName, m.Text)
		}
	}
	fmt.Printf("run it again: the room keeps its history in %s\n", *dataDir)
}
