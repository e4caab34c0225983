package pgstore

import (
	"context"
	"fmt"
	"html/template"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Hit is one search result.
type Hit struct {
	ID    string
	Title string
	// Snippet is an excerpt of the page's text around the matches, and
	// SnippetHTML the same, escaped, with the matched words in <mark>.
	Snippet     string
	SnippetHTML template.HTML
	// Chat says the chat plugin wrote the page (it has a child key).
	Chat bool
}

// Search limits, the same as the bleve index's (package search) so that
// both answer alike. The caller bounds the query's length.
const (
	// pageSize is how many matches are fetched at a time while filtering
	// by permission.
	pageSize = 50
	// maxScanned bounds the matches looked at for one search, so a user
	// who may view few pages cannot make a search walk every match.
	maxScanned = 1000
)

// markStart and markEnd delimit the matched words in ts_headline's output.
// ts_headline does not escape HTML, so the snippet is escaped here and the
// markers, private-use characters that searchTextOf removes from every
// page's text, become <mark> and </mark> after that.
const (
	markStart = "\ue000"
	markEnd   = "\ue001"
)

// headlineOptions shape the snippet: one fragment around the matches, of
// about the length the bleve highlighter gives.
const headlineOptions = `StartSel=` + markStart + `, StopSel=` + markEnd + `, MaxWords=35, MinWords=15, MaxFragments=1, FragmentDelimiter=" … "`

// Search returns up to limit pages matching q, best first, skipping those
// for which allow returns false. q is read as a web search
// (websearch_to_tsquery: words, "quoted phrases", or, -not); every word
// must occur in the title or the text, and title matches rank higher.
// Snippets come from ts_headline, for the pages returned only.
func (s *Store) Search(ctx context.Context, q string, limit int, allow func(id string) bool) ([]Hit, error) {
	if limit <= 0 || strings.TrimSpace(q) == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	var hits []Hit
	var ids []int64
	for offset := 0; offset < maxScanned && len(hits) < limit; offset += pageSize {
		rows, err := s.pool.Query(ctx, `SELECT id, title, child_key IS NOT NULL
			FROM wiki_pages, websearch_to_tsquery('english', $1) AS q
			WHERE search @@ q
			ORDER BY ts_rank(search, q) DESC, id
			LIMIT $2 OFFSET $3`, q, pageSize, offset)
		if err != nil {
			return nil, fmt.Errorf("search %q: %w", q, dbErr(err))
		}
		n := 0
		var id int64
		var h Hit
		_, err = pgx.ForEachRow(rows, []any{&id, &h.Title, &h.Chat}, func() error {
			n++
			if len(hits) == limit {
				return nil
			}
			h.ID = formatID(id)
			if allow != nil && !allow(h.ID) {
				return nil
			}
			hits = append(hits, h)
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("search %q: %w", q, dbErr(err))
		}
		if n < pageSize {
			break
		}
	}
	if len(hits) == 0 {
		return nil, nil
	}
	snippets, err := s.headlines(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	for i := range hits {
		hits[i].Snippet, hits[i].SnippetHTML = snippet(snippets[ids[i]])
	}
	return hits, nil
}

// headlines returns the snippet of each page in ids for q, with the
// matched words between markStart and markEnd.
func (s *Store) headlines(ctx context.Context, q string, ids []int64) (map[int64]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, ts_headline('english', search_text, websearch_to_tsquery('english', $1), $3)
		FROM wiki_pages WHERE id = ANY($2)`, q, ids, headlineOptions)
	if err != nil {
		return nil, fmt.Errorf("search snippets: %w", dbErr(err))
	}
	out := make(map[int64]string, len(ids))
	var id int64
	var h string
	_, err = pgx.ForEachRow(rows, []any{&id, &h}, func() error {
		out[id] = h
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("search snippets: %w", dbErr(err))
	}
	return out, nil
}

// snippet turns a headline into plain text and into HTML with the matches
// in <mark>: the text is escaped first, so the marks are the only tags.
func snippet(headline string) (string, template.HTML) {
	headline = strings.TrimSpace(headline)
	plain := strings.NewReplacer(markStart, "", markEnd, "").Replace(headline)
	escaped := template.HTMLEscapeString(headline)
	escaped = strings.NewReplacer(markStart, "<mark>", markEnd, "</mark>").Replace(escaped)
	return plain, template.HTML(escaped)
}
