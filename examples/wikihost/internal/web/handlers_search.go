package web

import (
	"net/http"
	"strconv"

	"github.com/pagechat/pagechat/examples/wikihost/internal/search"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// searchPage is the data of templates/search.html.
type searchPage struct {
	base
	Hits     []search.Hit
	Searched bool
}

func (s *Server) handleSearch(w http.ResponseWriter, r *http.Request, u store.User) error {
	q := r.URL.Query().Get("q")
	v := searchPage{base: s.base("Search", &u)}
	v.Query = q
	if q != "" {
		hits, err := s.wiki.Search(r.Context(), u.ID, q, defaultSearchResults)
		if err != nil {
			return err
		}
		v.Hits, v.Searched = hits, true
	}
	s.render(w, http.StatusOK, "search.html", v)
	return nil
}

// searchResult is one result of GET /api/search.
type searchResult struct {
	ID      string `json:"id"`
	Title   string `json:"title"`
	URL     string `json:"url"`
	Snippet string `json:"snippet"`
	// Chat marks a page the chat plugin wrote (a transcript), which a
	// page written by a person with the same title cannot imitate.
	Chat bool `json:"chat"`
}

// apiSearch answers GET /api/search?q=…[&limit=N] with
// {"results":[{"id","title","url","snippet","chat"}]}, best first, only pages the
// user may view.
func (s *Server) apiSearch(w http.ResponseWriter, r *http.Request, u store.User) error {
	q := r.URL.Query()
	limit := defaultSearchResults
	if l := q.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > wiki.MaxSearchResults {
			return badRequest("limit must be a number from 1 to " + strconv.Itoa(wiki.MaxSearchResults))
		}
		limit = n
	}
	hits, err := s.wiki.Search(r.Context(), u.ID, q.Get("q"), limit)
	if err != nil {
		return err
	}
	out := struct {
		Results []searchResult `json:"results"`
	}{Results: make([]searchResult, 0, len(hits))}
	for _, h := range hits {
		out.Results = append(out.Results, searchResult{ID: h.ID, Title: h.Title, URL: wiki.PageURL(h.ID), Snippet: h.Snippet, Chat: h.Chat})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
