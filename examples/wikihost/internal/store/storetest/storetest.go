// Package storetest is the behaviour every implementation of the wiki's
// store.Store must show, as one test suite: Run it from each
// implementation's tests (bbolt in package store, PostgreSQL in package
// pgstore), so the wiki works the same on either.
package storetest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// Open returns a new, empty store for one test; the suite closes it.
type Open func(t *testing.T) store.Store

// Run runs the suite against the stores open returns. Its subtests run in
// parallel, each on a store of its own.
func Run(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"users are created once and read back whole", testUsers},
		{"sessions are stored, replaced, deleted and purged when expired", testSessions},
		{"settings are stored and empty until set", testMeta},
		{"pages keep every field and get fresh decimal ids", testPageFields},
		{"a page under a missing parent is refused", testMissingParent},
		{"unknown ids are not found", testUnknownIDs},
		{"titles are not unique and are found ignoring case and space", testTitles},
		{"keyed pages are never found by title and take none", testKeyedPagesTakeNoTitle},
		{"an update keeps the page's identity and a failed one changes nothing", testUpdateKeepsIdentity},
		{"upserting a child by key updates the same page", testUpsertChild},
		{"children are listed oldest first", testChildrenOrder},
		{"every page is visited with its body", testEachPage},
		{"files are listed per page, oldest first", testFiles},
		{"concurrent writers get distinct ids and lose nothing", testConcurrentCreates},
		{"exclusive calls run one at a time", testExclusive},
		{"notifications are kept once per source, newest first, and marked read", testNotifications},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// now is a time every store keeps exactly: PostgreSQL keeps microseconds.
var now = time.Date(2026, 1, 2, 3, 4, 5, 123456000, time.UTC)

func mustPage(t *testing.T, s store.Store, p store.Page) store.Page {
	t.Helper()
	got, err := s.CreatePage(p)
	if err != nil {
		t.Fatalf("CreatePage(%q): %v", p.Title, err)
	}
	return got
}

