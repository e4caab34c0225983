package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openT(t *testing.T, path string) *Bolt {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestDataPersistsAcrossReopen(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wiki.db")
	s := openT(t, path)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

	if err := s.CreateUser(User{ID: "alice", DisplayName: "Alice", PasswordHash: []byte("h"), Admin: true, Created: now}); err != nil {
		t.Fatal(err)
	}
	parent, err := s.CreatePage(Page{Title: "Home", Body: "hello", Format: FormatWiki, Author: "alice", Created: now, Updated: now})
	if err != nil {
		t.Fatal(err)
	}
	child, err := s.CreatePage(Page{Title: "Child", Body: "c", Format: FormatWiki, ParentID: parent.ID, Author: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdatePage(parent.ID, func(p *Page) error {
		p.View, p.Edit = []string{"alice", "bob"}, []string{"alice"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	expires := now.Add(time.Hour)
	if err := s.PutSession("hash1", Session{UserID: "alice", Expires: expires}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddFile(File{ID: "f1", PageID: parent.ID, Name: "a.png", Size: 3, Created: now}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, path)
	defer s.Close()
	u, err := s.User("alice")
	if err != nil || u.DisplayName != "Alice" || !u.Admin || string(u.PasswordHash) != "h" {
		t.Errorf("user after reopen: %+v, %v", u, err)
	}
	p, err := s.Page(parent.ID)
	if err != nil || p.Body != "hello" || !slices.Equal(p.View, []string{"alice", "bob"}) || !slices.Equal(p.Edit, []string{"alice"}) {
		t.Errorf("page after reopen: %+v, %v", p, err)
	}
	if !p.Created.Equal(now) {
		t.Errorf("created %v, want %v", p.Created, now)
	}
	kids, err := s.Children(parent.ID)
	if err != nil || len(kids) != 1 || kids[0].ID != child.ID {
		t.Errorf("children after reopen: %+v, %v", kids, err)
	}
	sess, err := s.Session("hash1")
	if err != nil || sess.UserID != "alice" || !sess.Expires.Equal(expires) {
		t.Errorf("session after reopen: %+v, %v", sess, err)
	}
	files, err := s.Files(parent.ID)
	if err != nil || len(files) != 1 || files[0].Name != "a.png" {
		t.Errorf("files after reopen: %+v, %v", files, err)
	}
	// Ids keep counting: a reopened store never reuses one.
	again, err := s.CreatePage(Page{Title: "Third", Format: FormatWiki})
	if err != nil || again.ID == parent.ID || again.ID == child.ID {
		t.Errorf("new page after reopen: %+v, %v", again, err)
	}
}

func TestTitlesAreNotUnique(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "wiki.db"))
	defer s.Close()
	create := func(title, parent string) Page {
		t.Helper()
		p, err := s.CreatePage(Page{Title: title, ParentID: parent, Format: FormatWiki})
		if err != nil {
			t.Fatalf("create %q: %v", title, err)
		}
		return p
	}
	ids := func(title string) []string {
		t.Helper()
		pages, err := s.PagesByTitle(title)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range pages {
			out = append(out, p.ID)
		}
		return out
	}
	a := create("Team Room", "")
	b := create(" team   ROOM ", a.ID)
	other := create("Other", "")
	// Ids 1..10 and beyond: oldest first even where "10" < "9" as bytes.
	for range 8 {
		create("filler", "")
	}
	c := create("TEAM ROOM", "")
	if got, want := ids("team room"), []string{a.ID, b.ID, c.ID}; !slices.Equal(got, want) {
		t.Errorf("pages titled team room: %v, want %v", got, want)
	}
	if _, err := s.UpdatePage(other.ID, func(p *Page) error { p.Title = "Team room"; return nil }); err != nil {
		t.Errorf("rename onto a title in use: %v", err)
	}
	if _, err := s.UpdatePage(a.ID, func(p *Page) error { p.Title = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, want := ids("TEAM ROOM"), []string{b.ID, other.ID, c.ID}; !slices.Equal(got, want) {
		t.Errorf("after the renames: %v, want %v", got, want)
	}
	if got := ids("renamed"); !slices.Equal(got, []string{a.ID}) {
		t.Errorf("lookup of the new title: %v", got)
	}
	if got := ids("nothing"); got != nil {
		t.Errorf("unknown title: %v", got)
	}
}

func TestUpdatePageKeepsIdentity(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "wiki.db"))
	defer s.Close()
	p, err := s.CreatePage(Page{Title: "A", Format: FormatHTML, ChildKey: "", Body: "x"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.UpdatePage(p.ID, func(q *Page) error {
		q.ID, q.ParentID, q.Format, q.Body = "999", "1", FormatWiki, "y"
		return nil
	})
	if err != nil || got.ID != p.ID || got.ParentID != "" || got.Format != FormatHTML || got.Body != "y" {
		t.Errorf("update changed identity: %+v, %v", got, err)
	}
	boom := errors.New("boom")
	if _, err := s.UpdatePage(p.ID, func(q *Page) error { q.Body = "z"; return boom }); !errors.Is(err, boom) {
		t.Errorf("fn error: %v", err)
	}
	if again, _ := s.Page(p.ID); again.Body != "y" {
		t.Errorf("a failed update changed the body to %q", again.Body)
	}
}

func TestUpsertChild(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "wiki.db"))
	defer s.Close()
	parent, _ := s.CreatePage(Page{Title: "Chat page", Format: FormatWiki})
	other, _ := s.CreatePage(Page{Title: "Other chat page", Format: FormatWiki})
	// Another page already holds the transcript title of a same-named room.
	if _, err := s.CreatePage(Page{Title: "Team chat transcript 2026-01-02", Format: FormatWiki, ParentID: other.ID}); err != nil {
		t.Fatal(err)
	}

	first, created, err := s.UpsertChild(Page{ParentID: parent.ID, ChildKey: "team/2026-01-02", Title: "Team chat transcript 2026-01-02", Body: "<p>1</p>", Format: FormatHTML})
	if err != nil || !created {
		t.Fatalf("first upsert: %+v, %v, %v", first, created, err)
	}
	if first.Title != "Team chat transcript 2026-01-02" {
		t.Errorf("title %q, want the title as given", first.Title)
	}
	second, created, err := s.UpsertChild(Page{ParentID: parent.ID, ChildKey: "team/2026-01-02", Title: "Team chat transcript 2026-01-02", Body: "<p>2</p>", Format: FormatHTML})
	if err != nil || created || second.ID != first.ID || second.Title != first.Title {
		t.Fatalf("second upsert: %+v, %v, %v; want an update of %s", second, created, err, first.ID)
	}
	if p, _ := s.Page(first.ID); p.Body != "<p>2</p>" || p.Format != FormatHTML || p.ChildKey != "team/2026-01-02" {
		t.Errorf("stored child: %+v", p)
	}
	if kids, _ := s.Children(parent.ID); len(kids) != 1 {
		t.Errorf("parent has %d children, want 1", len(kids))
	}
	if _, _, err := s.UpsertChild(Page{ParentID: "404", ChildKey: "k", Title: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown parent: %v", err)
	}
}

func TestChildrenAreInCreationOrder(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "wiki.db"))
	defer s.Close()
	parent, _ := s.CreatePage(Page{Title: "P", Format: FormatWiki})
	var want []string
	for i := range 11 { // ids 2..12: "10" sorts before "2" as bytes
		c, err := s.CreatePage(Page{Title: "C" + string(rune('a'+i)), Format: FormatWiki, ParentID: parent.ID})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, c.ID)
	}
	kids, err := s.Children(parent.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range kids {
		got = append(got, k.ID)
	}
	if !slices.Equal(got, want) {
		t.Errorf("children %v, want %v", got, want)
	}
}

func TestSessionsPurge(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "wiki.db"))
	defer s.Close()
	now := time.Now()
	_ = s.PutSession("old", Session{UserID: "a", Expires: now.Add(-time.Minute)})
	_ = s.PutSession("new", Session{UserID: "a", Expires: now.Add(time.Minute)})
	if n, err := s.PurgeSessions(now); err != nil || n != 1 {
		t.Errorf("purge: %d, %v", n, err)
	}
	if _, err := s.Session("old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired session kept: %v", err)
	}
	if _, err := s.Session("new"); err != nil {
		t.Errorf("live session purged: %v", err)
	}
	if err := s.DeleteSession("new"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session("new"); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleted session still there: %v", err)
	}
}

func TestLockedDatabaseFailsClearly(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wiki.db")
	s := openT(t, path)
	defer s.Close()
	if _, err := Open(path); err == nil {
		t.Fatal("second Open of a locked database succeeded")
	}
}

func TestCachedReadsSeeEveryWrite(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "wiki.db"))
	p, err := s.CreatePage(Page{Title: "Team", Body: "b", Format: FormatWiki, Author: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(User{ID: "bob", DisplayName: "Bob", PasswordHash: []byte("h1")}); err != nil {
		t.Fatal(err)
	}
	// Fill the caches, then scribble on what they handed out.
	got, err := s.PageMeta(p.ID)
	if err != nil || len(got.View) != 0 {
		t.Fatalf("PageMeta = %+v, %v", got, err)
	}
	got.View = append(got.View, "mallory")
	u, err := s.User("bob")
	if err != nil {
		t.Fatal(err)
	}
	u.PasswordHash[0] = 'X'
	if again, _ := s.PageMeta(p.ID); len(again.View) != 0 {
		t.Errorf("a caller's change leaked into the cache: view %v", again.View)
	}
	if again, _ := s.User("bob"); string(again.PasswordHash) != "h1" {
		t.Errorf("a caller's change leaked into the cache: hash %q", again.PasswordHash)
	}

	// A permission change is seen by every read that starts after the
	// write returned, while other readers keep the cache busy.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := s.PageMeta(p.ID); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	for i := 1; i <= 50; i++ {
		if _, err := s.UpdatePage(p.ID, func(pg *Page) error {
			pg.View = append(pg.View, fmt.Sprint("u", i))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if m, _ := s.PageMeta(p.ID); len(m.View) != i {
			t.Fatalf("after write %d the view list has %d entries", i, len(m.View))
		}
	}
	close(stop)
	wg.Wait()
}

// TestOpenMigratesOldTitleIndex opens a database as earlier versions left
// it, where the title index ("titles") mapped each title to one page and,
// in the oldest, also held the titles of the chat plugin's keyed pages.
// The first open builds the new index from the pages: every page people
// wrote is found by its title, keyed pages are not, any title can be taken
// again, and the old index is gone.
func TestOpenMigratesOldTitleIndex(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wiki.db")
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := []Page{
		{ID: "1", Title: "Chat page", Format: FormatWiki, Author: "bob"},
		{ID: "2", Title: "Team chat transcript 2026-01-02", Format: FormatHTML, ParentID: "1", ChildKey: "team/2026-01-02"},
		{ID: "10", Title: "Notes", Format: FormatWiki, ParentID: "1", Author: "bob"},
	}
	err = db.Update(func(tx *bolt.Tx) error {
		buckets := map[string]*bolt.Bucket{}
		for _, name := range []string{"users", "sessions", "pages", "bodies", "titles", "children", "childkeys", "files", "pagefiles", "meta"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			buckets[name] = b
		}
		for _, p := range old {
			raw, err := json.Marshal(p)
			if err != nil {
				return err
			}
			if err := errors.Join(
				buckets["pages"].Put([]byte(p.ID), raw),
				buckets["bodies"].Put([]byte(p.ID), []byte("body of "+p.ID)),
				buckets["titles"].Put([]byte(TitleKey(p.Title)), []byte(p.ID)),
				buckets["children"].Put(pair(p.ParentID, p.ID), nil),
			); err != nil {
				return err
			}
			if p.ChildKey != "" {
				if err := buckets["childkeys"].Put(pair(p.ParentID, p.ChildKey), []byte(p.ID)); err != nil {
					return err
				}
			}
		}
		if _, err := buckets["pages"].NextSequence(); err != nil {
			return err
		}
		return buckets["pages"].SetSequence(10)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	for round := range 2 { // the second open finds the migration done
		s := openT(t, path)
		titled := func(title string) []string {
			t.Helper()
			pages, err := s.PagesByTitle(title)
			if errors.Is(err, ErrNotFound) {
				return nil
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, p := range pages {
				ids = append(ids, p.ID)
			}
			return ids
		}
		if round == 0 {
			if got := titled("chat PAGE"); !slices.Equal(got, []string{"1"}) {
				t.Errorf("people's page after the upgrade: %v", got)
			}
			if got := titled("notes"); !slices.Equal(got, []string{"10"}) {
				t.Errorf("people's page after the upgrade: %v", got)
			}
			if got := titled(old[1].Title); got != nil {
				t.Errorf("the transcript is found by title: %v", got)
			}
			// Taken titles, a transcript's included, can be taken again.
			p, err := s.CreatePage(Page{Title: old[1].Title, Format: FormatWiki})
			if err != nil || p.ID != "11" {
				t.Errorf("creating the transcript's title: %+v, %v", p, err)
			}
			if _, err := s.CreatePage(Page{Title: "Chat page", Format: FormatWiki}); err != nil {
				t.Errorf("creating a title a page people wrote holds: %v", err)
			}
			if _, err := s.UpdatePage("10", func(p *Page) error { p.Title = "Chat page"; return nil }); err != nil {
				t.Errorf("renaming onto a title in use: %v", err)
			}
			// The plugin still finds its transcript by key.
			tr, created, err := s.UpsertChild(Page{ParentID: "1", ChildKey: "team/2026-01-02", Title: old[1].Title, Body: "new", Format: FormatHTML})
			if err != nil || created || tr.ID != "2" {
				t.Errorf("transcript by key: %+v created=%v, %v", tr, created, err)
			}
		}
		if got := titled("chat page"); !slices.Equal(got, []string{"1", "10", "12"}) {
			t.Errorf("round %d: pages titled chat page: %v", round, got)
		}
		if got := titled(old[1].Title); !slices.Equal(got, []string{"11"}) {
			t.Errorf("round %d: pages titled as the transcript: %v", round, got)
		}
		err := s.db.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketOldTitles) != nil {
				return errors.New("the old title index is still there")
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCachedSessionsEndAtLogout: sessions are cached, so a logout (and a
// purge) must still be seen by the very next read, while other readers
// keep the cache busy.
func TestCachedSessionsEndAtLogout(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "wiki.db"))
	later := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, _ = s.Session("busy")
			}
		})
	}
	if err := s.PutSession("busy", Session{UserID: "carol", Expires: later}); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		tok := fmt.Sprint("t", i)
		if err := s.PutSession(tok, Session{UserID: "bob", Expires: later}); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Session(tok); err != nil || got.UserID != "bob" {
			t.Fatalf("session %d after login: %+v, %v", i, got, err)
		}
		if err := s.DeleteSession(tok); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Session(tok); !errors.Is(err, ErrNotFound) {
			t.Fatalf("session %d after logout: %+v, %v; want ErrNotFound", i, got, err)
		}
	}
	if err := s.PutSession("old", Session{UserID: "bob", Expires: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session("old"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PurgeSessions(time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session("old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("purged session still read: %v", err)
	}
	close(stop)
	wg.Wait()
}
