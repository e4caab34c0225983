package search

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func openT(t *testing.T, dir string) (*Index, bool) {
	t.Helper()
	x, rebuild, err := Open(dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return x, rebuild
}

func ids(hits []Hit) []string {
	var out []string
	for _, h := range hits {
		out = append(out, h.ID)
	}
	return out
}

func TestSearchFindsWordsAndFilters(t *testing.T) {
	t.Parallel()
	x, rebuild := openT(t, filepath.Join(t.TempDir(), "index"))
	defer x.Close()
	if !rebuild {
		t.Error("a new index should ask for a rebuild")
	}
	docs := []Doc{
		{ID: "1", Title: "Welcome", Text: "The team meets in the chat rooms every morning."},
		{ID: "2", Title: "Secret plans", Text: "Only admins may read about the rooms here."},
		{ID: "3", Title: "Rooms overview", Text: "Nothing else."},
	}
	for _, d := range docs {
		if err := x.Put(d); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()

	hits, err := x.Search(ctx, "room", 10, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(hits); len(got) != 3 || got[0] != "3" {
		t.Errorf("search room: got %v, want all three with the title match first", got)
	}

	hits, err = x.Search(ctx, "the team", 10, nil) // "the" is a stop word
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(hits); len(got) != 1 || got[0] != "1" {
		t.Fatalf("search 'the team': got %v, want [1]", got)
	}
	if !strings.Contains(string(hits[0].SnippetHTML), "<mark>team</mark>") || strings.Contains(hits[0].Snippet, "<mark>") {
		t.Errorf("snippets: html %q, plain %q", hits[0].SnippetHTML, hits[0].Snippet)
	}

	hits, err = x.Search(ctx, "rooms", 10, func(id string) bool { return id != "2" })
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.ID == "2" {
			t.Errorf("filtered page 2 was returned: %v", ids(hits))
		}
	}

	if hits, err := x.Search(ctx, "the and", 10, nil); err != nil || len(hits) != 0 {
		t.Errorf("stop words only: %v, %v", ids(hits), err)
	}
	if _, err := x.Search(ctx, strings.Repeat("x", MaxQueryBytes+1), 10, nil); err != ErrQueryTooLong {
		t.Errorf("long query: %v", err)
	}
}

func TestSnippetEscapesText(t *testing.T) {
	t.Parallel()
	x, _ := openT(t, filepath.Join(t.TempDir(), "index"))
	defer x.Close()
	if err := x.Put(Doc{ID: "1", Title: "x", Text: `<script>alert("boom")</script> boom`}); err != nil {
		t.Fatal(err)
	}
	hits, err := x.Search(context.Background(), "boom", 10, nil)
	if err != nil || len(hits) != 1 {
		t.Fatalf("search: %v %v", hits, err)
	}
	if strings.Contains(string(hits[0].SnippetHTML), "<script") {
		t.Errorf("snippet HTML not escaped: %q", hits[0].SnippetHTML)
	}
	if !strings.Contains(hits[0].Snippet, "<script>") {
		t.Errorf("plain snippet should keep the text: %q", hits[0].Snippet)
	}
}

func TestReopenKeepsCleanIndexAndRebuildsAfterCrash(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "index")
	x, _ := openT(t, dir)
	err := x.Reindex(func(add func(Doc) error) error {
		for _, id := range []string{"1", "2", "3"} {
			if err := add(Doc{ID: id, Title: "page " + id, Text: "body"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}

	x, rebuild := openT(t, dir)
	if n, _ := x.Count(); rebuild || n != 3 {
		t.Errorf("clean reopen: rebuild %v, count %d; want false, 3", rebuild, n)
	}
	// Simulate a crash: the clean marker was removed by Open and the index
	// is never closed through Close.
	if err := x.idx.Close(); err != nil {
		t.Fatal(err)
	}
	x, rebuild = openT(t, dir)
	defer x.Close()
	if n, _ := x.Count(); !rebuild || n != 0 {
		t.Errorf("reopen after crash: rebuild %v, count %d; want true, 0", rebuild, n)
	}
}

func TestOpenRefusesForeignDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Open(dir); err == nil {
		t.Fatal("Open over a non-index directory should fail")
	}
	if _, err := os.Stat(filepath.Join(dir, "precious.txt")); err != nil {
		t.Errorf("foreign file was removed: %v", err)
	}
}

func TestStripHTML(t *testing.T) {
	t.Parallel()
	got := StripHTML(`<ol><li><a href="#t1">10:00</a> <b>Alice</b>: hello&amp;bye</li><li>second</li></ol><script>var x=1;</script><style>p{}</style>end`)
	want := "10:00 Alice: hello&bye second end"
	if got != want {
		t.Errorf("StripHTML = %q, want %q", got, want)
	}
}

func TestPutBatchAddsAndReplaces(t *testing.T) {
	t.Parallel()
	x, _ := openT(t, filepath.Join(t.TempDir(), "index"))
	defer x.Close()
	ctx := context.Background()
	if err := x.Put(Doc{ID: "1", Title: "Day one", Text: "the platypus swims"}); err != nil {
		t.Fatal(err)
	}
	batch := []Doc{
		{ID: "1", Title: "Day one", Text: "the echidna digs"}, // replaces
		{ID: "2", Title: "Day two", Text: "the echidna sleeps"},
	}
	if err := x.PutBatch(batch); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string]string{"platypus": "", "echidna": "1,2", "sleeps": "2"} {
		hits, err := x.Search(ctx, q, 10, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := ids(hits)
		slices.Sort(got)
		if strings.Join(got, ",") != want {
			t.Errorf("search %q found %v, want %q", q, got, want)
		}
	}
}
