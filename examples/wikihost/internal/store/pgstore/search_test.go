package pgstore_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/pagechat/pagechat/internal/testutil/pgtest"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store/pgstore"
)

func ids(hits []pgstore.Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

func TestSearch(t *testing.T) {
	t.Parallel()
	// The search text is what package wiki gives: here the body with a
	// marker, to prove Search reads it rather than the body.
	s, err := pgstore.Open(context.Background(), pgtest.DSN(t), pgstore.Options{
		SearchText: func(p store.Page) string { return strings.ReplaceAll(p.Body, "{secret}", "") },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mk := func(p store.Page) store.Page {
		t.Helper()
		p.Format = store.FormatWiki
		got, err := s.CreatePage(p)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	body := mk(store.Page{Title: "Minutes", Body: "The team talked about rockets & boosters (if x < y) for an hour."})
	title := mk(store.Page{Title: "Rockets", Body: "A page about engines."})
	private := mk(store.Page{Title: "Private rockets", Body: "rockets only alice may see", View: []string{"alice"}})
	hidden := mk(store.Page{Title: "Hidden", Body: "{secret}quasar"})
	parent := mk(store.Page{Title: "Chat", Body: "room"})
	transcript, _, err := s.UpsertChild(store.Page{ParentID: parent.ID, ChildKey: "k", Title: "Chat transcript", Body: "we launched rockets today", Format: store.FormatHTML})
	if err != nil {
		t.Fatal(err)
	}
	allowAll := func(string) bool { return true }
	noPrivate := func(id string) bool { return id != private.ID }

	tests := []struct {
		name  string
		q     string
		allow func(string) bool
		limit int
		want  []string // nil: none
		// ranked: the first of want must come first; the others may
		// come in any order, as their ranks are close.
		ranked bool
	}{
		{"a title match ranks above body matches", "rocket", noPrivate, 10, []string{title.ID, body.ID, transcript.ID}, true},
		{"pages the user may not view are left out", "rockets", noPrivate, 10, []string{title.ID, body.ID, transcript.ID}, false},
		{"the viewer who may see it finds it", "alice rockets", allowAll, 10, []string{private.ID}, false},
		{"every word must match", "rockets engines", allowAll, 10, []string{title.ID}, false},
		{"a quoted phrase matches in order", `"talked about rockets"`, allowAll, 10, []string{body.ID}, false},
		{"minus excludes", "rockets -boosters -engines -alice", allowAll, 10, []string{transcript.ID}, false},
		{"stemming finds other forms", "launch", allowAll, 10, []string{transcript.ID}, false},
		{"the limit holds after filtering", "rockets", noPrivate, 1, []string{title.ID}, false},
		{"stop words alone match nothing", "the and", allowAll, 10, nil, false},
		{"an empty query matches nothing", "  ", allowAll, 10, nil, false},
		{"syntax errors are not errors", `"rockets -`, allowAll, 10, []string{title.ID, private.ID, body.ID, transcript.ID}, false},
		{"searched text is the search text, not the body", "secret", allowAll, 10, nil, false},
		{"what the search text holds is found", "quasar", allowAll, 10, []string{hidden.ID}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hits, err := s.Search(context.Background(), tc.q, tc.limit, tc.allow)
			if err != nil {
				t.Fatal(err)
			}
			got := ids(hits)
			if tc.want == nil {
				if len(got) != 0 {
					t.Errorf("Search(%q) = %v, want none", tc.q, got)
				}
				return
			}
			if !slices.Equal(sorted(got), sorted(tc.want)) || tc.ranked && got[0] != tc.want[0] {
				t.Errorf("Search(%q) = %v, want %v", tc.q, got, tc.want)
			}
		})
	}

	hits, err := s.Search(context.Background(), "boosters", 10, allowAll)
	if err != nil || len(hits) != 1 {
		t.Fatalf("boosters: %+v, %v", hits, err)
	}
	h := hits[0]
	if h.Title != "Minutes" || h.Chat {
		t.Errorf("hit = %+v", h)
	}
	if !strings.Contains(string(h.SnippetHTML), "<mark>boosters</mark>") || !strings.Contains(string(h.SnippetHTML), "rockets &amp; <mark>boosters</mark> (if x &lt; y)") {
		t.Errorf("snippet HTML %q: want the match marked and the page's text escaped", h.SnippetHTML)
	}
	if !strings.Contains(h.Snippet, "rockets & boosters (if x < y)") || strings.Contains(h.Snippet, "mark") {
		t.Errorf("plain snippet %q", h.Snippet)
	}
	if hits, _ := s.Search(context.Background(), "launched", 10, allowAll); len(hits) != 1 || !hits[0].Chat {
		t.Errorf("a transcript hit is not marked as the chat's: %+v", hits)
	}
	// A page's text can hold the snippet markers; they never become tags.
	marked := mk(store.Page{Title: "Markers", Body: "zebra \ue000unmatched\ue001 words"})
	if hits, _ := s.Search(context.Background(), "zebra", 10, allowAll); len(hits) != 1 || hits[0].ID != marked.ID || strings.Count(string(hits[0].SnippetHTML), "<mark>") != 1 {
		t.Errorf("markers in the text: %+v", hits)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestSearchScansABoundedNumberOfMatches: a user who may view none of many
// matching pages gets an empty answer, not a walk over all of them.
func TestSearchScansABoundedNumberOfMatches(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t))
	defer s.Close()
	for i := range 1100 {
		if _, err := s.CreatePage(store.Page{Title: fmt.Sprint("Page ", i), Body: "common word", Format: store.FormatWiki}); err != nil {
			t.Fatal(err)
		}
	}
	asked := 0
	hits, err := s.Search(context.Background(), "common", 10, func(string) bool { asked++; return false })
	if err != nil || len(hits) != 0 {
		t.Fatalf("%+v, %v", hits, err)
	}
	if asked != 1000 {
		t.Errorf("permission asked for %d pages, want the bound of 1000", asked)
	}
	hits, _ = s.Search(context.Background(), "common", 5, func(id string) bool { return id == "1050" })
	if len(hits) != 0 {
		t.Errorf("a match past the bound was found: %v", ids(hits))
	}
}

// TestHugePageIsStoredAndSearchable: a transcript larger than the text
// search indexes is stored whole; its beginning is found.
func TestHugePageIsStoredAndSearchable(t *testing.T) {
	t.Parallel()
	s := open(t, pgtest.DSN(t))
	defer s.Close()
	var b strings.Builder
	b.WriteString("aardvark ")
	for i := 0; b.Len() < 3<<19; i++ { // past the 1 MiB a tsvector may hold
		fmt.Fprintf(&b, "w%x ", i) // distinct words: the worst case for a tsvector
	}
	parent, _ := s.CreatePage(store.Page{Title: "P", Format: store.FormatWiki})
	p, _, err := s.UpsertChild(store.Page{ParentID: parent.ID, ChildKey: "k", Title: "Big", Body: b.String(), Format: store.FormatHTML})
	if err != nil {
		t.Fatalf("storing a 1.5 MiB page: %v", err)
	}
	if got, _ := s.Page(p.ID); len(got.Body) != b.Len() {
		t.Errorf("body of %d bytes stored as %d", b.Len(), len(got.Body))
	}
	if hits, err := s.Search(context.Background(), "aardvark", 10, nil); err != nil || len(hits) != 1 {
		t.Errorf("search in a huge page: %+v, %v", hits, err)
	}
}