func testUsers(t *testing.T, s store.Store) {
	u := store.User{ID: "alice", DisplayName: "Alice", PasswordHash: []byte{0, 1, 2, 255}, Admin: true, Created: now}
	if err := s.CreateUser(u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(store.User{ID: "alice", DisplayName: "Other"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second alice: %v, want ErrExists", err)
	}
	got, err := s.User("alice")
	if err != nil || got.DisplayName != "Alice" || !got.Admin || !slices.Equal(got.PasswordHash, u.PasswordHash) || !got.Created.Equal(now) {
		t.Errorf("User(alice) = %+v, %v", got, err)
	}
	got.PasswordHash[0] = 'X' // a caller's change stays its own
	if again, _ := s.User("alice"); again.PasswordHash[0] != 0 {
		t.Errorf("a caller's change reached the store: %v", again.PasswordHash)
	}
	if _, err := s.User("bob"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("User(bob): %v, want ErrNotFound", err)
	}
}

func testSessions(t *testing.T, s store.Store) {
	base := time.Now().UTC().Truncate(time.Microsecond)
	if err := s.PutSession("old", store.Session{UserID: "a", Expires: base.Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSession("new", store.Session{UserID: "a", Expires: base.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSession("new", store.Session{UserID: "b", Expires: base.Add(time.Hour)}); err != nil {
		t.Fatalf("replacing a session: %v", err)
	}
	if got, err := s.Session("new"); err != nil || got.UserID != "b" || !got.Expires.Equal(base.Add(time.Hour)) {
		t.Errorf("replaced session = %+v, %v", got, err)
	}
	if got, err := s.Session("old"); err != nil || got.UserID != "a" {
		t.Errorf("an expired session is still returned until purged: %+v, %v", got, err)
	}
	if n, err := s.PurgeSessions(base); err != nil || n != 1 {
		t.Errorf("PurgeSessions = %d, %v; want 1", n, err)
	}
	if _, err := s.Session("old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("expired session kept: %v", err)
	}
	if err := s.DeleteSession("new"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session("new"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted session still there: %v", err)
	}
	if err := s.DeleteSession("never"); err != nil {
		t.Errorf("deleting a missing session: %v", err)
	}
}

func testMeta(t *testing.T, s store.Store) {
	if v, err := s.Meta("demo_page"); err != nil || v != "" {
		t.Errorf("unset setting = %q, %v", v, err)
	}
	for _, v := range []string{"1", "42"} {
		if err := s.SetMeta("demo_page", v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Meta("demo_page"); err != nil || got != v {
			t.Errorf("Meta = %q, %v; want %q", got, err, v)
		}
	}
}

func testPageFields(t *testing.T, s store.Store) {
	parent := mustPage(t, s, store.Page{Title: "Home", Body: "hello\n{chat:Team}", Format: store.FormatWiki, Author: "alice", Created: now, Updated: now.Add(time.Second), View: []string{"alice", "bob"}, Edit: []string{"alice"}})
	child := mustPage(t, s, store.Page{Title: "Child", Body: "c", Format: store.FormatWiki, ParentID: parent.ID, Author: "bob", Created: now, Updated: now})
	if parent.ID == "" || child.ID == parent.ID {
		t.Fatalf("ids %q and %q", parent.ID, child.ID)
	}
	for _, id := range []string{parent.ID, child.ID} {
		var n uint64
		if _, err := fmt.Sscan(id, &n); err != nil || fmt.Sprint(n) != id {
			t.Errorf("id %q is not a decimal number", id)
		}
	}
	p, err := s.Page(parent.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Page{ID: parent.ID, Title: "Home", Format: store.FormatWiki, Author: "alice", Body: "hello\n{chat:Team}", View: []string{"alice", "bob"}, Edit: []string{"alice"}}
	if p.ID != want.ID || p.Title != want.Title || p.Format != want.Format || p.Author != want.Author || p.Body != want.Body ||
		!slices.Equal(p.View, want.View) || !slices.Equal(p.Edit, want.Edit) || p.ParentID != "" || p.ChildKey != "" ||
		!p.Created.Equal(now) || !p.Updated.Equal(now.Add(time.Second)) {
		t.Errorf("Page = %+v, want %+v with created %v", p, want, now)
	}
	m, err := s.PageMeta(parent.ID)
	if err != nil || m.Body != "" || m.Title != "Home" || !slices.Equal(m.View, want.View) {
		t.Errorf("PageMeta = %+v, %v; want no body", m, err)
	}
	m.View[0] = "mallory" // a caller's change stays its own
	if again, _ := s.PageMeta(parent.ID); again.View[0] != "alice" {
		t.Errorf("a caller's change reached the store: %v", again.View)
	}
	c, err := s.PageMeta(child.ID)
	if err != nil || c.ParentID != parent.ID {
		t.Errorf("child = %+v, %v; want parent %s", c, err, parent.ID)
	}
	if p, err := s.Page(mustPage(t, s, store.Page{Title: "Empty", Format: store.FormatWiki}).ID); err != nil || p.Body != "" || len(p.View) != 0 {
		t.Errorf("empty page = %+v, %v", p, err)
	}
}

func testMissingParent(t *testing.T, s store.Store) {
	for _, parent := range []string{"404", "x", "-1"} {
		if _, err := s.CreatePage(store.Page{Title: "Orphan " + parent, Format: store.FormatWiki, ParentID: parent}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("parent %q: %v, want ErrNotFound", parent, err)
		}
	}
	if kids, err := s.Children(""); err != nil || len(kids) != 0 {
		t.Errorf("a refused page was stored: %+v, %v", kids, err)
	}
}

func testUnknownIDs(t *testing.T, s store.Store) {
	mustPage(t, s, store.Page{Title: "One", Format: store.FormatWiki})
	for _, id := range []string{"2", "0", "abc", "", "1 ", "99999999999999999999999"} {
		if _, err := s.Page(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Page(%q): %v", id, err)
		}
		if _, err := s.PageMeta(id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("PageMeta(%q): %v", id, err)
		}
		if _, err := s.UpdatePage(id, func(*store.Page) error { return nil }); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdatePage(%q): %v", id, err)
		}
		if err := s.AddFile(store.File{ID: "f" + id, PageID: id}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("AddFile on page %q: %v", id, err)
		}
	}
	if _, err := s.File("nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("File(nope): %v", err)
	}
	if kids, err := s.Children("abc"); err != nil || len(kids) != 0 {
		t.Errorf("Children(abc) = %+v, %v", kids, err)
	}
}

// titled returns the ids of the pages PagesByTitle finds for title, in
// its order; nil for none.
func titled(t *testing.T, s store.Store, title string) []string {
	t.Helper()
	pages, err := s.PagesByTitle(title)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		t.Fatalf("PagesByTitle(%q): %v", title, err)
	}
	if len(pages) == 0 {
		t.Errorf("PagesByTitle(%q) found no page and no error; want ErrNotFound", title)
	}
	var out []string
	for _, p := range pages {
		if p.Body != "" {
			t.Errorf("PagesByTitle lists page %s with its body", p.ID)
		}
		out = append(out, p.ID)
	}
	return out
}

func testTitles(t *testing.T, s store.Store) {
	a := mustPage(t, s, store.Page{Title: "Team Room", Format: store.FormatWiki, Body: "a"})
	b := mustPage(t, s, store.Page{Title: " team   ROOM ", Format: store.FormatWiki, ParentID: a.ID})
	other := mustPage(t, s, store.Page{Title: "Other", Format: store.FormatWiki})
	for range 8 { // ids past 9: oldest first even where "10" < "9" as bytes
		mustPage(t, s, store.Page{Title: "filler", Format: store.FormatWiki})
	}
	c := mustPage(t, s, store.Page{Title: "TEAM ROOM", Format: store.FormatWiki})
	if got, want := titled(t, s, "team room"), []string{a.ID, b.ID, c.ID}; !slices.Equal(got, want) {
		t.Errorf("pages titled team room: %v, want %v (titles are not unique; oldest first)", got, want)
	}
	if _, err := s.UpdatePage(other.ID, func(p *store.Page) error { p.Title = "Team room"; return nil }); err != nil {
		t.Errorf("rename onto a title in use: %v", err)
	}
	if _, err := s.UpdatePage(a.ID, func(p *store.Page) error { p.Title = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, want := titled(t, s, "TEAM ROOM"), []string{b.ID, other.ID, c.ID}; !slices.Equal(got, want) {
		t.Errorf("after the renames: %v, want %v", got, want)
	}
	if got := titled(t, s, "renamed"); !slices.Equal(got, []string{a.ID}) {
		t.Errorf("lookup of the new title: %v", got)
	}
	if got := titled(t, s, "nothing"); got != nil {
		t.Errorf("unknown title: %v", got)
	}
	if _, err := s.UpdatePage(b.ID, func(p *store.Page) error { p.Title = "team room"; return nil }); err != nil {
		t.Errorf("changing the case of a page's own title: %v", err)
	}
	if got := titled(t, s, "Team Room"); !slices.Contains(got, b.ID) || len(got) != 3 {
		t.Errorf("after a change of case: %v", got)
	}
}

func testKeyedPagesTakeNoTitle(t *testing.T, s store.Store) {
	parent := mustPage(t, s, store.Page{Title: "Chat page", Format: store.FormatWiki})
	child, created, err := s.UpsertChild(store.Page{ParentID: parent.ID, ChildKey: "team/2026-01-02", Title: "Team transcript", Body: "<p>x</p>", Format: store.FormatHTML})
	if err != nil || !created {
		t.Fatalf("UpsertChild: %v, %v", created, err)
	}
	if got := titled(t, s, "Team transcript"); got != nil {
		t.Errorf("a keyed page was found by title: %v", got)
	}
	p := mustPage(t, s, store.Page{Title: "team  TRANSCRIPT", Format: store.FormatWiki})
	if got := titled(t, s, "Team transcript"); !slices.Equal(got, []string{p.ID}) {
		t.Errorf("PagesByTitle = %v; want only the person's page %s", got, p.ID)
	}
	// Renaming a keyed page by upsert keeps it out of the title index.
	if _, _, err := s.UpsertChild(store.Page{ParentID: parent.ID, ChildKey: "team/2026-01-02", Title: "Renamed transcript", Format: store.FormatHTML}); err != nil {
		t.Fatal(err)
	}
	if got := titled(t, s, "Renamed transcript"); got != nil {
		t.Errorf("a renamed keyed page was found by title: %v", got)
	}
	// A second transcript with the same key under another parent.
	other := mustPage(t, s, store.Page{Title: "Other chat page", Format: store.FormatWiki})
	if _, _, err := s.UpsertChild(store.Page{ParentID: other.ID, ChildKey: "team/2026-01-02", Title: "Team transcript", Format: store.FormatHTML}); err != nil {
		t.Errorf("same key and title under another parent: %v", err)
	}
	if got, _ := s.Page(child.ID); got.Title != "Renamed transcript" {
		t.Errorf("the first transcript: %+v", got)
	}
}

func testUpdateKeepsIdentity(t *testing.T, s store.Store) {
	parent := mustPage(t, s, store.Page{Title: "P", Format: store.FormatWiki})
	p := mustPage(t, s, store.Page{Title: "A", Format: store.FormatHTML, Body: "x", ParentID: parent.ID, Author: "alice", Created: now})
	later := now.Add(time.Hour)
	got, err := s.UpdatePage(p.ID, func(q *store.Page) error {
		if q.Body != "x" {
			t.Errorf("fn sees body %q, want the stored one", q.Body)
		}
		q.ID, q.ParentID, q.Format, q.ChildKey = "999", "", store.FormatWiki, "k"
		q.Body, q.Updated, q.View, q.Edit = "y", later, []string{"bob"}, []string{"carol"}
		return nil
	})
	if err != nil || got.ID != p.ID || got.ParentID != parent.ID || got.Format != store.FormatHTML || got.ChildKey != "" || got.Body != "y" {
		t.Errorf("update changed identity: %+v, %v", got, err)
	}
	stored, _ := s.Page(p.ID)
	if stored.Body != "y" || !stored.Updated.Equal(later) || !stored.Created.Equal(now) || stored.Author != "alice" ||
		!slices.Equal(stored.View, []string{"bob"}) || !slices.Equal(stored.Edit, []string{"carol"}) || stored.ParentID != parent.ID {
		t.Errorf("stored after update: %+v", stored)
	}
	boom := errors.New("boom")
	if _, err := s.UpdatePage(p.ID, func(q *store.Page) error { q.Body = "z"; return boom }); !errors.Is(err, boom) {
		t.Errorf("fn error: %v", err)
	}
	if again, _ := s.Page(p.ID); again.Body != "y" {
		t.Errorf("a failed update changed the body to %q", again.Body)
	}
}

func testUpsertChild(t *testing.T, s store.Store) {
	parent := mustPage(t, s, store.Page{Title: "Chat page", Format: store.FormatWiki, View: []string{"alice"}})
	first, created, err := s.UpsertChild(store.Page{ParentID: parent.ID, ChildKey: "team/2026-01-02", Title: "Team chat transcript 2026-01-02", Body: "<p>1</p>", Format: store.FormatHTML, Author: "pagechat", Created: now, Updated: now})
	if err != nil || !created {
		t.Fatalf("first upsert: %+v, %v, %v", first, created, err)
	}
	later := now.Add(time.Minute)
	second, created, err := s.UpsertChild(store.Page{ParentID: parent.ID, ChildKey: "team/2026-01-02", Title: "Renamed transcript", Body: "<p>2</p>", Format: store.FormatHTML, Author: "someone", Updated: later, View: []string{"mallory"}})
	if err != nil || created || second.ID != first.ID || second.Title != "Renamed transcript" {
		t.Fatalf("second upsert: %+v, %v, %v; want an update of %s", second, created, err, first.ID)
	}
	p, _ := s.Page(first.ID)
	if p.Body != "<p>2</p>" || p.Format != store.FormatHTML || p.ChildKey != "team/2026-01-02" || p.Author != "pagechat" ||
		!p.Created.Equal(now) || !p.Updated.Equal(later) || len(p.View) != 0 || p.ParentID != parent.ID {
		t.Errorf("stored child: %+v", p)
	}
	if kids, _ := s.Children(parent.ID); len(kids) != 1 || kids[0].ID != first.ID || kids[0].ChildKey != "team/2026-01-02" {
		t.Errorf("children = %+v, want the one transcript", kids)
	}
	if _, _, err := s.UpsertChild(store.Page{ParentID: "404", ChildKey: "k", Title: "x"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown parent: %v", err)
	}
	if _, _, err := s.UpsertChild(store.Page{ParentID: parent.ID, Title: "no key"}); err == nil {
		t.Error("a child without a key was stored")
	}
}

func testChildrenOrder(t *testing.T, s store.Store) {
	parent := mustPage(t, s, store.Page{Title: "P", Format: store.FormatWiki})
	var want []string
	for i := range 11 { // ids 2..12: "10" sorts before "2" as bytes
		c := mustPage(t, s, store.Page{Title: "C" + string(rune('a'+i)), Format: store.FormatWiki, ParentID: parent.ID, Body: "body"})
		want = append(want, c.ID)
	}
	kids, err := s.Children(parent.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range kids {
		got = append(got, k.ID)
		if k.Body != "" {
			t.Errorf("child %s listed with its body", k.ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("children %v, want %v", got, want)
	}
	top, err := s.Children("")
	if err != nil || len(top) != 1 || top[0].ID != parent.ID {
		t.Errorf("top-level pages = %+v, %v", top, err)
	}
}

func testEachPage(t *testing.T, s store.Store) {
	want := map[string]string{}
	for i := range 5 {
		p := mustPage(t, s, store.Page{Title: fmt.Sprint("Page ", i), Body: fmt.Sprint("body ", i), Format: store.FormatWiki})
		want[p.ID] = p.Body
	}
	got := map[string]string{}
	if err := s.EachPage(func(p store.Page) error { got[p.ID] = p.Body; return nil }); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("EachPage saw %v, want %v", got, want)
	}
	stop := errors.New("stop")
	n := 0
	if err := s.EachPage(func(store.Page) error { n++; return stop }); !errors.Is(err, stop) || n != 1 {
		t.Errorf("an error from fn: %v after %d pages; want it returned at once", err, n)
	}
}

func testFiles(t *testing.T, s store.Store) {
	a := mustPage(t, s, store.Page{Title: "A", Format: store.FormatWiki})
	b := mustPage(t, s, store.Page{Title: "B", Format: store.FormatWiki})
	files := []store.File{
		{ID: "ff", PageID: a.ID, UserID: "alice", Name: "late.png", ContentType: "image/png", Size: 3, Created: now.Add(2 * time.Second)},
		{ID: "aa", PageID: a.ID, UserID: "bob", Name: "early.txt", ContentType: "text/plain", Size: 1 << 40, Created: now},
		{ID: "bb", PageID: b.ID, UserID: "bob", Name: "other.pdf", ContentType: "application/pdf", Size: 0, Created: now.Add(time.Second)},
	}
	for _, f := range files {
		if err := s.AddFile(f); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Files(a.ID)
	if err != nil || len(got) != 2 || got[0] != files[1] || got[1] != files[0] {
		t.Errorf("Files(a) = %+v, %v", got, err)
	}
	if f, err := s.File("bb"); err != nil || f != files[2] {
		t.Errorf("File(bb) = %+v, %v", f, err)
	}
	if none, err := s.Files(mustPage(t, s, store.Page{Title: "C", Format: store.FormatWiki}).ID); err != nil || len(none) != 0 {
		t.Errorf("Files of a page without files = %+v, %v", none, err)
	}

	// A deleted chat upload leaves its page; a file of another page, or
	// one already gone, is not found and nothing changes.
	if err := s.DeleteFile(a.ID, "bb"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteFile of another page's file = %v, want ErrNotFound", err)
	}
	if err := s.DeleteFile(a.ID, "ff"); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	if err := s.DeleteFile(a.ID, "ff"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second DeleteFile = %v, want ErrNotFound", err)
	}
	if _, err := s.File("ff"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("File(ff) after delete = %v, want ErrNotFound", err)
	}
	if got, err := s.Files(a.ID); err != nil || len(got) != 1 || got[0] != files[1] {
		t.Errorf("Files(a) after delete = %+v, %v", got, err)
	}
	if f, err := s.File("bb"); err != nil || f != files[2] {
		t.Errorf("File(bb) after deleting another = %+v, %v", f, err)
	}
}

func testConcurrentCreates(t *testing.T, s store.Store) {
	parent := mustPage(t, s, store.Page{Title: "P", Format: store.FormatWiki})
	const writers, each = 4, 10
	var mu sync.Mutex
	ids := map[string]bool{}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				p, err := s.CreatePage(store.Page{Title: fmt.Sprintf("W%d-%d", w, i), Format: store.FormatWiki, ParentID: parent.ID})
				if err != nil {
					t.Error(err)
					return
				}
				if _, _, err := s.UpsertChild(store.Page{ParentID: parent.ID, ChildKey: "shared", Title: "T", Format: store.FormatHTML}); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids[p.ID] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	kids, err := s.Children(parent.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != writers*each || len(kids) != writers*each+1 {
		t.Errorf("%d distinct ids and %d children; want %d and %d (one shared keyed page)", len(ids), len(kids), writers*each, writers*each+1)
	}
}

func testExclusive(t *testing.T, s store.Store) {
	var inside, most int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			err := s.Exclusive(func() error {
				mu.Lock()
				inside++
				most = max(most, inside)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond) // give another caller the chance to overlap
				if _, err := s.Meta("x"); err != nil {
					return err
				}
				mu.Lock()
				inside--
				mu.Unlock()
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if most != 1 {
		t.Errorf("%d exclusive calls ran at once", most)
	}
	boom := errors.New("boom")
	if err := s.Exclusive(func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("Exclusive returned %v, want fn's error", err)
	}
}

func testNotifications(t *testing.T, s store.Store) {
	add := func(user, source, subject string) bool {
		t.Helper()
		added, err := s.AddNotification(user, store.Notification{Source: source, Subject: subject, Body: "b", URL: "/chat/rooms/1.r#m-1", Created: now})
		if err != nil {
			t.Fatalf("AddNotification(%s, %s): %v", user, source, err)
		}
		return added
	}
	if !add("bob", "m1", "first") || !add("bob", "m2", "second") || !add("carol", "m1", "carol's") {
		t.Fatal("a new notification was not added")
	}
	if add("bob", "m1", "again") {
		t.Error("a notification delivered twice (same source) was added again")
	}
	items, unread, err := s.Notifications("bob", 10)
	if err != nil || unread != 2 || len(items) != 2 || items[0].Subject != "second" || items[1].Subject != "first" {
		t.Fatalf("Notifications(bob) = %+v, %d, %v; want second, first and 2 unread", items, unread, err)
	}
	if items[0].ID == items[1].ID || items[0].ID == "" || !items[0].Created.Equal(now) || items[0].URL != "/chat/rooms/1.r#m-1" {
		t.Errorf("notification fields = %+v", items)
	}
	if err := s.MarkNotificationsRead("bob", []string{items[1].ID, "nonsense"}, false); err != nil {
		t.Fatal(err)
	}
	if got, unread, _ := s.Notifications("bob", 1); unread != 1 || len(got) != 1 || got[0].Read {
		t.Errorf("after marking the first read: %+v, %d unread", got, unread)
	}
	if _, unread, _ := s.Notifications("carol", 10); unread != 1 {
		t.Errorf("marking bob's read changed carol's: %d unread", unread)
	}
	if err := s.MarkNotificationsRead("bob", nil, true); err != nil {
		t.Fatal(err)
	}
	if _, unread, _ := s.Notifications("bob", 10); unread != 0 {
		t.Errorf("after marking all read: %d unread", unread)
	}

	// A user keeps the newest MaxNotificationsPerUser.
	for i := range store.MaxNotificationsPerUser + 2 {
		add("dave", fmt.Sprintf("d%d", i), fmt.Sprintf("n%d", i))
	}
	all, unread, err := s.Notifications("dave", store.MaxNotificationsPerUser+10)
	if err != nil || len(all) != store.MaxNotificationsPerUser || unread != store.MaxNotificationsPerUser {
		t.Fatalf("dave keeps %d (%d unread), %v; want %d", len(all), unread, err, store.MaxNotificationsPerUser)
	}
	if newest := fmt.Sprintf("n%d", store.MaxNotificationsPerUser+1); all[0].Subject != newest || all[len(all)-1].Subject != "n2" {
		t.Errorf("kept %s … %s, want %s … n2", all[0].Subject, all[len(all)-1].Subject, newest)
	}

	var users []string
	for _, u := range []string{"zed", "amy"} {
		if err := s.CreateUser(store.User{ID: u, DisplayName: u, PasswordHash: []byte("x"), Created: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.EachUser(func(u store.User) error { users = append(users, u.ID); return nil }); err != nil || !slices.IsSorted(users) || len(users) < 2 {
		t.Errorf("EachUser = %v, %v; want every user in id order", users, err)
	}
}
