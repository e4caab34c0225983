package web

import (
	"errors"
	"html/template"
	"net/http"
	"slices"
	"strings"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// indexPage is the data of templates/index.html.
type indexPage struct {
	base
	Pages []store.Page
}

// handleIndex lists the top-level pages the user may view.
func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request, u store.User) error {
	pages, err := s.wiki.Children(u.ID, "")
	if err != nil {
		return err
	}
	// Titles are not unique; pages with the same one keep their oldest-first
	// order from Children, so the list does not shuffle between loads.
	slices.SortStableFunc(pages, func(a, b store.Page) int { return strings.Compare(store.TitleKey(a.Title), store.TitleKey(b.Title)) })
	s.render(w, http.StatusOK, "index.html", indexPage{base: s.base("All pages", &u), Pages: pages})
	return nil
}

// pageView is the data of templates/page.html.
type pageView struct {
	base
	Page       store.Page
	Body       template.HTML
	Parent     *store.Page // nil for a top-level page or one the user may not view
	Children   []store.Page
	Files      []store.File
	CanEdit    bool
	CanManage  bool
	Transcript bool // written by the chat plugin
}

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request, u store.User) error {
	id := r.PathValue("id")
	p, err := s.wiki.Page(u.ID, id)
	if err != nil {
		return err
	}
	v := pageView{base: s.base(p.Title, &u), Page: p, Transcript: p.Format == store.FormatHTML}
	if p.ParentID != "" {
		if parent, err := s.wiki.Page(u.ID, p.ParentID); err == nil {
			parent.Body = ""
			v.Parent = &parent
		}
	}
	if v.Children, err = s.wiki.Children(u.ID, id); err != nil {
		return err
	}
	if v.Files, err = s.wiki.Files(u.ID, id); err != nil {
		return err
	}
	if v.CanEdit, err = s.wiki.CanEdit(u.ID, id); err != nil {
		return err
	}
	if v.CanManage, err = s.wiki.CanManage(u.ID, p); err != nil {
		return err
	}
	v.Body = s.renderBody(r.Context(), u.ID, p)
	s.render(w, http.StatusOK, "page.html", v)
	return nil
}

// editPage is the data of templates/edit.html, for new and existing pages.
type editPage struct {
	base
	New         bool
	ID          string
	ParentID    string
	ParentTitle string
	PageTitle   string
	Body        string
	CanManage   bool
	View, Edit  string // permission lists, comma-separated
	Error       string
}

func (s *Server) handleNewPageForm(w http.ResponseWriter, r *http.Request, u store.User) error {
	q := r.URL.Query()
	v := editPage{base: s.base("New page", &u), New: true, PageTitle: q.Get("title"), ParentID: q.Get("parent")}
	if v.ParentID != "" {
		parent, err := s.wiki.Page(u.ID, v.ParentID)
		if err != nil {
			return err
		}
		v.ParentTitle = parent.Title
	}
	s.render(w, http.StatusOK, "edit.html", v)
	return nil
}

func (s *Server) handleCreatePage(w http.ResponseWriter, r *http.Request, u store.User) error {
	if err := s.newPages.allow(u.ID); err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	in := wiki.PageInput{Title: r.PostForm.Get("title"), Body: r.PostForm.Get("body"), ParentID: r.PostForm.Get("parent_id")}
	p, err := s.wiki.CreatePage(u.ID, in)
	if err != nil {
		return s.formError(w, u, editPage{New: true, PageTitle: in.Title, Body: in.Body, ParentID: in.ParentID}, err)
	}
	http.Redirect(w, r, wiki.PageURL(p.ID), http.StatusSeeOther)
	return nil
}

func (s *Server) handleEditForm(w http.ResponseWriter, r *http.Request, u store.User) error {
	p, err := s.editable(u, r.PathValue("id"))
	if err != nil {
		return err
	}
	manage, err := s.wiki.CanManage(u.ID, p)
	if err != nil {
		return err
	}
	s.render(w, http.StatusOK, "edit.html", editPage{
		base: s.base("Edit "+p.Title, &u), ID: p.ID, PageTitle: p.Title, Body: p.Body,
		CanManage: manage, View: strings.Join(p.View, ", "), Edit: strings.Join(p.Edit, ", "),
	})
	return nil
}

// editable returns page id if u may edit it through the form.
func (s *Server) editable(u store.User, id string) (store.Page, error) {
	p, err := s.wiki.Page(u.ID, id)
	if err != nil {
		return store.Page{}, err
	}
	if p.Format != store.FormatWiki {
		return store.Page{}, &httpError{http.StatusConflict, "conflict", "This page is a chat transcript, written by the chat plugin; it cannot be edited."}
	}
	ok, err := s.wiki.CanEdit(u.ID, id)
	if err != nil {
		return store.Page{}, err
	}
	if !ok {
		return store.Page{}, &httpError{http.StatusForbidden, "forbidden", "You may not edit this page."}
	}
	return p, nil
}

func (s *Server) handleUpdatePage(w http.ResponseWriter, r *http.Request, u store.User) error {
	id := r.PathValue("id")
	p, err := s.editable(u, id)
	if err != nil {
		return err
	}
	if err := parseForm(w, r); err != nil {
		return err
	}
	form := editPage{
		ID: id, PageTitle: r.PostForm.Get("title"), Body: r.PostForm.Get("body"),
		View: r.PostForm.Get("view"), Edit: r.PostForm.Get("edit"),
	}
	if form.CanManage, err = s.wiki.CanManage(u.ID, p); err != nil {
		return err
	}
	// Permissions first: an unknown user in a list is the likelier
	// mistake, and then nothing is saved.
	view, edit := splitList(form.View), splitList(form.Edit)
	if form.CanManage && r.PostForm.Has("view") && (!slices.Equal(view, p.View) || !slices.Equal(edit, p.Edit)) {
		if _, err := s.wiki.SetPermissions(u.ID, id, view, edit); err != nil {
			return s.formError(w, u, form, err)
		}
	}
	if _, err := s.wiki.UpdatePage(u.ID, id, wiki.PageInput{Title: form.PageTitle, Body: form.Body}); err != nil {
		return s.formError(w, u, form, err)
	}
	http.Redirect(w, r, wiki.PageURL(id), http.StatusSeeOther)
	return nil
}

// formError shows the form again with the error for mistakes a user can
// fix there, and returns other errors for the error page.
func (s *Server) formError(w http.ResponseWriter, u store.User, form editPage, err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err // the form was not read, so there is nothing to show again
	}
	status, _, msg := classify(err)
	switch status {
	case http.StatusBadRequest, http.StatusConflict, http.StatusRequestEntityTooLarge:
	default:
		return err
	}
	form.base = s.base("Edit page", &u)
	form.Error = msg
	s.render(w, status, "edit.html", form)
	return nil
}

// parseForm reads a form post of at most maxFormBytes.
func parseForm(w http.ResponseWriter, r *http.Request) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return tooBig
		}
		return badRequest("could not read the form: " + err.Error())
	}
	return nil
}

// splitList splits a permission list typed as "alice, bob carol".
func splitList(s string) []string {
	out := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	for i, n := range out {
		out[i] = wiki.NormalizeUserID(n)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
