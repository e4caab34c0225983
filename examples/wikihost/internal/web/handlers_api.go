package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/pagechat/pagechat/examples/wikihost/internal/store"
	"github.com/pagechat/pagechat/examples/wikihost/internal/wiki"
)

// The JSON API (docs/architecture.md, "Example wiki"). Every endpoint takes
// HTTP Basic auth or the session cookie.

// apiPageLink is a page as listed in another page's children.
type apiPageLink struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// apiFile is an attachment as listed with its page.
type apiFile struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	URL         string `json:"url"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// apiPage is GET /api/pages/{id}'s answer.
type apiPage struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Body     string        `json:"body"`
	Format   store.Format  `json:"format"` // "wiki", or "html" for chat transcripts
	ParentID string        `json:"parent_id"`
	URL      string        `json:"url"`
	Author   string        `json:"author"` // empty for pages the chat plugin writes
	Created  time.Time     `json:"created"`
	Updated  time.Time     `json:"updated"`
	View     []string      `json:"view"`
	Edit     []string      `json:"edit"`
	Children []apiPageLink `json:"children"`
	Files    []apiFile     `json:"files"`
}

// apiCreatePage answers POST /api/pages {"title","body","parent_id"} with
// 201 {"id","url"}.
func (s *Server) apiCreatePage(w http.ResponseWriter, r *http.Request, u store.User) error {
	var in struct {
		Title    string `json:"title"`
		Body     string `json:"body"`
		ParentID string `json:"parent_id"`
	}
	if err := s.newPages.allow(u.ID); err != nil {
		return err
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	p, err := s.wiki.CreatePage(u.ID, wiki.PageInput{Title: in.Title, Body: in.Body, ParentID: in.ParentID})
	if err != nil {
		return err
	}
	url := wiki.PageURL(p.ID)
	w.Header().Set("Location", url)
	writeJSON(w, http.StatusCreated, map[string]string{"id": p.ID, "url": url})
	return nil
}

// errNoSuchPage is the API's answer for a page that does not exist and,
// identically, for one the user may not view: a different status or body
// would let anyone probe which page ids exist (finding #10).
var errNoSuchPage = &httpError{http.StatusNotFound, "not_found", "no such page"}

// hideForbidden turns "not found" and "forbidden to view" into the same
// errNoSuchPage.
func hideForbidden(err error) error {
	if errors.Is(err, wiki.ErrNotFound) || errors.Is(err, wiki.ErrForbidden) {
		return errNoSuchPage
	}
	return err
}

// apiGetPage answers GET /api/pages/{id} with the page, its source, its
// permission lists, and the children and files the user may see.
func (s *Server) apiGetPage(w http.ResponseWriter, r *http.Request, u store.User) error {
	id := r.PathValue("id")
	p, err := s.wiki.Page(u.ID, id)
	if err != nil {
		return hideForbidden(err)
	}
	children, err := s.wiki.Children(u.ID, id)
	if err != nil {
		return err
	}
	files, err := s.wiki.Files(u.ID, id)
	if err != nil {
		return err
	}
	out := apiPage{
		ID: p.ID, Title: p.Title, Body: p.Body, Format: p.Format, ParentID: p.ParentID, URL: wiki.PageURL(p.ID),
		Author: p.Author, Created: p.Created, Updated: p.Updated,
		View: nonNil(p.View), Edit: nonNil(p.Edit),
		Children: make([]apiPageLink, 0, len(children)), Files: make([]apiFile, 0, len(files)),
	}
	for _, c := range children {
		out.Children = append(out.Children, apiPageLink{ID: c.ID, Title: c.Title, URL: wiki.PageURL(c.ID)})
	}
	for _, f := range files {
		out.Files = append(out.Files, apiFile{ID: f.ID, Name: f.Name, URL: wiki.FileURL(f.ID), ContentType: f.ContentType, Size: f.Size})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// apiSetPermissions answers PUT /api/pages/{id}/permissions
// {"view":[users],"edit":[users]}; an empty or missing list means every
// user. Only an admin or the page's author may do it.
func (s *Server) apiSetPermissions(w http.ResponseWriter, r *http.Request, u store.User) error {
	var in struct {
		View []string `json:"view"`
		Edit []string `json:"edit"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	id := r.PathValue("id")
	p, err := s.wiki.SetPermissions(u.ID, id, in.View, in.Edit)
	if errors.Is(err, wiki.ErrNotFound) {
		return errNoSuchPage
	}
	if errors.Is(err, wiki.ErrForbidden) {
		// Refused: say "forbidden" only to someone who may see the page.
		ok, verr := s.wiki.CanView(u.ID, id)
		if verr != nil {
			return verr
		}
		if !ok {
			return errNoSuchPage
		}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": p.ID, "view": nonNil(p.View), "edit": nonNil(p.Edit)})
	return nil
}

// apiCreateUser answers POST /api/users {"name","password","display_name"}
// (and optionally "admin") with 201 {"id","display_name","admin"}. Only
// admins may create users.
func (s *Server) apiCreateUser(w http.ResponseWriter, r *http.Request, u store.User) error {
	if !u.Admin {
		return fmt.Errorf("%w: only admins may create users", wiki.ErrForbidden)
	}
	var in struct {
		Name        string `json:"name"`
		Password    string `json:"password"`
		DisplayName string `json:"display_name"`
		Admin       bool   `json:"admin"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		return err
	}
	nu, err := s.wiki.CreateUser(wiki.NewUser{Name: in.Name, Password: in.Password, DisplayName: in.DisplayName, Admin: in.Admin})
	if err != nil {
		return err
	}
	s.log.Info("user created through the API", "user", nu.ID, "by", u.ID)
	writeJSON(w, http.StatusCreated, map[string]any{"id": nu.ID, "display_name": nu.DisplayName, "admin": nu.Admin})
	return nil
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
