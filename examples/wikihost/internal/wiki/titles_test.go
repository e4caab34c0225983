package wiki

import (
	"testing"

	hostsdk "github.com/pagechat/pagechat/host-sdk"
)

// TestResolveLinkPerSender: HostAPI ResolveLink(s) resolve a chat
// message's [Title] as the sender, among the pages with that title the
// sender may view, preferring a child of the room's page, then a sibling,
// then the oldest; a title only held by pages the sender may not view is
// answered exactly as a title no page has.
func TestResolveLinkPerSender(t *testing.T) {
	t.Parallel()
	w, _ := openT(t)
	h := w.Host()
	restrict := func(id string) {
		t.Helper()
		if _, err := w.SetPermissions("bob", id, []string{"bob"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	bobs := mustCreate(t, w, "bob", PageInput{Title: "Meeting notes"})
	restrict(bobs)
	hidden := mustCreate(t, w, "bob", PageInput{Title: "Hidden agenda"})
	restrict(hidden)
	teamA := mustCreate(t, w, "bob", PageInput{Title: "Team A"})
	notesA := mustCreate(t, w, "bob", PageInput{Title: "Meeting Notes", ParentID: teamA})
	roomA := mustCreate(t, w, "bob", PageInput{Title: "Room A", ParentID: teamA})
	teamB := mustCreate(t, w, "carol", PageInput{Title: "Team B"})
	notesB := mustCreate(t, w, "carol", PageInput{Title: "meeting notes", ParentID: teamB})
	lobby := mustCreate(t, w, "carol", PageInput{Title: "Lobby"})

	missing := func(title string) hostsdk.Link { return hostsdk.Link{URL: NewPageURL(title)} }
	found := func(id string) hostsdk.Link { return hostsdk.Link{URL: PageURL(id), Exists: true} }
	tests := []struct {
		sender, from, title string
		want                hostsdk.Link
	}{
		{"carol", teamA, "Meeting notes", found(notesA)}, // a child of the room's page
		{"carol", roomA, "Meeting notes", found(notesA)}, // a sibling
		{"carol", teamB, "meeting NOTES", found(notesB)}, // a child, though not the oldest
		{"carol", lobby, "Meeting notes", found(notesA)}, // the oldest she may view
		{"carol", "", "Meeting notes", found(notesA)},    // no page to prefer by
		{"carol", "999", "Meeting notes", found(notesA)}, // an unknown page likewise
		{"bob", lobby, "Meeting notes", found(bobs)},     // his own top-level page
		{"bob", teamB, "Meeting notes", found(notesB)},   // the child wins over his own
		{"carol", lobby, "Hidden agenda", missing("Hidden agenda")},
		{"bob", lobby, "Hidden agenda", found(hidden)},
		{"carol", lobby, "Nobody wrote this", missing("Nobody wrote this")},
		{"nobody", lobby, "Meeting notes", missing("Meeting notes")}, // unknown sender
	}
	for _, tt := range tests {
		got, err := h.ResolveLink(t.Context(), tt.sender, tt.from, tt.title)
		if err != nil || got != tt.want {
			t.Errorf("%s links %q from page %q: %+v, %v; want %+v", tt.sender, tt.title, tt.from, got, err, tt.want)
		}
	}
}

// TestSeedDemoAdoptsOnlyItsOwnPage: a data directory from before the demo
// page's id was remembered is searched by title, and since titles are not
// unique, a page someone else gave that title first is not taken for it.
func TestSeedDemoAdoptsOnlyItsOwnPage(t *testing.T) {
	t.Parallel()
	w, _ := openT(t) // alice, bob and carol exist, as after an earlier seed
	squat := mustCreate(t, w, "carol", PageInput{Title: DemoPageTitle, Body: "not the demo"})
	old := mustCreate(t, w, DemoUsers[0].Name, PageInput{Title: DemoPageTitle, Body: "the demo an earlier version seeded"})
	if err := w.store.SetMeta(metaDemoPage, ""); err != nil {
		t.Fatal(err)
	}
	id, err := w.SeedDemo("demo-password")
	if err != nil || id != old {
		t.Errorf("SeedDemo: %q, %v; want the earlier demo page %q, not carol's %q", id, err, old, squat)
	}

	fresh, _ := openT(t)
	mustCreate(t, fresh, "carol", PageInput{Title: DemoPageTitle, Body: "not the demo"})
	id, err = fresh.SeedDemo("demo-password")
	if err != nil {
		t.Fatal(err)
	}
	if p, err := fresh.Page("bob", id); err != nil || p.Author != DemoUsers[0].Name {
		t.Errorf("demo page beside carol's same-titled one: %+v, %v", p, err)
	}
}
