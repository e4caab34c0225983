package store

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	bolt "go.etcd.io/bbolt"
)

// TitleKey is the form titles are compared in: lower case, white space
// trimmed and runs of it folded to one space, so "Team  room" and "team
// room" are the same page.
func TitleKey(title string) string {
	return strings.ToLower(strings.Join(strings.Fields(title), " "))
}

// CreatePage stores p as a new page with a fresh id and returns it. Its
// parent, if any, must exist. Titles need not be unique: a refused title
// would tell that some page, perhaps one the user may not view, holds it.
// A page with a ChildKey (the chat plugin's) is not in the title index:
// see UpsertChild.
func (s *Store) CreatePage(p Page) (Page, error) {
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		p, err = createPage(tx, p)
		return err
	})
	if err != nil {
		return Page{}, err
	}
	return p, nil
}

func createPage(tx *bolt.Tx, p Page) (Page, error) {
	pages := tx.Bucket(bucketPages)
	if p.ParentID != "" && pages.Get([]byte(p.ParentID)) == nil {
		return Page{}, fmt.Errorf("parent page %q: %w", p.ParentID, ErrNotFound)
	}
	seq, err := pages.NextSequence()
	if err != nil {
		return Page{}, fmt.Errorf("next page id: %w", err)
	}
	p.ID = strconv.FormatUint(seq, 10)
	if err := writePage(tx, p); err != nil {
		return Page{}, err
	}
	if p.ChildKey == "" {
		if err := tx.Bucket(bucketTitles).Put(pair(TitleKey(p.Title), p.ID), nil); err != nil {
			return Page{}, err
		}
	}
	// Top-level pages are indexed as children of "", which lists them.
	if err := tx.Bucket(bucketChildren).Put(pair(p.ParentID, p.ID), nil); err != nil {
		return Page{}, err
	}
	if p.ChildKey != "" {
		if err := tx.Bucket(bucketChildKeys).Put(pair(p.ParentID, p.ChildKey), []byte(p.ID)); err != nil {
			return Page{}, err
		}
	}
	return p, nil
}

// writePage stores a page's record and body.
func writePage(tx *bolt.Tx, p Page) error {
	if err := putJSON(tx.Bucket(bucketPages), p.ID, p); err != nil {
		return err
	}
	return tx.Bucket(bucketBodies).Put([]byte(p.ID), []byte(p.Body))
}

func readPage(tx *bolt.Tx, id string, withBody bool) (Page, error) {
	var p Page
	if err := getJSON(tx.Bucket(bucketPages), id, &p); err != nil {
		return Page{}, fmt.Errorf("page %q: %w", id, err)
	}
	if withBody {
		p.Body = string(tx.Bucket(bucketBodies).Get([]byte(id)))
	}
	return p, nil
}

// Page returns the page with id, body included.
func (s *Store) Page(id string) (Page, error) {
	var p Page
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		p, err = readPage(tx, id, true)
		return err
	})
	return p, err
}

// PageMeta returns the page with id without its body: the cheap read that
// permission checks make on every chat call.
func (s *Store) PageMeta(id string) (Page, error) {
	p, err := cachedRead(s, &s.pages, id, func() (Page, error) {
		var p Page
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			p, err = readPage(tx, id, false)
			return err
		})
		return p, err
	})
	if err != nil {
		return Page{}, err
	}
	// The cached copy stays as read whatever the caller does with these.
	p.View, p.Edit = slices.Clone(p.View), slices.Clone(p.Edit)
	return p, nil
}

