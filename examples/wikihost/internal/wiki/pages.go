package wiki

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pagechat/pagechat/examples/wikihost/internal/search"
	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// MaxSearchResults bounds one search's results.
const MaxSearchResults = 50

// PageInput is what a user writes to create or change a page.
type PageInput struct {
	Title    string
	Body     string // wiki markup
	ParentID string // only read on create; empty for a top-level page
}

// checkTitle validates a page title. "[", "]" and "|" are refused because
// a wiki link could not name such a page.
func checkTitle(title string) error {
	if err := checkText("title", title, MaxTitleBytes); err != nil {
		return err
	}
	if strings.ContainsAny(title, "[]|") {
		return fmt.Errorf("%w: title must not contain [, ] or |", ErrInvalid)
	}
	return nil
}

func checkBody(body string, maxBytes int) error {
	if len(body) > maxBytes {
		return fmt.Errorf("%w: page body is %d bytes, more than the limit of %d", ErrTooLarge, len(body), maxBytes)
	}
	if !utf8.ValidString(body) {
		return fmt.Errorf("%w: page body is not valid UTF-8", ErrInvalid)
	}
	return nil
}

// CreatePage creates a wiki page written by userID. A child page needs
// edit permission on its parent.
func (w *Wiki) CreatePage(userID string, in PageInput) (store.Page, error) {
	title := strings.TrimSpace(in.Title)
	if err := checkTitle(title); err != nil {
		return store.Page{}, err
	}
	if err := checkBody(in.Body, MaxBodyBytes); err != nil {
		return store.Page{}, err
	}
	if _, err := w.store.User(userID); err != nil {
		return store.Page{}, fmt.Errorf("%w: unknown user %q", ErrForbidden, userID)
	}
	if in.ParentID != "" {
		noParent := fmt.Errorf("%w: parent page %q does not exist", ErrInvalid, in.ParentID)
		if _, err := w.store.PageMeta(in.ParentID); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return store.Page{}, noParent
			}
			return store.Page{}, err
		}
		// A parent the user may not view is answered as a missing one, so
		// that guessing ids does not reveal which pages exist (finding #10).
		ok, err := w.CanView(userID, in.ParentID)
		if err != nil {
			return store.Page{}, err
		}
		if !ok {
			return store.Page{}, noParent
		}
		ok, err = w.CanEdit(userID, in.ParentID)
		if err != nil {
			return store.Page{}, err
		}
		if !ok {
			return store.Page{}, fmt.Errorf("%w: you may not add pages under page %s", ErrForbidden, in.ParentID)
		}
	}
	now := w.now().UTC()
	p, err := w.store.CreatePage(store.Page{
		Title: title, Body: in.Body, Format: store.FormatWiki, ParentID: in.ParentID,
		Author: userID, Created: now, Updated: now,
	})
	if err != nil {
		return store.Page{}, storeErr(err)
	}
	w.reindex(p)
	w.log.Info("page created", "page", p.ID, "title", p.Title, "user", userID)
	return p, nil
}

// UpdatePage changes the title and body of a page userID may edit. Pages
// the chat plugin writes (transcripts) cannot be edited: the plugin would
// overwrite the change, and their HTML must come from the plugin alone.
func (w *Wiki) UpdatePage(userID, id string, in PageInput) (store.Page, error) {
	title := strings.TrimSpace(in.Title)
	if err := checkTitle(title); err != nil {
		return store.Page{}, err
	}
	if err := checkBody(in.Body, MaxBodyBytes); err != nil {
		return store.Page{}, err
	}
	if err := w.require(w.CanEdit, userID, id, "edit"); err != nil {
		return store.Page{}, err
	}
	p, err := w.store.UpdatePage(id, func(p *store.Page) error {
		if p.Format != store.FormatWiki {
			return fmt.Errorf("%w: page %s is written by the chat plugin and cannot be edited", ErrConflict, id)
		}
		p.Title, p.Body, p.Updated = title, in.Body, w.now().UTC()
		return nil
	})
	if err != nil {
		return store.Page{}, storeErr(err)
	}
	w.reindex(p)
	w.log.Info("page updated", "page", p.ID, "user", userID)
	return p, nil
}

// require returns ErrNoSuchPage for an unknown page and, identically, for
// one userID may not view, and ErrForbidden unless check allows userID on
// it. So a refusal to edit is only ever told to someone who may view the
// page, and no answer tells a page that exists from one that does not.
func (w *Wiki) require(check func(userID, pageID string) (bool, error), userID, pageID, what string) error {
	if _, err := w.store.PageMeta(pageID); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrNoSuchPage
		}
		return err
	}
	visible, err := w.CanView(userID, pageID)
	if err != nil {
		return err
	}
	if !visible {
		return ErrNoSuchPage
	}
	ok, err := check(userID, pageID)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: you may not %s page %s", ErrForbidden, what, pageID)
	}
	return nil
}

// Page returns a page userID may view, body included; any other page is
// ErrNoSuchPage.
func (w *Wiki) Page(userID, id string) (store.Page, error) {
	if err := w.require(w.CanView, userID, id, "view"); err != nil {
		return store.Page{}, err
	}
	return w.store.Page(id)
}

