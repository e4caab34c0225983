package wiki

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

func TestCheckPermissionMapping(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	h := w.Host()
	ctx := context.Background()

	open := mustCreate(t, w, "bob", PageInput{Title: "Open"})
	readOnly := mustCreate(t, w, "bob", PageInput{Title: "Read only"})
	private := mustCreate(t, w, "bob", PageInput{Title: "Private"})
	child := mustCreate(t, w, "bob", PageInput{Title: "Child of private", ParentID: private})
	if _, err := w.SetPermissions("bob", readOnly, nil, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.SetPermissions("alice", private, []string{"bob", "carol"}, []string{"bob"}); err != nil {
		t.Fatal(err)
	}
	const (
		view = hostsdk.PermissionView
		post = hostsdk.PermissionPost
		mod  = hostsdk.PermissionModerate
	)
	tests := []struct {
		user, page string
		perm       hostsdk.Permission
		want       bool
	}{
		{"carol", open, view, true},
		{"carol", open, post, true}, // post is edit, and the edit list is empty
		{"carol", open, mod, false}, // moderate is for admins
		{"alice", open, mod, true},
		{"carol", readOnly, view, true},
		{"carol", readOnly, post, false},
		{"bob", readOnly, post, true},
		{"carol", private, view, true},
		{"carol", private, post, false},
		{"alice", private, view, false}, // admins are not exempt from view lists
		{"alice", private, mod, false},  // nor may they moderate what they cannot see
		{"alice", child, view, false},   // a child follows its parent's view list
		{"carol", child, view, true},
		{"carol", child, post, true}, // its own edit list is empty
		{"nobody", open, view, false},
		{"", open, view, false},
		{"bob", "404", view, false},
		{"bob", open, hostsdk.Permission(99), false},
	}
	for _, tt := range tests {
		got, err := h.CheckPermission(ctx, tt.user, tt.page, tt.perm)
		if err != nil || got != tt.want {
			t.Errorf("CheckPermission(%q, page %s, %v) = %v, %v; want %v", tt.user, tt.page, tt.perm, got, err, tt.want)
		}
	}
}

// The plugin's permission questions are answered from a memo while the
// store is unchanged; a change to a page's lists, a new page or a new user
// must be seen by the very next question.
func TestCheckPermissionSeesChangesAtOnce(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	h := w.Host()
	ctx := context.Background()
	parent := mustCreate(t, w, "bob", PageInput{Title: "Parent"})
	page := mustCreate(t, w, "bob", PageInput{Title: "Room page", ParentID: parent})
	// Every change below also moves the permission version, which open
	// streams' re-checks rely on to skip asking.
	version, ok := h.PermissionVersion()
	if !ok {
		t.Fatal("a single-node wiki has no permission version")
	}
	moved := func(step string) {
		t.Helper()
		v, _ := h.PermissionVersion()
		if v == version {
			t.Errorf("%s: the permission version did not move", step)
		}
		version = v
	}
	ask := func(step, user string, perm hostsdk.Permission, want bool) {
		t.Helper()
		for range 2 { // the second answer comes from the memo
			got, err := h.CheckPermission(ctx, user, page, perm)
			if err != nil || got != want {
				t.Fatalf("%s: CheckPermission(%q, %v) = %v, %v; want %v", step, user, perm, got, err, want)
			}
		}
	}
	ask("open page", "carol", hostsdk.PermissionView, true)
	if _, err := w.SetPermissions("bob", page, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	moved("page's view list narrowed")
	ask("page's view list narrowed", "carol", hostsdk.PermissionView, false)
	if _, err := w.SetPermissions("bob", page, nil, nil); err != nil {
		t.Fatal(err)
	}
	moved("page opened again")
	ask("page opened again", "carol", hostsdk.PermissionView, true)
	if _, err := w.SetPermissions("bob", parent, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	moved("parent narrowed")
	ask("parent narrowed", "carol", hostsdk.PermissionView, false)
	ask("parent narrowed", "bob", hostsdk.PermissionPost, true)
	if _, err := w.SetPermissions("bob", page, nil, []string{"alice"}); err != nil {
		t.Fatal(err)
	}
	moved("edit list narrowed")
	ask("edit list narrowed", "bob", hostsdk.PermissionPost, false)
	ask("unknown user", "dave", hostsdk.PermissionView, false)
	if _, err := w.CreateUser(NewUser{Name: "dave", Password: "dave-password-1"}); err != nil {
		t.Fatal(err)
	}
	moved("user created")
	if _, err := w.SetPermissions("bob", parent, nil, nil); err != nil {
		t.Fatal(err)
	}
	moved("parent opened again")
	ask("user created", "dave", hostsdk.PermissionView, true)
}

// TestResolveLinkAsUser covers finding #10: a wiki link is resolved as the
// user who wrote it, and a page that user may not view is answered exactly
// like a page that does not exist.
func TestResolveLinkAsUser(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	h := w.Host()
	ctx := context.Background()
	from := mustCreate(t, w, "bob", PageInput{Title: "Lobby"})
	secret := mustCreate(t, w, "bob", PageInput{Title: "Secret Page"})
	if _, err := w.SetPermissions("bob", secret, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	missing, err := h.ResolveLink(ctx, "carol", from, "Secret Paeg")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		user string
		want hostsdk.Link
	}{
		{"bob", hostsdk.Link{URL: "/pages/" + secret, Exists: true}},
		{"carol", hostsdk.Link{URL: strings.Replace(missing.URL, "Paeg", "Page", 1), Exists: false}},
		{"alice", hostsdk.Link{URL: strings.Replace(missing.URL, "Paeg", "Page", 1), Exists: false}}, // admins too
		{"", hostsdk.Link{URL: strings.Replace(missing.URL, "Paeg", "Page", 1), Exists: false}},
	}
	for _, tt := range tests {
		got, err := h.ResolveLink(ctx, tt.user, from, "Secret Page")
		if err != nil || got != tt.want {
			t.Errorf("ResolveLink as %q = %+v, %v; want %+v", tt.user, got, err, tt.want)
		}
	}
}

func TestDirectory(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	h := w.Host()
	ctx := context.Background()
	id := mustCreate(t, w, "bob", PageInput{Title: "Home"})
	p, err := h.GetPage(ctx, id)
	if err != nil || p.Title != "Home" || p.URL != "/pages/"+id || p.ParentID != "" {
		t.Errorf("GetPage: %+v, %v", p, err)
	}
	if _, err := h.GetPage(ctx, "404"); !errors.Is(err, hostsdk.ErrNotFound) {
		t.Errorf("GetPage(unknown): %v, want hostsdk.ErrNotFound", err)
	}
	u, err := h.GetUser(ctx, "alice")
	if err != nil || u.DisplayName != "alice" {
		t.Errorf("GetUser: %+v, %v", u, err)
	}
	if _, err := h.GetUser(ctx, "zed"); !errors.Is(err, hostsdk.ErrNotFound) {
		t.Errorf("GetUser(unknown): %v, want hostsdk.ErrNotFound", err)
	}
	l, err := h.ResolveLink(ctx, "alice", id, "  HOME ")
	if err != nil || !l.Exists || l.URL != "/pages/"+id {
		t.Errorf("ResolveLink(existing): %+v, %v", l, err)
	}
	l, err = h.ResolveLink(ctx, "alice", id, "New & Shiny")
	if err != nil || l.Exists || l.URL != "/pages/new?title=New+%26+Shiny" {
		t.Errorf("ResolveLink(missing): %+v, %v", l, err)
	}
	if err := h.Notify(ctx, hostsdk.Notification{UserID: "bob", Subject: "hi"}); err != nil {
		t.Errorf("Notify: %v", err)
	}
}

func TestUpsertChildPage(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	h := w.Host()
	ctx := context.Background()
	parent := mustCreate(t, w, "bob", PageInput{Title: "Chat page", Body: "{chat:Team}"})

	c := hostsdk.ChildPage{ParentID: parent, Key: "team/2026-03-04", Title: "Team chat transcript 2026-03-04",
		BodyHTML: `<ol><li><b>Bob</b>: zanzibar</li></ol>`}
	first, err := h.UpsertChildPage(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	if first.ParentID != parent || first.URL != "/pages/"+first.ID {
		t.Errorf("child: %+v", first)
	}
	c.BodyHTML = `<ol><li><b>Bob</b>: zanzibar</li><li><b>Carol</b>: quokka</li></ol>`
	second, err := h.UpsertChildPage(ctx, c)
	if err != nil || second.ID != first.ID {
		t.Fatalf("second upsert: %+v, %v; want page %s again", second, err, first.ID)
	}
	p, err := w.Page("carol", first.ID)
	if err != nil || p.Body != c.BodyHTML || p.Format != "html" {
		t.Errorf("stored transcript: %+v, %v", p, err)
	}
	if _, err := w.UpdatePage("bob", first.ID, PageInput{Title: "x", Body: "y"}); !errors.Is(err, ErrConflict) {
		t.Errorf("editing a transcript: %v, want ErrConflict", err)
	}
	// The transcript is searchable, as text.
	hits, err := w.Search(ctx, "carol", "quokka", 10)
	if err != nil || len(hits) != 1 || hits[0].ID != first.ID || strings.Contains(hits[0].Snippet, "<li>") {
		t.Errorf("search transcript: %+v, %v", hits, err)
	}

	// A title the wiki would refuse from a person is made to fit.
	odd, err := h.UpsertChildPage(ctx, hostsdk.ChildPage{ParentID: parent, Key: "odd", Title: "Team [A]|B\tchat transcript " + strings.Repeat("é", 200)})
	if err != nil {
		t.Fatalf("odd title: %v", err)
	}
	if !strings.HasPrefix(odd.Title, "Team (A)/B chat transcript é") || len(odd.Title) > MaxTitleBytes {
		t.Errorf("odd title stored as %q", odd.Title)
	}

	if _, err := h.UpsertChildPage(ctx, hostsdk.ChildPage{ParentID: "404", Key: "k", Title: "t"}); !errors.Is(err, hostsdk.ErrNotFound) {
		t.Errorf("unknown parent: %v, want hostsdk.ErrNotFound", err)
	}
	if _, err := h.UpsertChildPage(ctx, hostsdk.ChildPage{ParentID: parent, Key: "", Title: "t"}); err == nil {
		t.Error("empty key accepted")
	}
}

func TestAttachFile(t *testing.T) {
	t.Parallel()
	w, dir := openT(t)
	h := w.Host()
	ctx := context.Background()
	page := mustCreate(t, w, "bob", PageInput{Title: "Files"})
	content := []byte("\x89PNG fake image")

	att, err := h.AttachFile(ctx, hostsdk.FileInfo{PageID: page, UserID: "bob", Name: "../../etc/passwd", ContentType: "image/png", Size: int64(len(content))}, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if att.URL != "/files/"+att.ID || !fileIDPattern.MatchString(att.ID) {
		t.Errorf("attachment %+v", att)
	}
	// Stored under its id, never under the name it came with.
	if got, err := os.ReadFile(filepath.Join(dir, "files", att.ID)); err != nil || !bytes.Equal(got, content) {
		t.Errorf("stored content %q, %v", got, err)
	}
	f, r, err := w.OpenFile("carol", att.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if f.Name != "../../etc/passwd" || f.ContentType != "image/png" || !bytes.Equal(got, content) {
		t.Errorf("OpenFile: %+v %q", f, got)
	}
	if files, _ := w.Files("carol", page); len(files) != 1 {
		t.Errorf("page has %d files, want 1", len(files))
	}

	// Content that does not match the announced size is refused and
	// leaves nothing behind.
	for _, size := range []int64{int64(len(content)) + 1, int64(len(content)) - 1} {
		_, err := h.AttachFile(ctx, hostsdk.FileInfo{PageID: page, Name: "x", Size: size}, bytes.NewReader(content))
		if err == nil {
			t.Errorf("size %d for %d bytes accepted", size, len(content))
		}
	}
	if _, err := h.AttachFile(ctx, hostsdk.FileInfo{PageID: "404", Name: "x", Size: 1}, strings.NewReader("x")); !errors.Is(err, hostsdk.ErrNotFound) {
		t.Errorf("unknown page: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "files"))
	if len(entries) != 1 {
		t.Errorf("files directory holds %d entries, want only the one good file", len(entries))
	}

	// Permission and id checks on the way out.
	if _, err := w.SetPermissions("bob", page, []string{"bob"}, nil); err != nil {
		t.Fatal(err)
	}
	// Without view permission, exactly as an unknown file.
	if _, _, err := w.OpenFile("carol", att.ID); err != ErrNoSuchFile {
		t.Errorf("OpenFile without view permission: %v, want ErrNoSuchFile", err)
	}
	for _, id := range []string{"../wiki.db", "", strings.Repeat("a", 32)} {
		if _, _, err := w.OpenFile("bob", id); err != ErrNoSuchFile {
			t.Errorf("OpenFile(%q): %v, want ErrNotFound", id, err)
		}
	}
}

// TestTranscriptTitlesCannotBeSquatted: a transcript is known by its key,
// so pages people create with its title, first or later, neither block
// nor displace nor imitate it, and creating one says nothing about
// whether a private room was active.
func TestTranscriptTitlesCannotBeSquatted(t *testing.T) {
	t.Parallel()
	const day = "2026-03-04"
	tests := []struct {
		name    string
		private bool
		squat   []string // titles carol takes before the transcript is written
	}{
		{"exact title first", false, []string{"Team chat transcript " + day}},
		{"numbered variants first", false, []string{"Team chat transcript " + day, "Team chat transcript " + day + " (2)", "team  CHAT transcript " + day + " (3)"}},
		{"private room, exact title first", true, []string{"Team chat transcript " + day}},
		{"nothing taken", false, nil},
		{"private room, nothing taken", true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w, _ := openT(t)
			h := w.Host()
			ctx := context.Background()
			room := mustCreate(t, w, "bob", PageInput{Title: "Chat page", Body: "{chat:Team}"})
			if tt.private {
				if _, err := w.SetPermissions("bob", room, []string{"bob"}, nil); err != nil {
					t.Fatal(err)
				}
			}
			for _, title := range tt.squat {
				mustCreate(t, w, "carol", PageInput{Title: title, Body: "fake transcript zanzibar"})
			}

			want := "Team chat transcript " + day
			tr, err := h.UpsertChildPage(ctx, hostsdk.ChildPage{ParentID: room, Key: "pagechat-transcript/team/" + day, Title: want, BodyHTML: "<p>zanzibar</p>"})
			if err != nil {
				t.Fatalf("transcript write: %v", err)
			}
			if tr.Title != want {
				t.Errorf("transcript titled %q, want %q", tr.Title, want)
			}
			again, err := h.UpsertChildPage(ctx, hostsdk.ChildPage{ParentID: room, Key: "pagechat-transcript/team/" + day, Title: want, BodyHTML: "<p>zanzibar quokka</p>"})
			if err != nil || again.ID != tr.ID || again.Title != want {
				t.Errorf("rewrite: %+v, %v; want page %s titled %q", again, err, tr.ID, want)
			}

			// Taking the title afterwards answers as for any free title,
			// private room or not.
			for _, title := range []string{want, "Team chat transcript " + day + " (4)"} {
				if len(tt.squat) > 0 && title == want {
					continue // carol already holds it: that answer is about her page
				}
				if _, err := w.CreatePage("carol", PageInput{Title: title}); err != nil {
					t.Errorf("creating %q after the transcript: %v", title, err)
				}
			}

			// Search shows the real transcript marked as the chat's, and
			// no person's page so marked.
			hits, err := w.Search(ctx, "bob", "zanzibar", 10)
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, hit := range hits {
				if hit.Chat != (hit.ID == tr.ID) {
					t.Errorf("hit %+v: Chat = %v", hit, hit.Chat)
				}
				found = found || (hit.ID == tr.ID && hit.Title == want)
			}
			if !found {
				t.Errorf("search for the transcript: %+v, want page %s titled %q", hits, tr.ID, want)
			}
		})
	}
}

// A chat upload whose message was deleted leaves the page: metadata and
// content. Another page's file, or one already gone, is not found.
func TestDeleteFileRemovesTheUpload(t *testing.T) {
	t.Parallel()
	w, dir := openT(t)
	h := w.Host()
	ctx := context.Background()
	page := mustCreate(t, w, "bob", PageInput{Title: "Uploads"})
	other := mustCreate(t, w, "bob", PageInput{Title: "Elsewhere"})
	att, err := h.AttachFile(ctx, hostsdk.FileInfo{PageID: page, UserID: "bob", Name: "plan.txt", ContentType: "text/plain", Size: 4}, strings.NewReader("plan"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.DeleteFile(ctx, other, att.ID, "alice"); !errors.Is(err, hostsdk.ErrNotFound) {
		t.Errorf("DeleteFile on another page = %v, want ErrNotFound", err)
	}
	if err := h.DeleteFile(ctx, page, att.ID, "alice"); err != nil {
		t.Fatalf("DeleteFile: %v", err)
	}
	if files, _ := w.Files("bob", page); len(files) != 0 {
		t.Errorf("page still lists %+v", files)
	}
	if _, err := os.Stat(filepath.Join(dir, "files", att.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("content still on disk: %v", err)
	}
	if _, _, err := w.OpenFile("bob", att.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenFile after DeleteFile = %v", err)
	}
	if err := h.DeleteFile(ctx, page, att.ID, "alice"); !errors.Is(err, hostsdk.ErrNotFound) {
		t.Errorf("second DeleteFile = %v, want ErrNotFound", err)
	}
}
