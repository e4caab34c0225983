package search

import (
	"context"
	"errors"
	"fmt"
	"html"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/mapping"
	htmlhl "github.com/blevesearch/bleve/v2/search/highlight/highlighter/html"
	"github.com/blevesearch/bleve/v2/search/query"
)

// Limits of a search, so one query costs a bounded amount of work.
const (
	// MaxQueryBytes bounds the query text.
	MaxQueryBytes = 500
	// maxQueryTerms bounds the terms of a query after analysis; each is
	// one clause of the query.
	maxQueryTerms = 16
	// pageSize is how many hits are fetched from bleve at a time while
	// filtering by permission.
	pageSize = 50
	// maxScanned bounds the hits looked at for one search, so a user who
	// may view few pages cannot make a search walk the whole index.
	maxScanned = 1000
	// batchSize is how many documents a rebuild indexes per bleve batch.
	batchSize = 200
	// snippetRunes bounds the fallback snippet for a page that matched on
	// its title only.
	snippetRunes = 160
)

const (
	fieldTitle = "title"
	fieldBody  = "body"
	analyzer   = en.AnalyzerName
	// cleanMarker is created in the index directory by Close and removed
	// by Open: if it is missing at Open, the last run did not close the
	// index and it is rebuilt.
	cleanMarker = "wikihost-clean"
	// metaFile is a file every bleve index directory has; Open only
	// deletes a directory that holds one.
	metaFile = "index_meta.json"
)

// ErrQueryTooLong is returned for a query over MaxQueryBytes.
var ErrQueryTooLong = fmt.Errorf("search query is longer than %d bytes", MaxQueryBytes)

// Doc is what the index holds of a page.
type Doc struct {
	ID    string
	Title string
	Text  string // body as plain text (see StripHTML)
}

// Hit is one search result.
type Hit struct {
	ID    string
	Title string
	// SnippetHTML is an excerpt of the body, escaped by bleve's HTML
	// highlighter, with the matched words in <mark>.
	SnippetHTML template.HTML
	// Snippet is the same excerpt as plain text.
	Snippet string
	// Chat says the chat plugin wrote the page (a transcript). The index
	// does not know; package wiki fills it in from the page store, so
	// results can tell a transcript from a page that borrows its title.
	Chat bool
}

// Index is a bleve full-text index of pages. It is safe for concurrent use.
type Index struct {
	idx bleve.Index
	dir string
	// dirty is set when an update failed: the index then lacks something
	// the database has, so Close leaves it marked for a rebuild.
	dirty atomic.Bool
}

// The wiki shares its two cores with the live chat, and bleve analyses a
// batch of documents on four goroutines by default: a batch of transcript
// pages then takes every core at once, and chat messages wait. One
// analysis goroutine leaves room for them. Indexes take the queue when
// they are created, so it is set before any exists.
func init() {
	bleve.Config.SetAnalysisQueueSize(1)
}

// Open opens the index in dir, or creates it. rebuild is true when the
// index is new: it was missing, unreadable, or not closed cleanly, so the
// caller must index every page again (Reindex).
func Open(dir string) (x *Index, rebuild bool, err error) {
	idx, err := bleve.Open(dir)
	switch {
	case err == nil:
		marker := filepath.Join(dir, cleanMarker)
		if _, statErr := os.Stat(marker); statErr == nil {
			if err := os.Remove(marker); err != nil {
				_ = idx.Close()
				return nil, false, fmt.Errorf("open search index: %w", err)
			}
			return &Index{idx: idx, dir: dir}, false, nil
		}
		// Not closed cleanly last time: start over.
		if err := idx.Close(); err != nil {
			return nil, false, fmt.Errorf("close stale search index: %w", err)
		}
	case errors.Is(err, bleve.ErrorIndexPathDoesNotExist):
	default:
		// Unreadable: it is derived data, so start over.
	}
	if err := removeIndex(dir); err != nil {
		return nil, false, err
	}
	idx, err = bleve.New(dir, newMapping())
	if err != nil {
		return nil, false, fmt.Errorf("create search index %s: %w", dir, err)
	}
	return &Index{idx: idx, dir: dir}, true, nil
}

// removeIndex deletes an index directory, but only one that looks like a
// bleve index (or is empty), so a mistyped path never costs other files.
func removeIndex(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("search index %s: %w", dir, err)
	}
	if len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, metaFile)); err != nil {
			return fmt.Errorf("search index %s exists but is not a bleve index; move it away: %w", dir, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove stale search index: %w", err)
	}
	return nil
}

func newMapping() mapping.IndexMapping {
	text := func() *mapping.FieldMapping {
		f := bleve.NewTextFieldMapping()
		f.Analyzer = analyzer
		f.Store = true // for snippets and result titles
		f.IncludeInAll = false
		return f
	}
	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt(fieldTitle, text())
	doc.AddFieldMappingsAt(fieldBody, text())
	m := bleve.NewIndexMapping()
	m.DefaultMapping = doc
	m.DefaultAnalyzer = analyzer
	return m
}

// record is the document bleve stores; its json names are the fields.
type record struct {
	Title string `json:"title"`
	Body  string `json:"body"`
}

// Put adds d to the index or replaces it.
func (x *Index) Put(d Doc) error {
	if err := x.idx.Index(d.ID, record{Title: d.Title, Body: d.Text}); err != nil {
		x.dirty.Store(true)
		return fmt.Errorf("index page %s: %w", d.ID, err)
	}
	return nil
}