// Children returns the child pages of id that userID may view, oldest
// first; Children(userID, "") returns the top-level pages.
func (w *Wiki) Children(userID, id string) ([]store.Page, error) {
	all, err := w.store.Children(id)
	if err != nil {
		return nil, err
	}
	var out []store.Page
	for _, c := range all {
		ok, err := w.viewable(userID, c)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	return out, nil
}

// Files returns the files attached to a page userID may view.
func (w *Wiki) Files(userID, pageID string) ([]store.File, error) {
	if err := w.require(w.CanView, userID, pageID, "view"); err != nil {
		return nil, err
	}
	return w.store.Files(pageID)
}

// SetPermissions replaces a page's view and edit lists; empty lists allow
// every user. Only an admin or the page's author may do it, and every
// listed user must exist.
func (w *Wiki) SetPermissions(userID, id string, view, edit []string) (store.Page, error) {
	p, err := w.store.PageMeta(id)
	if err != nil {
		return store.Page{}, err
	}
	ok, err := w.CanManage(userID, p)
	if err != nil {
		return store.Page{}, err
	}
	if !ok {
		return store.Page{}, fmt.Errorf("%w: only an admin or the page's author may change its permissions", ErrForbidden)
	}
	if view, err = w.userList(view); err != nil {
		return store.Page{}, err
	}
	if edit, err = w.userList(edit); err != nil {
		return store.Page{}, err
	}
	p, err = w.store.UpdatePage(id, func(p *store.Page) error {
		p.View, p.Edit = view, edit
		return nil
	})
	if err != nil {
		return store.Page{}, err
	}
	w.log.Info("page permissions changed", "page", id, "user", userID, "view", view, "edit", edit)
	return p, nil
}

// userList normalises a permission list: canonical ids, sorted, without
// duplicates, each an existing user.
func (w *Wiki) userList(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		id := NormalizeUserID(n)
		if _, err := w.store.User(id); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil, fmt.Errorf("%w: unknown user %q in permission list", ErrInvalid, n)
			}
			return nil, err
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// PageByTitle returns the page titled title (ignoring case and extra
// white space) that a wiki link on page fromPageID points at for userID,
// without its body. Titles are not unique, so the link is resolved per
// reader, among the pages titled so that userID may view:
//
//  1. a child of fromPageID (a page linking to "Meeting notes" means its
//     own meeting notes),
//  2. else a page with the same parent as fromPageID (its siblings, or the
//     top-level pages if it is one),
//  3. else the oldest.
//
// Within each rule the oldest page wins, so the choice is deterministic.
// When userID may view none of them the answer is ErrNotFound, exactly as
// for a title no page has: a link must not reveal that a page exists.
// fromPageID may be "" or unknown; then only rule 3 applies. Pages the
// chat plugin writes are never found by title.
func (w *Wiki) PageByTitle(userID, fromPageID, title string) (store.Page, error) {
	notFound := fmt.Errorf("page titled %q: %w", title, ErrNotFound)
	candidates, err := w.store.PagesByTitle(title)
	if errors.Is(err, store.ErrNotFound) {
		return store.Page{}, notFound
	}
	if err != nil {
		return store.Page{}, err
	}
	parentOfFrom, haveFrom := "", false
	if fromPageID != "" {
		if from, err := w.store.PageMeta(fromPageID); err == nil {
			parentOfFrom, haveFrom = from.ParentID, true
		}
	}
	rank := func(p store.Page) int {
		switch {
		case haveFrom && p.ParentID == fromPageID:
			return 0
		case haveFrom && p.ParentID == parentOfFrom:
			return 1
		}
		return 2
	}
	var best store.Page
	found := false
	for _, p := range candidates { // oldest first, so ties keep the oldest
		if found && rank(p) >= rank(best) {
			continue
		}
		ok, err := w.CanView(userID, p.ID)
		if err != nil {
			return store.Page{}, err
		}
		if ok {
			best, found = p, true
		}
	}
	if !found {
		return store.Page{}, notFound
	}
	return best, nil
}

// LinkTarget returns the URL a wiki link to title on page fromPageID
// points at for userID, and whether the page exists; a missing page's URL
// is the form that creates it. The page is chosen as PageByTitle does, so
// a page userID may not view is answered exactly as a missing one, and a
// link does not reveal that it exists or its id.
func (w *Wiki) LinkTarget(userID, fromPageID, title string) (href string, exists bool) {
	p, err := w.PageByTitle(userID, fromPageID, title)
	if err != nil {
		if !errors.Is(err, ErrNotFound) {
			w.log.Warn("link lookup failed", "title", title, "error", err)
		}
		return NewPageURL(title), false
	}
	return PageURL(p.ID), true
}

// Search finds up to limit pages matching q that userID may view, with
// the pages the chat plugin wrote marked as such.
func (w *Wiki) Search(ctx context.Context, userID, q string, limit int) ([]search.Hit, error) {
	limit = min(max(limit, 1), MaxSearchResults)
	w.bg.flush() // find the chat's pages too, however recently written
	var lookupErr error
	var hits []search.Hit
	err := w.search.use("search", func(ix pageIndex) error {
		var err error
		hits, err = ix.Search(ctx, q, limit, func(id string) bool {
			ok, err := w.CanView(userID, id)
			if err != nil && lookupErr == nil {
				lookupErr = err
			}
			return ok
		})
		return err
	})
	if errors.Is(err, search.ErrQueryTooLong) {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err != nil {
		return nil, err
	}
	if lookupErr != nil {
		return nil, lookupErr
	}
	for i := range hits {
		p, err := w.store.PageMeta(hits[i].ID)
		if err != nil {
			return nil, err
		}
		// Only UpsertChildPage stores a key, so a person cannot set it.
		hits[i].Chat = p.ChildKey != ""
	}
	return hits, nil
}
