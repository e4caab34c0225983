package web

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// While the search index cannot be built (a full disk, finding #1) the
// wiki serves pages, and search, on the page and in the API, says it is
// unavailable instead of failing with an internal error.
func TestSearchSaysItIsUnavailableWhileItsIndexIsDown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Not a bleve index, so it is never removed and the index cannot be
	// built for the whole test.
	junk := filepath.Join(dir, "index", "not-an-index")
	if err := os.MkdirAll(filepath.Dir(junk), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(junk, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := newTestServerIn(t, dir, Config{})
	id := ts.createPage("alice", "Axolotl notes", "gills", "")
	if rec := ts.do("GET", "/pages/"+id, "alice", nil); rec.Code != http.StatusOK {
		t.Fatalf("page without search: %d", rec.Code)
	}
	rec := ts.do("GET", "/search?q=gills", "alice", nil)
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "search is temporarily unavailable") {
		t.Errorf("search page: %d, body does not say search is unavailable:\n%s", rec.Code, rec.Body)
	}
	if e := decode[apiErr](t, ts.do("GET", "/api/search?q=gills", "alice", nil), http.StatusServiceUnavailable); e.Code != "search_unavailable" {
		t.Errorf("API search error code %q, want search_unavailable", e.Code)
	}
}
