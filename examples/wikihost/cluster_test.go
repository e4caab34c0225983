package main

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/pgtest"
)

// startNodes starts n wikihost nodes at once, as a cluster starts: one
// PostgreSQL database, one shared data directory, a port each.
func startNodes(t *testing.T, n int) []*wikihost {
	t.Helper()
	plugin := buildPlugin(t)
	dsn, data := pgtest.DSN(t), t.TempDir()
	args := []string{"-addr", "127.0.0.1:0", "-data", data, "-db", dsn, "-plugin", plugin, "-transcript-delay", "100ms"}
	nodes := make([]*wikihost, n)
	for i := range nodes {
		ctx, cancel := context.WithCancel(context.Background())
		wh := &wikihost{t: t, cancel: cancel, done: make(chan error, 1), logs: testutil.NewListenWatcher()}
		go func() { wh.done <- run(ctx, args, wh.logs) }()
		t.Cleanup(wh.stop)
		nodes[i] = wh
	}
	for i, wh := range nodes {
		select {
		case addr := <-wh.logs.Addr():
			wh.base = "http://" + addr
		case err := <-wh.done:
			wh.cancel = nil // it has ended; nothing to stop
			t.Fatalf("node %d exited before listening: %v\n%s", i, err, wh.logs)
		case <-time.After(2 * time.Minute):
			t.Fatalf("node %d did not log its address\n%s", i, wh.logs)
		}
	}
	return nodes
}

// TestClusterTwoNodes runs two wiki nodes on one PostgreSQL database and
// one data directory and uses them as a user behind a load balancer
// without sticky sessions would: what is written on one node is read,
// searched and chatted on the other.
func TestClusterTwoNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the plugin binary twice")
	}
	t.Parallel()
	nodes := startNodes(t, 2)
	a, b := nodes[0], nodes[1]

	// Both nodes seeded, one demo.
	if s := b.do("GET", "/api/search?q=welcome", "carol", nil, http.StatusOK); strings.Count(s, `"title":"Welcome to pagechat"`) != 1 {
		t.Errorf("demo pages seen on node b: %s", s)
	}

	// A page created on a is read and found on b.
	var created struct{ ID, URL string }
	a.decode(a.do("POST", "/api/pages", "bob", map[string]string{"title": "Cluster page", "body": "Quokkas live here.\n\n{chat:Cluster Room}"}, http.StatusCreated), &created)
	var page struct{ Title, Body string }
	b.decode(b.do("GET", "/api/pages/"+created.ID, "carol", nil, http.StatusOK), &page)
	if page.Title != "Cluster page" || !strings.Contains(page.Body, "Quokkas") {
		t.Errorf("node b reads %+v", page)
	}
	if s := b.do("GET", "/api/search?q=quokka", "carol", nil, http.StatusOK); !strings.Contains(s, `"id":"`+created.ID+`"`) || !strings.Contains(s, `"snippet":"Quokkas live here.`) {
		t.Errorf("node b's search for node a's page: %s", s)
	}

	// The room exists once its page is rendered (on a); a message sent on
	// a reaches a subscriber on b.
	room := created.ID + ".cluster-room"
	a.do("GET", created.URL, "bob", nil, http.StatusOK)
	events := b.stream("/chat/api/rooms/"+room+"/events", "carol")
	a.do("POST", "/chat/api/rooms/"+room+"/messages", "bob", map[string]string{"text": "hello from node a", "client_id": "c1"}, http.StatusOK)
	if ev := events.next(t, "message"); ev.id != "1" || !strings.Contains(ev.data, "hello from node a") {
		t.Errorf("node b's subscriber got %+v", ev)
	}
	if h := b.do("GET", "/chat/api/rooms/"+room+"/messages", "carol", nil, http.StatusOK); !strings.Contains(h, "hello from node a") {
		t.Errorf("history on node b: %s", h)
	}

	// A permission change on b takes the room from carol on a.
	b.do("PUT", "/api/pages/"+created.ID+"/permissions", "bob", map[string][]string{"view": {"bob"}}, http.StatusOK)
	a.eventually("carol loses the room on node a", func() bool {
		return a.status("GET", "/chat/api/rooms/"+room+"/messages", "carol") == http.StatusForbidden
	})
	b.do("GET", "/api/pages/"+created.ID, "carol", nil, http.StatusNotFound)

	// The transcript is written once, by one node, and both list it.
	a.eventually("one transcript page", func() bool {
		var p struct{ Children []struct{ ID, Title string } }
		b.decode(b.do("GET", "/api/pages/"+created.ID, "bob", nil, http.StatusOK), &p)
		return len(p.Children) == 1 && strings.HasPrefix(p.Children[0].Title, "Cluster Room chat transcript ")
	})
}

// sse is an open event stream.
type sse struct {
	lines chan string
}

type event struct{ name, id, data string }

// stream opens an event stream as user; it is closed at the end of the
// test.
func (wh *wikihost) stream(path, user string) *sse {
	wh.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", wh.base+path, nil)
	if err != nil {
		wh.t.Fatal(err)
	}
	req.SetBasicAuth(user, demoPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		wh.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		wh.t.Fatalf("GET %s: status %d", path, resp.StatusCode)
	}
	s := &sse{lines: make(chan string, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case s.lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	wh.t.Cleanup(func() {
		cancel()
		_ = resp.Body.Close()
		<-done
	})
	return s
}

// next returns the next event called name, failing the test after 20 s.
func (s *sse) next(t *testing.T, name string) event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	var ev event
	for {
		select {
		case line, ok := <-s.lines:
			if !ok {
				t.Fatalf("stream ended before a %s event", name)
			}
			switch {
			case strings.HasPrefix(line, "event:"):
				ev.name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "id:"):
				ev.id = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			case line == "":
				if ev.name == name {
					return ev
				}
				ev = event{}
			}
		case <-timeout:
			t.Fatalf("no %s event within 20 s", name)
		}
	}
}
