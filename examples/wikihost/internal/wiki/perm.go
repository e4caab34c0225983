package wiki

import (
	"errors"
	"fmt"
	"slices"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
)

// CanView reports whether userID may view pageID: the user is on the view
// list of the page and of each of its ancestors (or the list is empty). An
// unknown user or page is a plain false.
func (w *Wiki) CanView(userID, pageID string) (bool, error) {
	_, p, ok, err := w.lookup(userID, pageID)
	if !ok || err != nil {
		return false, err
	}
	return w.viewable(userID, p)
}

// CanEdit reports whether userID may edit pageID: view permission and a
// place on the page's own edit list (or an empty list).
func (w *Wiki) CanEdit(userID, pageID string) (bool, error) {
	_, p, ok, err := w.lookup(userID, pageID)
	if !ok || err != nil {
		return false, err
	}
	return w.editable(userID, p)
}

// CanModerate reports whether userID may moderate the chat on pageID:
// admins who may view the page.
func (w *Wiki) CanModerate(userID, pageID string) (bool, error) {
	u, p, ok, err := w.lookup(userID, pageID)
	if !ok || err != nil || !u.Admin {
		return false, err
	}
	return w.viewable(userID, p)
}

// CanManage reports whether userID may change p's permission lists: an
// admin or the page's author.
func (w *Wiki) CanManage(userID string, p store.Page) (bool, error) {
	if userID == "" {
		return false, nil
	}
	if p.Author == userID {
		return true, nil
	}
	u, err := w.store.User(userID)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil && u.Admin, err
}

// lookup loads a user and a page, reporting ok false if either is unknown.
func (w *Wiki) lookup(userID, pageID string) (store.User, store.Page, bool, error) {
	if userID == "" || pageID == "" {
		return store.User{}, store.Page{}, false, nil
	}
	u, err := w.store.User(userID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, store.Page{}, false, nil
	}
	if err != nil {
		return store.User{}, store.Page{}, false, err
	}
	p, err := w.store.PageMeta(pageID)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, store.Page{}, false, nil
	}
	if err != nil {
		return store.User{}, store.Page{}, false, err
	}
	return u, p, true, nil
}

// viewable walks from p up to the top-level page, checking each view list.
func (w *Wiki) viewable(userID string, p store.Page) (bool, error) {
	for depth := 0; ; depth++ {
		if !listed(p.View, userID) {
			return false, nil
		}
		if p.ParentID == "" {
			return true, nil
		}
		if depth == maxDepth {
			return false, fmt.Errorf("page %s: parent chain deeper than %d", p.ID, maxDepth)
		}
		var err error
		if p, err = w.store.PageMeta(p.ParentID); err != nil {
			return false, fmt.Errorf("parent of page %s: %w", p.ID, err)
		}
	}
}

func (w *Wiki) editable(userID string, p store.Page) (bool, error) {
	if !listed(p.Edit, userID) {
		return false, nil
	}
	return w.viewable(userID, p)
}

// listed reports whether userID is allowed by a permission list, where an
// empty list allows every user.
func listed(list []string, userID string) bool {
	return len(list) == 0 || slices.Contains(list, userID)
}
