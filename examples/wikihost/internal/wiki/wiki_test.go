package wiki

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCreateAndUpdatePage(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	id := mustCreate(t, w, "bob", PageInput{Title: "  Plans  ", Body: "text"})
	p, err := w.Page("carol", id)
	if err != nil || p.Title != "Plans" || p.Author != "bob" || p.Format != "wiki" {
		t.Fatalf("page: %+v, %v", p, err)
	}
	if _, err := w.UpdatePage("carol", id, PageInput{Title: "Plans v2", Body: "more"}); err != nil {
		t.Fatal(err)
	}
	if p, _ := w.Page("bob", id); p.Title != "Plans v2" || p.Body != "more" {
		t.Errorf("after update: %+v", p)
	}

	bad := []struct {
		in   PageInput
		want error
	}{
		{PageInput{Title: ""}, ErrInvalid},
		{PageInput{Title: "a [b]"}, ErrInvalid},
		{PageInput{Title: "tab\there"}, ErrInvalid},
		{PageInput{Title: strings.Repeat("x", MaxTitleBytes+1)}, ErrInvalid},
		{PageInput{Title: "Big", Body: strings.Repeat("x", MaxBodyBytes+1)}, ErrTooLarge},
		{PageInput{Title: "Bad UTF-8", Body: "\xff"}, ErrInvalid},
		{PageInput{Title: "Orphan", ParentID: "404"}, ErrInvalid},
	}
	for _, b := range bad {
		if _, err := w.CreatePage("bob", b.in); !errors.Is(err, b.want) {
			t.Errorf("CreatePage(%.40q): %v, want %v", b.in.Title, err, b.want)
		}
	}
	if _, err := w.CreatePage("nobody", PageInput{Title: "x"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("unknown author: %v", err)
	}
	if _, err := w.UpdatePage("bob", "404", PageInput{Title: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("update unknown page: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	id := mustCreate(t, w, "bob", PageInput{Title: "Bob's"})

	if _, err := w.SetPermissions("carol", id, []string{"carol"}, nil); !errors.Is(err, ErrForbidden) {
		t.Errorf("non-author changes permissions: %v", err)
	}
	if _, err := w.SetPermissions("bob", id, []string{"zed"}, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown user in list: %v", err)
	}
	p, err := w.SetPermissions("bob", id, []string{"Carol", "bob", "carol"}, []string{"bob"})
	if err != nil || !slices.Equal(p.View, []string{"bob", "carol"}) || !slices.Equal(p.Edit, []string{"bob"}) {
		t.Fatalf("SetPermissions: %+v, %v", p, err)
	}
	// A page one may not view is answered exactly as an unknown one.
	if _, err := w.Page("alice", id); err != ErrNoSuchPage {
		t.Errorf("alice views: %v, want ErrNoSuchPage", err)
	}
	if _, err := w.Page("alice", "404"); err != ErrNoSuchPage {
		t.Errorf("alice views an unknown page: %v, want ErrNoSuchPage", err)
	}
	if _, err := w.UpdatePage("alice", id, PageInput{Title: "x"}); err != ErrNoSuchPage {
		t.Errorf("alice edits a page she cannot view: %v, want ErrNoSuchPage", err)
	}
	if _, err := w.UpdatePage("carol", id, PageInput{Title: "x"}); !errors.Is(err, ErrForbidden) {
		t.Errorf("carol edits: %v, want ErrForbidden", err)
	}
	if _, err := w.CreatePage("carol", PageInput{Title: "Sub", ParentID: id}); !errors.Is(err, ErrForbidden) {
		t.Errorf("carol adds a child without edit permission: %v", err)
	}
	// An admin may always change the lists, even of a page she cannot view.
	if _, err := w.SetPermissions("alice", id, nil, nil); err != nil {
		t.Errorf("admin resets permissions: %v", err)
	}
	if _, err := w.Page("alice", id); err != nil {
		t.Errorf("alice views after reset: %v", err)
	}
}

func TestChildrenHideWhatTheUserCannotView(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	parent := mustCreate(t, w, "bob", PageInput{Title: "Parent"})
	mustCreate(t, w, "bob", PageInput{Title: "Public child", ParentID: parent})
	secret := mustCreate(t, w, "bob", PageInput{Title: "Secret child", ParentID: parent})
	if _, err := w.SetPermissions("bob", secret, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	for user, want := range map[string]int{"bob": 2, "carol": 1} {
		kids, err := w.Children(user, parent)
		if err != nil || len(kids) != want {
			t.Errorf("%s sees %d children (%v), want %d", user, len(kids), err, want)
		}
	}
}

func TestSearchRespectsViewPermission(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	ctx := context.Background()
	public := mustCreate(t, w, "bob", PageInput{Title: "Public", Body: "The platypus lives here."})
	secret := mustCreate(t, w, "bob", PageInput{Title: "Secret", Body: "Another platypus, hidden."})
	underSecret := mustCreate(t, w, "bob", PageInput{Title: "Below", Body: "A platypus below the secret.", ParentID: secret})
	if _, err := w.SetPermissions("bob", secret, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}

	ids := func(user string) []string {
		hits, err := w.Search(ctx, user, "platypus", 10)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, h := range hits {
			out = append(out, h.ID)
		}
		slices.Sort(out)
		return out
	}
	want := []string{public, secret, underSecret}
	slices.Sort(want)
	if got := ids("bob"); !slices.Equal(got, want) {
		t.Errorf("bob finds %v, want %v", got, want)
	}
	if got := ids("carol"); !slices.Equal(got, []string{public}) {
		t.Errorf("carol finds %v, want only %s", got, public)
	}
	if got := ids("stranger"); len(got) != 0 {
		t.Errorf("an unknown user finds %v", got)
	}
	// Edits are searchable at once.
	if _, err := w.UpdatePage("bob", public, PageInput{Title: "Public", Body: "Now about echidnas."}); err != nil {
		t.Fatal(err)
	}
	if hits, _ := w.Search(ctx, "carol", "echidna", 10); len(hits) != 1 {
		t.Errorf("updated page not found: %v", hits)
	}
	if _, err := w.Search(ctx, "bob", strings.Repeat("q", 1000), 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("long query: %v", err)
	}
}

func TestIndexIsRebuiltWhenLost(t *testing.T) {
	t.Parallel()
	w, dir := openT(t)
	mustCreate(t, w, "bob", PageInput{Title: "Wombat notes", Body: "burrows"})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "index")); err != nil {
		t.Fatal(err)
	}
	w = reopen(t, dir)
	hits, err := w.Search(context.Background(), "bob", "burrows", 10)
	if err != nil || len(hits) != 1 || hits[0].Title != "Wombat notes" {
		t.Errorf("after rebuild: %+v, %v", hits, err)
	}
}

func TestUsersAndSessions(t *testing.T) {
	t.Parallel()
	w, dir := openT(t)
	if _, err := w.CreateUser(NewUser{Name: "Bob", Password: testPassword}); !errors.Is(err, ErrConflict) {
		t.Errorf("duplicate (case-insensitive) user: %v", err)
	}
	for _, nu := range []NewUser{
		{Name: "1abc", Password: testPassword},
		{Name: "with space", Password: testPassword},
		{Name: "dave", Password: "short"},
		{Name: "dave", Password: strings.Repeat("p", 73)},
		{Name: "dave", Password: testPassword, DisplayName: "bad\x00name"},
	} {
		if _, err := w.CreateUser(nu); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateUser(%q, %d-byte password): %v, want ErrInvalid", nu.Name, len(nu.Password), err)
		}
	}
	if u, err := w.Authenticate(" BOB ", testPassword); err != nil || u.ID != "bob" {
		t.Errorf("Authenticate: %+v, %v", u, err)
	}
	for _, c := range [][2]string{{"bob", "wrong"}, {"zed", testPassword}, {"", ""}} {
		if _, err := w.Authenticate(c[0], c[1]); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("Authenticate(%q, %q): %v", c[0], c[1], err)
		}
	}
	// The cached check answers the same.
	for range 2 {
		if _, err := w.Authenticate("bob", testPassword); err != nil {
			t.Errorf("repeated Authenticate: %v", err)
		}
		if _, err := w.Authenticate("bob", testPassword+"x"); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("repeated wrong password: %v", err)
		}
	}

	token, expires, err := w.NewSession("carol")
	if err != nil || time.Until(expires) < SessionTTL-time.Minute {
		t.Fatalf("NewSession: %v, expires %v", err, expires)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = reopen(t, dir)
	if u, err := w.SessionUser(token); err != nil || u.ID != "carol" {
		t.Errorf("session after reopen: %+v, %v", u, err)
	}
	for _, bad := range []string{"", "x", token[:len(token)-1] + "A"} {
		if bad == token {
			continue
		}
		if _, err := w.SessionUser(bad); !errors.Is(err, ErrBadCredentials) {
			t.Errorf("SessionUser(%q): %v", bad, err)
		}
	}
	w.now = func() time.Time { return expires.Add(time.Second) }
	if _, err := w.SessionUser(token); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("expired session: %v", err)
	}
	w.now = time.Now
	if _, err := w.SessionUser(token); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("an expired session is deleted on use, got %v", err)
	}
	token, _, _ = w.NewSession("carol")
	if err := w.EndSession(token); err != nil {
		t.Fatal(err)
	}
	if _, err := w.SessionUser(token); !errors.Is(err, ErrBadCredentials) {
		t.Errorf("ended session: %v", err)
	}
}

