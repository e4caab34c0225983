package store

import (
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

func TestTitlesAreUniqueIgnoringCaseAndSpace(t *testing.T) {
	t.Parallel()
	s := openT(t, filepath.Join(t.TempDir(), "wiki.db"))
	defer s.Close()
	a, err := s.CreatePage(Page{Title: "Team Room", Format: FormatWiki})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePage(Page{Title: " team   ROOM ", Format: FormatWiki}); !errors.Is(err, ErrTitleTaken) {
		t.Errorf("duplicate title: %v, want ErrTitleTaken", err)
	}
	b, err := s.CreatePage(Page{Title: "Other", Format: FormatWiki})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdatePage(b.ID, func(p *Page) error { p.Title = "TEAM ROOM"; return nil }); !errors.Is(err, ErrTitleTaken) {
		t.Errorf("rename onto a taken title: %v", err)
	}
	if _, err := s.UpdatePage(a.ID, func(p *Page) error { p.Title = "Renamed"; return nil }); err != nil {
		t.Fatal(err)
	}
	if p, err := s.PageByTitle("renamed"); err != nil || p.ID != a.ID {
		t.Errorf("lookup of the new title: %+v, %v", p, err)
	}
	if _, err := s.PageByTitle("Team Room"); !errors.Is(err, ErrNotFound) {
		t.Errorf("the old title should be free: %v", err)
	}
	if _, err := s.CreatePage(Page{Title: "Team Room", Format: FormatWiki}); err != nil {
		t.Errorf("reusing the freed title: %v", err)
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

// TestOpenFreesTitlesOfKeyedPages: a database from before keyed pages left
// the title index holds their titles, so people could not take them; the
// first open drops those entries and keeps the ones of people's pages.
func TestOpenFreesTitlesOfKeyedPages(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wiki.db")
	s := openT(t, path)
	parent, err := s.CreatePage(Page{Title: "Chat page", Format: FormatWiki})
	if err != nil {
		t.Fatal(err)
	}
	child, _, err := s.UpsertChild(Page{ParentID: parent.ID, ChildKey: "team/2026-01-02", Title: "Team chat transcript 2026-01-02", Format: FormatHTML})
	if err != nil {
		t.Fatal(err)
	}
	// Make the file look as an earlier wiki left it.
	err = s.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bucketTitles).Put([]byte(TitleKey(child.Title)), []byte(child.ID)); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Delete(metaKeyedTitlesFreed)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePage(Page{Title: child.Title, Format: FormatWiki}); !errors.Is(err, ErrTitleTaken) {
		t.Fatalf("old layout: creating the transcript's title: %v, want ErrTitleTaken", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openT(t, path)
	defer s.Close()
	if p, err := s.CreatePage(Page{Title: child.Title, Format: FormatWiki}); err != nil || p.ChildKey != "" {
		t.Errorf("creating the transcript's title after the upgrade: %+v, %v", p, err)
	}
	if _, err := s.CreatePage(Page{Title: "chat  PAGE", Format: FormatWiki}); !errors.Is(err, ErrTitleTaken) {
		t.Errorf("a person's page lost its title: %v", err)
	}
}
