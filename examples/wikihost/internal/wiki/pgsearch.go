package wiki

import (
	"context"

	"github.com/pagechat/pagechat/examples/wikihost/internal/search"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store/pgstore"
)

// pgIndex is the search of a wiki on PostgreSQL. There is nothing to
// index: the store writes each page's searchable text in the same
// statement as the page, so every node finds a page the moment any node
// stored it, and nothing needs rebuilding after a crash. Search is
// PostgreSQL's full-text search, filtered by permission like bleve's.
type pgIndex struct {
	pg *pgstore.Store
}

var _ pageIndex = pgIndex{}

// Put does nothing: the store indexed the page when it wrote it.
func (pgIndex) Put(search.Doc) error { return nil }

// PutBatch does nothing, like Put.
func (pgIndex) PutBatch([]search.Doc) error { return nil }

// Close does nothing: the store owns the connections.
func (pgIndex) Close() error { return nil }

// Search runs q as a web search (words, "phrases", or, -word) in
// PostgreSQL, with the same query limit as the bleve index.
func (x pgIndex) Search(ctx context.Context, q string, limit int, allow func(id string) bool) ([]search.Hit, error) {
	if len(q) > search.MaxQueryBytes {
		return nil, search.ErrQueryTooLong
	}
	found, err := x.pg.Search(ctx, q, limit, allow)
	if err != nil {
		return nil, err
	}
	hits := make([]search.Hit, len(found))
	for i, h := range found {
		hits[i] = search.Hit{ID: h.ID, Title: h.Title, Snippet: h.Snippet, SnippetHTML: h.SnippetHTML, Chat: h.Chat}
	}
	return hits, nil
}
