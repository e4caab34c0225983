package wiki

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
	"github.com/pagechat/pagechat/internal/testutil"
	"github.com/pagechat/pagechat/internal/testutil/pgtest"
)

// twoNodes starts two wiki nodes on one new database and one shared data
// directory at the same moment, as a cluster starts, seeding the demo on
// both.
func twoNodes(t *testing.T) (a, b *Wiki) {
	t.Helper()
	dsn, dir := pgtest.DSN(t), t.TempDir()
	nodes := make([]*Wiki, 2)
	demo := make([]string, 2)
	var wg sync.WaitGroup
	for i := range nodes {
		wg.Go(func() {
			w, err := Open(dir, Options{PasswordCost: bcrypt.MinCost, PostgresDSN: dsn})
			if err != nil {
				t.Errorf("node %d: Open: %v", i, err)
				return
			}
			t.Cleanup(func() { _ = w.Close() })
			nodes[i] = w
			if demo[i], err = w.SeedDemo(testPassword); err != nil {
				t.Errorf("node %d: SeedDemo: %v", i, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if demo[0] != demo[1] || demo[0] == "" {
		t.Fatalf("the nodes seeded demo pages %q and %q, want one", demo[0], demo[1])
	}
	if kids, _ := nodes[0].Children("alice", ""); len(kids) != 1 {
		t.Errorf("%d top-level pages after seeding both nodes, want the one demo page", len(kids))
	}
	return nodes[0], nodes[1]
}

func TestClusterNodesSeeOneAnothersWrites(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	// A node cannot see the other's writes move a version, so open
	// streams must be re-checked every round.
	if _, ok := a.Host().PermissionVersion(); ok {
		t.Error("a clustered wiki claims a permission version")
	}

	// A page created on a is read, with its parent, on b.
	parent, err := a.CreatePage("alice", PageInput{Title: "Plans", Body: "top"})
	if err != nil {
		t.Fatal(err)
	}
	child, err := a.CreatePage("bob", PageInput{Title: "Launch plan", Body: "the launch is on Friday", ParentID: parent.ID})
	if err != nil {
		t.Fatal(err)
	}
	if p, err := b.Page("carol", child.ID); err != nil || p.Body != "the launch is on Friday" || p.ParentID != parent.ID {
		t.Fatalf("node b reads %+v, %v", p, err)
	}
	if kids, err := b.Children("carol", parent.ID); err != nil || len(kids) != 1 || kids[0].ID != child.ID {
		t.Errorf("node b lists children %+v, %v", kids, err)
	}
	// Titles are not unique: a page of the same title on node b, and a
	// link from the parent resolves to its own child on either node.
	same, err := b.CreatePage("carol", PageInput{Title: "launch  PLAN"})
	if err != nil {
		t.Fatalf("node b refused a title in use on node a: %v", err)
	}
	for _, node := range []*Wiki{a, b} {
		if p, err := node.PageByTitle("carol", parent.ID, "Launch plan"); err != nil || p.ID != child.ID {
			t.Errorf("link from the parent resolves to %+v, %v; want the child %s", p, err, child.ID)
		}
		if p, err := node.PageByTitle("carol", same.ID, "Launch plan"); err != nil || p.ID != same.ID {
			t.Errorf("link from a top-level page resolves to %+v, %v; want the top-level %s", p, err, same.ID)
		}
	}

	// A permission change on a holds on b as soon as its notification
	// arrives (well before b's cached rows would expire, after 5 s), for
	// the page and the pages under it (the chat plugin on b asks b).
	if _, err := a.SetPermissions("alice", parent.ID, []string{"alice", "bob"}, nil); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Second, func() bool {
		ok, err := b.Host().CheckPermission(context.Background(), "carol", child.ID, hostsdk.PermissionView)
		return err == nil && !ok
	}, "carol to lose view of the child on node b")
	if ok, _ := b.CanView("bob", child.ID); !ok {
		t.Error("bob lost view permission on node b")
	}

	// A session started on a is valid on b, and a log-out on b ends it on a.
	token, _, err := a.NewSession("bob")
	if err != nil {
		t.Fatal(err)
	}
	if u, err := b.SessionUser(token); err != nil || u.ID != "bob" {
		t.Errorf("node b does not know node a's session: %+v, %v", u, err)
	}
	if err := b.EndSession(token); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Second, func() bool {
		_, err := a.SessionUser(token)
		return err != nil
	}, "a session ended on node b to end on node a")
	if _, err := b.Authenticate("carol", testPassword); err != nil {
		t.Errorf("a demo user seeded by either node cannot log in on node b: %v", err)
	}

	// A transcript the plugin on a writes is found on b, by key and by
	// search, as the plugin's.
	h := a.Host()
	tp, err := h.UpsertChildPage(context.Background(), hostsdk.ChildPage{ParentID: child.ID, Key: "room/2026-01-02", Title: "Room transcript", BodyHTML: "<p>we chose <b>Friday</b> for the countdown</p>"})
	if err != nil {
		t.Fatal(err)
	}
	again, err := b.Host().UpsertChildPage(context.Background(), hostsdk.ChildPage{ParentID: child.ID, Key: "room/2026-01-02", Title: "Room transcript", BodyHTML: "<p>countdown moved to Saturday</p>"})
	if err != nil || again.ID != tp.ID {
		t.Errorf("node b's upsert of the same key: %+v, %v; want page %s", again, err, tp.ID)
	}
	hits, err := b.Search(context.Background(), "bob", "countdown saturday", 10)
	if err != nil || len(hits) != 1 || hits[0].ID != tp.ID || !hits[0].Chat || !strings.Contains(string(hits[0].SnippetHTML), "<mark>") {
		t.Errorf("node b's search for node a's transcript: %+v, %v", hits, err)
	}
	if hits, err := b.Search(context.Background(), "carol", "countdown", 10); err != nil || len(hits) != 0 {
		t.Errorf("carol, who may not view the page, finds %+v, %v", hits, err)
	}
}

// TestClusterAttachmentsAreShared: a file attached through one node is
// served by the other, from the shared directory.
func TestClusterAttachmentsAreShared(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	p, err := a.CreatePage("alice", PageInput{Title: "Files"})
	if err != nil {
		t.Fatal(err)
	}
	const content = "shared bytes"
	var wg sync.WaitGroup
	ids := make([]string, 4)
	for i := range ids {
		node := []*Wiki{a, b}[i%2]
		wg.Go(func() {
			att, err := node.Host().AttachFile(context.Background(), hostsdk.FileInfo{PageID: p.ID, UserID: "bob", Name: "n.txt", ContentType: "text/plain", Size: int64(len(content))}, strings.NewReader(content))
			if err != nil {
				t.Error(err)
				return
			}
			ids[i] = att.ID
		})
	}
	wg.Wait()
	for i, id := range ids {
		node := []*Wiki{b, a}[i%2] // the other node
		f, r, err := node.OpenFile("carol", id)
		if err != nil {
			t.Errorf("file %d: %v", i, err)
			continue
		}
		got, _ := io.ReadAll(r)
		_ = r.Close()
		if string(got) != content || f.PageID != p.ID {
			t.Errorf("file %d read back as %q on page %s", i, got, f.PageID)
		}
	}
	if files, err := b.Files("carol", p.ID); err != nil || len(files) != len(ids) {
		t.Errorf("node b lists %d files, %v; want %d", len(files), err, len(ids))
	}
}