func TestSeedDemoIsIdempotent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := reopen(t, dir)
	id, err := w.SeedDemo("demo-password")
	if err != nil {
		t.Fatal(err)
	}
	p, err := w.Page("bob", id)
	if err != nil || p.Title != DemoPageTitle || !strings.Contains(p.Body, "{chat:Team Room}") || !strings.Contains(p.Body, "[the sandbox|Sandbox]") {
		t.Fatalf("demo page: %+v, %v", p, err)
	}
	if u, err := w.Authenticate("alice", "demo-password"); err != nil || !u.Admin {
		t.Errorf("alice: %+v, %v", u, err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w = reopen(t, dir)
	again, err := w.SeedDemo("another-password")
	if err != nil || again != id {
		t.Errorf("second SeedDemo: %q, %v; want %q", again, err, id)
	}
	if _, err := w.Authenticate("carol", "demo-password"); err != nil {
		t.Errorf("existing demo user's password was changed: %v", err)
	}
	if got, _ := w.DemoPageID(); got != id {
		t.Errorf("DemoPageID = %q, want %q", got, id)
	}
}

func TestSearchFindsMacroRoomNames(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	id := mustCreate(t, w, "bob", PageInput{Title: "Standup", Body: "Daily.\n\n{chat:Kangaroo Court}"})
	hits, err := w.Search(context.Background(), "carol", "kangaroo", 10)
	if err != nil || len(hits) != 1 || hits[0].ID != id {
		t.Errorf("search for a room name: %+v, %v", hits, err)
	}
}

// A stream's session re-check keeps its last answer only while nothing
// it rests on has changed: a logout or the session's expiry is seen by
// the next check, and other sessions coming and going change nothing.
func TestSessionRecheckSeesLogoutAndExpiry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		end  func(w *Wiki, token string, expires time.Time)
	}{
		{"logout", func(w *Wiki, token string, _ time.Time) {
			if err := w.EndSession(token); err != nil {
				t.Fatal(err)
			}
		}},
		{"expiry", func(w *Wiki, _ string, expires time.Time) {
			w.now = func() time.Time { return expires.Add(time.Second) }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, _ := openT(t)
			token, expires, err := w.NewSession("carol")
			if err != nil {
				t.Fatal(err)
			}
			check, key := w.SessionRecheck(token)
			if key == "" {
				t.Fatal("no key for a well-formed token")
			}
			for i := range 3 {
				if u, err := check(); err != nil || u.ID != "carol" {
					t.Fatalf("check %d: %+v, %v", i, u, err)
				}
				// Another user's login and logout change the store.
				other, _, err := w.NewSession("bob")
				if err != nil {
					t.Fatal(err)
				}
				if err := w.EndSession(other); err != nil {
					t.Fatal(err)
				}
			}
			tt.end(w, token, expires)
			if u, err := check(); !errors.Is(err, ErrBadCredentials) {
				t.Fatalf("after %s: %+v, %v; want ErrBadCredentials", tt.name, u, err)
			}
		})
	}
}