// PagesByTitle returns the pages people wrote whose title matches title
// as TitleKey compares them, without bodies, oldest first; none is
// ErrNotFound. Pages the chat plugin wrote are never found by title (see
// UpsertChild). Titles are not unique, so the caller chooses among them,
// and must show each reader only the pages they may view.
func (s *Store) PagesByTitle(title string) ([]Page, error) {
	var out []Page
	err := s.db.View(func(tx *bolt.Tx) error {
		return eachPair(tx.Bucket(bucketTitles), TitleKey(title), func(id string, _ []byte) error {
			p, err := readPage(tx, id, false)
			if err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("page titled %q: %w", title, ErrNotFound)
	}
	sortOldestFirst(out)
	return out, nil
}

// sortOldestFirst orders pages by id. Indexes are in byte order, where
// "10" sorts before "9"; ids are decimal sequence numbers, so the shorter
// one is older.
func sortOldestFirst(pages []Page) {
	slices.SortFunc(pages, func(a, b Page) int {
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), cmp.Compare(a.ID, b.ID))
	})
}

// Children returns the child pages of parentID without bodies, oldest
// first; Children("") returns the top-level pages.
func (s *Store) Children(parentID string) ([]Page, error) {
	var out []Page
	err := s.db.View(func(tx *bolt.Tx) error {
		return eachPair(tx.Bucket(bucketChildren), parentID, func(childID string, _ []byte) error {
			p, err := readPage(tx, childID, false)
			if err != nil {
				return err
			}
			out = append(out, p)
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	sortOldestFirst(out)
	return out, nil
}

// UpdatePage applies fn to the page with id (body included) and stores the
// result. fn may change the title, body, permissions and Updated; the id,
// parent, child key and format are kept. An error from fn changes
// nothing.
func (s *Store) UpdatePage(id string, fn func(*Page) error) (Page, error) {
	var out Page
	err := s.update(func(tx *bolt.Tx) error {
		old, err := readPage(tx, id, true)
		if err != nil {
			return err
		}
		p := old
		p.View = append([]string(nil), old.View...)
		p.Edit = append([]string(nil), old.Edit...)
		if err := fn(&p); err != nil {
			return err
		}
		p.ID, p.ParentID, p.ChildKey, p.Format = old.ID, old.ParentID, old.ChildKey, old.Format
		if err := retitle(tx, old, p.Title); err != nil {
			return err
		}
		out = p
		return writePage(tx, p)
	})
	if err != nil {
		return Page{}, err
	}
	return out, nil
}

// retitle moves page old's title index entry to title. Keyed pages have
// none.
func retitle(tx *bolt.Tx, old Page, title string) error {
	oldKey, newKey := TitleKey(old.Title), TitleKey(title)
	if oldKey == newKey || old.ChildKey != "" {
		return nil
	}
	titles := tx.Bucket(bucketTitles)
	if err := titles.Delete(pair(oldKey, old.ID)); err != nil {
		return err
	}
	return titles.Put(pair(newKey, old.ID), nil)
}

// UpsertChild creates or updates the child of p.ParentID with p.ChildKey:
// the same key always updates the same page, so the chat plugin's retries
// never create duplicates. On update only the title, body and Updated
// change; permissions and authorship stay.
//
// A keyed page is identified by its parent and key alone and keeps the
// exact title the plugin gave it. It takes no place in the title index,
// which holds the pages people write and serves wiki links: a link to a
// transcript's title must not find a page anyone could have created
// first under the same title, nor the other way round. A person may
// create a page with a keyed page's title as with any title; the wiki
// marks keyed pages wherever it shows them, so such a page cannot pass
// for one.
func (s *Store) UpsertChild(p Page) (page Page, created bool, err error) {
	if p.ChildKey == "" {
		return Page{}, false, errors.New("a child page needs a key")
	}
	err = s.update(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketPages).Get([]byte(p.ParentID)) == nil {
			return fmt.Errorf("parent page %q: %w", p.ParentID, ErrNotFound)
		}
		existingID := tx.Bucket(bucketChildKeys).Get(pair(p.ParentID, p.ChildKey))
		if existingID == nil {
			var err error
			page, err = createPage(tx, p)
			created = true
			return err
		}
		old, err := readPage(tx, string(existingID), false)
		if err != nil {
			return err
		}
		old.Title, old.Body, old.Updated = p.Title, p.Body, p.Updated
		page = old
		return writePage(tx, old)
	})
	if err != nil {
		return Page{}, false, err
	}
	return page, created, nil
}

// titleIndexVersion is the shape of bucketTitles: one "<title key>\0<id>"
// entry per page people wrote.
const titleIndexVersion = "2"

// migrateTitles builds the title index from the pages once per database
// and drops the one-id-per-title index of earlier versions, which also
// held keyed pages' titles in versions before those. Rebuilding from the
// pages rather than converting the old index makes any such old entry
// irrelevant.
func migrateTitles(tx *bolt.Tx) error {
	meta := tx.Bucket(bucketMeta)
	if string(meta.Get(metaTitleIndex)) == titleIndexVersion {
		return nil
	}
	titles := tx.Bucket(bucketTitles)
	err := tx.Bucket(bucketPages).ForEach(func(k, v []byte) error {
		var p Page
		if err := json.Unmarshal(v, &p); err != nil {
			return fmt.Errorf("decode page %q: %w", k, err)
		}
		if p.ChildKey != "" {
			return nil
		}
		return titles.Put(pair(TitleKey(p.Title), p.ID), nil)
	})
	if err != nil {
		return fmt.Errorf("build the title index: %w", err)
	}
	if tx.Bucket(bucketOldTitles) != nil {
		if err := tx.DeleteBucket(bucketOldTitles); err != nil {
			return fmt.Errorf("drop the old title index: %w", err)
		}
	}
	return meta.Put(metaTitleIndex, []byte(titleIndexVersion))
}

// EachPage calls fn for every page, body included, in id order. fn must
// not call back into the Store: it runs inside a read transaction.
func (s *Store) EachPage(fn func(Page) error) error {
	return s.db.View(func(tx *bolt.Tx) error {
		bodies := tx.Bucket(bucketBodies)
		return tx.Bucket(bucketPages).ForEach(func(k, v []byte) error {
			var p Page
			if err := json.Unmarshal(v, &p); err != nil {
				return fmt.Errorf("decode page %q: %w", k, err)
			}
			p.Body = string(bodies.Get(k))
			return fn(p)
		})
	})
}