// PutBatch adds or replaces docs in one update of the index. One update
// of many pages costs the index far less than as many single ones: each
// update becomes a segment that the index later merges with the others.
func (x *Index) PutBatch(docs []Doc) error {
	b := x.idx.NewBatch()
	for _, d := range docs {
		if err := b.Index(d.ID, record{Title: d.Title, Body: d.Text}); err != nil {
			x.dirty.Store(true)
			return fmt.Errorf("index page %s: %w", d.ID, err)
		}
	}
	if err := x.idx.Batch(b); err != nil {
		x.dirty.Store(true)
		return fmt.Errorf("index batch of %d pages: %w", len(docs), err)
	}
	return nil
}

// Reindex indexes every document that each passes to add, in batches.
func (x *Index) Reindex(each func(add func(Doc) error) error) error {
	docs := make([]Doc, 0, batchSize)
	flush := func() error {
		if len(docs) == 0 {
			return nil
		}
		err := x.PutBatch(docs)
		docs = docs[:0]
		return err
	}
	err := each(func(d Doc) error {
		docs = append(docs, d)
		if len(docs) >= batchSize {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		x.dirty.Store(true)
	}
	return err
}

// Count returns how many documents the index holds.
func (x *Index) Count() (uint64, error) { return x.idx.DocCount() }

// Search returns up to limit pages matching q, best first, skipping those
// for which allow returns false. Every word of q (after stemming and stop
// words) must occur in the title or the body; title matches rank higher.
func (x *Index) Search(ctx context.Context, q string, limit int, allow func(id string) bool) ([]Hit, error) {
	if len(q) > MaxQueryBytes {
		return nil, ErrQueryTooLong
	}
	bq, err := x.query(q)
	if err != nil || bq == nil || limit <= 0 {
		return nil, err
	}
	var hits []Hit
	for from := 0; from < maxScanned && len(hits) < limit; from += pageSize {
		req := bleve.NewSearchRequestOptions(bq, pageSize, from, false)
		req.Fields = []string{fieldTitle, fieldBody}
		req.Highlight = bleve.NewHighlightWithStyle(htmlhl.Name)
		req.Highlight.AddField(fieldBody)
		res, err := x.idx.SearchInContext(ctx, req)
		if err != nil {
			return nil, fmt.Errorf("search %q: %w", q, err)
		}
		for _, h := range res.Hits {
			if len(hits) == limit {
				break
			}
			if allow != nil && !allow(h.ID) {
				continue
			}
			hits = append(hits, hitOf(h.ID, h.Fields, h.Fragments[fieldBody]))
		}
		if len(res.Hits) < pageSize {
			break
		}
	}
	return hits, nil
}

// query builds the bleve query for q: the text is analysed like the
// indexed fields, and each resulting term must match the title or the
// body. Building term queries from analysed text, rather than one match
// query per word, means a stop word such as "the" is dropped instead of
// making the whole query match nothing. It returns nil for a query without
// terms.
func (x *Index) query(q string) (query.Query, error) {
	an := x.idx.Mapping().AnalyzerNamed(analyzer)
	if an == nil {
		return nil, fmt.Errorf("search analyzer %q is not registered", analyzer)
	}
	seen := map[string]bool{}
	var must []query.Query
	for _, tok := range an.Analyze([]byte(q)) {
		term := string(tok.Term)
		if seen[term] {
			continue
		}
		seen[term] = true
		if len(must) == maxQueryTerms {
			break
		}
		title := bleve.NewTermQuery(term)
		title.SetField(fieldTitle)
		title.SetBoost(3)
		body := bleve.NewTermQuery(term)
		body.SetField(fieldBody)
		must = append(must, bleve.NewDisjunctionQuery(title, body))
	}
	if len(must) == 0 {
		return nil, nil
	}
	return bleve.NewConjunctionQuery(must...), nil
}

func hitOf(id string, fields map[string]any, fragments []string) Hit {
	h := Hit{ID: id}
	h.Title, _ = fields[fieldTitle].(string)
	if len(fragments) > 0 {
		// bleve's HTML formatter escapes the text and adds only <mark>
		// and </mark>, so the fragment is safe HTML, and removing those
		// two tags and unescaping gives the plain text back.
		frag := fragments[0]
		h.SnippetHTML = template.HTML(frag)
		h.Snippet = plain(frag)
		return h
	}
	body, _ := fields[fieldBody].(string)
	h.Snippet = leading(body, snippetRunes)
	h.SnippetHTML = template.HTML(template.HTMLEscapeString(h.Snippet))
	return h
}

// plain turns a highlighted fragment back into plain text.
func plain(frag string) string {
	frag = strings.NewReplacer("<mark>", "", "</mark>", "").Replace(frag)
	return strings.TrimSpace(html.UnescapeString(frag))
}

// leading returns the first n runes of s, with "…" if it was cut.
func leading(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n])) + "…"
}

// MarkDirty records that the index may lack something the database has,
// so Close leaves it for a rebuild. The wiki calls it on an index it takes
// out of service after a panic, which Put cannot see.
func (x *Index) MarkDirty() { x.dirty.Store(true) }

// Close closes the index and, unless an update failed, marks it closed
// cleanly so that the next Open keeps it.
func (x *Index) Close() error {
	if err := x.idx.Close(); err != nil {
		return fmt.Errorf("close search index: %w", err)
	}
	if x.dirty.Load() {
		return nil
	}
	if err := os.WriteFile(filepath.Join(x.dir, cleanMarker), nil, 0o600); err != nil {
		return fmt.Errorf("mark search index closed: %w", err)
	}
	return nil
}
